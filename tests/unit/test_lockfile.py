from __future__ import annotations

import multiprocessing
import os
import time
from pathlib import Path

import pytest

from devenv.errors import DevenvError
from devenv.lockfile import atomic_write, locked


def test_atomic_write_sets_mode_and_replaces(tmp_path: Path) -> None:
    target = tmp_path / "f"
    atomic_write(target, "one", 0o600)
    atomic_write(target, b"two", 0o644)
    assert target.read_text() == "two"
    assert oct(target.stat().st_mode & 0o777) == "0o644"
    assert [p.name for p in tmp_path.iterdir()] == ["f"]


def _hold(home: str, seconds: float) -> None:
    os.environ["DEVENV_HOME"] = home
    with locked("t", timeout=5, what="test"):
        time.sleep(seconds)


def test_lock_excludes_other_processes_and_times_out(devenv_home: Path) -> None:
    ctx = multiprocessing.get_context("spawn")
    holder = ctx.Process(target=_hold, args=(str(devenv_home), 3.0))
    holder.start()
    lock = devenv_home / "state" / "locks" / "t.lock"
    deadline = time.monotonic() + 10
    while not lock.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    start = time.monotonic()
    with pytest.raises(DevenvError, match="waiting for another devenv"), \
            locked("t", timeout=0.5, what="test"):
        pass
    assert 0.4 < time.monotonic() - start < 3
    holder.join(10)
    with locked("t", timeout=1, what="test"):  # free again once the holder is done
        pass
