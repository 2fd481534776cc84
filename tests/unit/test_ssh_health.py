"""SSH health: the backoff schedule, and the per-target record shared through the store."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import pytest

from devenv.runtime import health
from devenv.runtime.health import FileHealth, Health, backoff_for


@pytest.fixture
def store(tmp_path: Path) -> FileHealth:
    return FileHealth(str(tmp_path / "health"))


@pytest.mark.parametrize(("failures", "base"), [
    (0, 1.0), (1, 1.0), (2, 2.0), (3, 4.0), (4, 7.0), (5, 10.0), (6, 10.0), (100, 10.0),
])
def test_backoff_schedule(failures: int, base: float) -> None:
    assert backoff_for(failures, 0.0) == pytest.approx(0.8 * base)
    assert backoff_for(failures, 0.5) == pytest.approx(base)
    assert backoff_for(failures, 1.0) == pytest.approx(1.2 * base)
    for _ in range(50):
        assert 0.8 * base <= backoff_for(failures) <= 1.2 * base


def test_backoff_jitter_spreads(monkeypatch: pytest.MonkeyPatch) -> None:
    values = {round(backoff_for(3), 6) for _ in range(20)}
    assert len(values) > 1, "no jitter"
    monkeypatch.setattr(random, "random", lambda: 0.25)
    assert backoff_for(3) == pytest.approx(4.0 * 0.9)


def test_unknown_target(store: FileHealth) -> None:
    h = store.get("ssh:nobody")
    assert h == Health("ssh:nobody")
    assert (h.status, h.failures, h.attempts) == ("unknown", 0, 0)
    assert not h.fresh(time.time())
    assert h.backoff_left(time.time()) == 0.0


def test_failures_count_and_back_off(store: FileHealth) -> None:
    key = "ssh:a"
    bases = [1.0, 2.0, 4.0, 7.0, 10.0, 10.0, 10.0]
    for n, base in enumerate(bases, start=1):
        before = time.time()
        h = store.mark_failed(key, f"refused {n}")
        after = time.time()
        assert store.get(key) == h
        assert (h.status, h.failures, h.attempts, h.last_error) == ("unhealthy", n, n,
                                                                    f"refused {n}")
        assert h.last_failure is not None and before <= h.last_failure <= after
        assert 0.8 * base - 1e-6 <= h.backoff_until - h.last_failure <= 1.2 * base + 1e-6
        assert 0 < h.backoff_left(after) <= 1.2 * base
        assert h.backoff_left(h.backoff_until + 0.01) == 0.0
        assert not h.fresh(after)
    # One private file per target in the store's directory.
    (record,) = (p for p in Path(store.directory).iterdir() if p.suffix != ".lock")
    assert record.stat().st_mode & 0o777 == 0o600
    assert Path(store.directory).stat().st_mode & 0o777 == 0o700


def test_passive_failures_do_not_count_as_attempts(store: FileHealth) -> None:
    h = store.mark_failed("k", "broken pipe", attempt=False)
    assert (h.failures, h.attempts) == (1, 0)
    h = store.mark_failed("k", "x" * 2000)
    assert (h.failures, h.attempts) == (2, 1)
    assert h.last_error == "x" * 500


def test_success_resets_the_backoff(store: FileHealth) -> None:
    key = "ssh:b"
    store.mark_failed(key, "refused")
    failed = store.mark_failed(key, "timed out")
    before = time.time()
    h = store.mark_healthy(key, attempt=True)
    assert store.get(key) == h
    assert (h.status, h.failures, h.backoff_until, h.attempts) == ("healthy", 0, 0.0, 3)
    assert h.last_success is not None and h.last_success >= before
    # The last failure stays on record, for diagnostics.
    assert (h.last_failure, h.last_error) == (failed.last_failure, "timed out")
    assert h.backoff_left(time.time()) == 0.0
    # A passive success (a command got through) is no connection attempt.
    assert store.mark_healthy(key).attempts == 3
    # One failure after a success starts the schedule again at 1 s.
    again = store.mark_failed(key, "refused")
    assert again.failures == 1 and again.last_failure is not None
    assert again.backoff_until - again.last_failure <= 1.2 + 1e-6
    assert again.last_success == store.get(key).last_success


def test_fresh_for_the_healthy_ttl(store: FileHealth, monkeypatch: pytest.MonkeyPatch) -> None:
    h = store.mark_healthy("k")
    assert h.last_success is not None
    t = h.last_success
    assert health.HEALTHY_TTL == 15.0
    assert h.fresh(t) and h.fresh(t + 14.9)
    assert not h.fresh(t + 15.0) and not h.fresh(t + 60)
    monkeypatch.setattr(health, "HEALTHY_TTL", 1.0)
    assert h.fresh(t + 0.9) and not h.fresh(t + 1.0)
    # Unhealthy is never fresh, however recent its last success.
    assert not store.mark_failed("k", "x").fresh(t)


def test_reset_and_all_health(store: FileHealth) -> None:
    store.mark_failed("b", "x")
    store.mark_healthy("a")
    assert [h.key for h in store.all()] == ["a", "b"]
    store.reset("b")
    assert store.get("b") == Health("b")
    assert [h.key for h in store.all()] == ["a"]


_CHILD = """
import json, sys
from devenv.runtime.health import FileHealth
store = FileHealth(sys.argv[2])
if sys.argv[1] == "fail":
    store.mark_failed("ssh:shared", "from the child")
