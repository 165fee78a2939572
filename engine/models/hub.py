"""Can model weights be downloaded? Decide in seconds, before a library retries for a minute.

huggingface_hub (open_clip's weights) and Whisper's downloader both retry a failed connection for
tens of seconds. A trade-fair laptop or a locked-down office has no network at all, and the shop
owner should hear so at once. :func:`prepare_downloads` probes each host once with a short timeout;
when the Hugging Face hub is unreachable it switches huggingface_hub to offline mode, so weights
already in the cache still load and missing ones fail immediately.
"""

from __future__ import annotations

import logging
import os
import socket
from dataclasses import dataclass
from urllib.parse import urlparse

log = logging.getLogger(__name__)

PROBE_TIMEOUT_S = 2.5
WHISPER_HOST = "openaipublic.azureedge.net"


@dataclass(frozen=True)
class Reachability:
    hub: bool
    whisper: bool


def reachable(url_or_host: str, timeout: float = PROBE_TIMEOUT_S) -> bool:
    """Whether a TCP connection to the host (port from the URL, else 443) opens within ``timeout``."""
    parsed = urlparse(url_or_host if "://" in url_or_host else f"https://{url_or_host}")
    port = parsed.port or (80 if parsed.scheme == "http" else 443)
    try:
        with socket.create_connection((parsed.hostname or "", port), timeout=timeout):
            return True
    except OSError:
        return False


def hub_endpoint() -> str:
    from huggingface_hub import constants

    return constants.ENDPOINT


def hub_offline() -> bool:
    from huggingface_hub import constants

    return bool(constants.HF_HUB_OFFLINE)


def go_offline() -> None:
    """From now on huggingface_hub uses its local cache only (as if HF_HUB_OFFLINE=1 had been set)."""
    from huggingface_hub import constants

    os.environ["HF_HUB_OFFLINE"] = "1"
    constants.HF_HUB_OFFLINE = True


def prepare_downloads(*, needs_hub: bool, needs_whisper: bool) -> Reachability:
    """Probe the hosts the models would be downloaded from (once, a few seconds at most)."""
    hub = not needs_hub or hub_offline() or reachable(hub_endpoint())
    if not hub and not hub_offline():
        log.warning("the Hugging Face hub (%s) cannot be reached: using cached CLIP weights only", hub_endpoint())
        go_offline()
    whisper = not needs_whisper or reachable(WHISPER_HOST)
    if not whisper:
        log.warning("Whisper's download host (%s) cannot be reached: using a cached Whisper model only", WHISPER_HOST)
    return Reachability(hub, whisper)


def whisper_cached(name: str, cache_dir: str | os.PathLike | None) -> bool:
    """Whether a Whisper model needs no download: a local checkpoint, or a named model already cached."""
    if os.path.isfile(os.path.expanduser(name)):
        return True
    import whisper

    url = whisper._MODELS.get(name)  # noqa: SLF001 - the model list is only exposed this way
    if url is None:
        return True  # an unknown name fails on its own, with the list of valid names
    root = cache_dir or os.path.join(os.getenv("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "whisper")
    return os.path.isfile(os.path.join(root, os.path.basename(url)))
