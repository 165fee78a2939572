#!/usr/bin/env bash
# Install what the ShopLens tests need: Debian's espeak-ng (test voices), chromium (browser tests) and
# the Noto CJK and emoji fonts (so Chinese and the page's icons render in the browser tests and the
# README screenshots), then the Python packages of requirements-dev.txt. Safe to run again; skips
# what is there.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v espeak-ng >/dev/null || missing+=(espeak-ng)
command -v chromium >/dev/null || missing+=(chromium)
for font in fonts-noto-cjk fonts-noto-color-emoji; do
  dpkg-query -W -f='${Status}' "$font" 2>/dev/null | grep -q "ok installed" || missing+=("$font")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ]; then sudo=""; else sudo="sudo"; fi
  echo "installing system packages: ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

python -m pip install --disable-pip-version-check -q -r requirements-dev.txt