h = store.get("ssh:shared")
print(json.dumps([h.status, h.failures, h.attempts, h.backoff_until, h.last_error]))
"""


def _child(action: str, store: FileHealth) -> list[object]:
    result = subprocess.run([sys.executable, "-c", _CHILD, action, store.directory],
                            capture_output=True, text=True, timeout=30, env=os.environ.copy(),
                            check=False)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def test_health_is_shared_across_processes(store: FileHealth) -> None:
    key = "ssh:shared"
    assert _child("read", store) == ["unknown", 0, 0, 0.0, ""]
    store.mark_failed(key, "refused")
    h = store.mark_failed(key, "refused again")
    assert _child("read", store) == ["unhealthy", 2, 2, h.backoff_until, "refused again"]
    # And the other way: what the other process writes, this one sees at once.
    child = _child("fail", store)
    assert child[:3] == ["unhealthy", 3, 3]
    mine = store.get(key)
    assert (mine.failures, mine.attempts, mine.last_error) == (3, 3, "from the child")
    assert mine.backoff_until == child[3]
    store.mark_healthy(key, attempt=True)
    assert _child("read", store)[:3] == ["healthy", 0, 4]


def test_each_devenv_home_has_its_own_health(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """devenv's own store lives under DEVENV_HOME (and the library's default is not there)."""
    from devenv.runtime.dirs import RuntimeDirs
    from devenv.ssh import health as devenv_health

    monkeypatch.setenv("DEVENV_HOME", str(tmp_path / "one"))
    devenv_health.store().mark_failed("k", "x")
    assert devenv_health.store().get("k").failures == 1
    assert Path(devenv_health.store().directory).is_relative_to(tmp_path / "one")
    monkeypatch.setenv("DEVENV_HOME", str(tmp_path / "other-home"))
    assert devenv_health.store().get("k") == Health("k")
    assert not Path(RuntimeDirs.default().control_dir).is_relative_to(tmp_path)


def test_a_record_planted_for_another_key_or_garbled_is_unknown(store: FileHealth) -> None:
    """A record is trusted only for its own key; a garbled or linked one reads as unknown."""
    store.mark_failed("a", "x")
    target = Path(store._file("b"))
    target.write_bytes(Path(store._file("a")).read_bytes())
    assert store.get("b") == Health("b")
    target.write_bytes(b"{not json")
    assert store.get("b") == Health("b")
    target.unlink()
    target.symlink_to(store._file("a"))
    assert store.get("b") == Health("b")


def test_a_held_lock_is_an_error_within_its_bound(store: FileHealth,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """A process stopped while holding the records' lock makes writers fail in a bounded
    time, never hang (review finding)."""
    import fcntl

    from devenv.runtime.errors import LockTimeout

    monkeypatch.setattr(health, "LOCK_TIMEOUT", 0.3)
    store.mark_healthy("k")  # makes the directory and the lock file
    lock = os.path.join(store.lock_dir, "health.lock")
    holder = os.open(lock, os.O_RDWR)
    try:
        # flock is per open file description: this one holds it against the store's own.
        fcntl.flock(holder, fcntl.LOCK_EX)
        began = time.monotonic()
        with pytest.raises(LockTimeout, match="locked"):
            store.mark_failed("k", "x")
        assert time.monotonic() - began < 2
    finally:
        os.close(holder)
    assert store.mark_failed("k", "x").failures == 1
