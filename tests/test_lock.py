"""One writer per data directory: a second indexer is told who holds the index; an app skips, never mixes."""

import os
import subprocess
import sys

import pytest

from engine.catalogue.lock import WriterBusyError, WriterLock
from engine.service import ShopLens
from engine.settings import PROJECT_ROOT

HOLD = """
import sys, time
from engine.catalogue.lock import WriterLock
lock = WriterLock(sys.argv[1], "a test holding the index").acquire()
print("held", flush=True)
sys.stdin.read()  # until the test closes our stdin
lock.release()
"""


@pytest.fixture
def holder(tmp_path):
    """Another process holding the writer lock of ``tmp_path / 'data'`` until the test ends."""
    process = subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path / "data")], cwd=PROJECT_ROOT,
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)  # fmt: skip
    assert process.stdout.readline().strip() == "held"
    yield process
    process.stdin.close()
    process.wait(timeout=30)


def index_command(settings, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "engine.index", "--catalog", str(settings.catalog), "--quiet", *extra],
                          cwd=PROJECT_ROOT, env={**_clean_env(), **_tiny_env(settings)}, capture_output=True, text=True,
                          timeout=300)  # fmt: skip


def test_a_second_indexer_is_told_who_holds_the_index(holder, make_settings, catalogue_path):
    settings = make_settings(catalog=catalogue_path)
    run = index_command(settings)
    assert run.returncode == 2
    assert "a test holding the index" in run.stderr and f"process {holder.pid}" in run.stderr
    assert "--wait" in run.stderr and "Traceback" not in run.stderr


def test_the_indexer_waits_when_asked_and_runs_once_the_lock_is_free(make_settings, catalogue_path, tmp_path):
    settings = make_settings(catalog=catalogue_path)
    process = subprocess.Popen([sys.executable, "-c", HOLD, str(settings.data_dir)], cwd=PROJECT_ROOT,
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)  # fmt: skip
    assert process.stdout.readline().strip() == "held"
    waiting = subprocess.Popen([sys.executable, "-m", "engine.index", "--catalog", str(catalogue_path), "--quiet",
                                "--wait", "120"], cwd=PROJECT_ROOT,
                               env={**_clean_env(), **_tiny_env(settings)}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)  # fmt: skip
    while "waiting up to 120 s" not in (line := waiting.stderr.readline()):  # the indexer is waiting for the holder
        assert line, "the indexer ended without waiting"
    process.stdin.close()  # the holder lets go; the waiting indexer goes ahead
    process.wait(timeout=30)
    out, err = waiting.communicate(timeout=300)
    assert waiting.returncode == 0, err
    assert "12 added" in out


def test_an_app_that_finds_the_index_busy_serves_and_does_not_write(holder, make_settings, catalogue_path):
    shop = ShopLens(make_settings(catalog=catalogue_path))
    shop.start(speech=False)  # indexing at start meets the lock: skipped, not an error
    assert shop.store.count() == 0 and shop.status().ready


def test_the_lock_is_exclusive_within_a_process_too(tmp_path):
    with WriterLock(tmp_path, "first").acquire():
        with pytest.raises(WriterBusyError, match="first"):
            WriterLock(tmp_path, "second").acquire()
    with WriterLock(tmp_path, "second").acquire():
        pass


def _clean_env() -> dict[str, str]:
    return {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp")}


def _tiny_env(settings) -> dict[str, str]:
    return {"SHOPLENS_DATA_DIR": str(settings.data_dir), "SHOPLENS_CLIP_MODEL": "shoplens-tiny",
            "SHOPLENS_CLIP_PRETRAINED": "none", "SHOPLENS_CLIP_CONFIG_DIR": str(settings.clip_config_dir),
            "SHOPLENS_CLIP_RUNTIME": "torch"}  # fmt: skip
