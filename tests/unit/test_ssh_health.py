"""SSH health: the backoff schedule, and the per-target record shared through the state."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import pytest

from devenv import paths
from devenv.ssh import health
from devenv.ssh.health import Health, backoff_for


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


def test_unknown_target() -> None:
    h = health.get("ssh:nobody")
    assert h == Health("ssh:nobody")
    assert (h.status, h.failures, h.attempts) == ("unknown", 0, 0)
    assert not h.fresh(time.time())
    assert h.backoff_left(time.time()) == 0.0


def test_failures_count_and_back_off(devenv_home: Path) -> None:
    key = "ssh:a"
    bases = [1.0, 2.0, 4.0, 7.0, 10.0, 10.0, 10.0]
    for n, base in enumerate(bases, start=1):
        before = time.time()
        h = health.mark_failed(key, f"refused {n}")
        after = time.time()
        assert health.get(key) == h
        assert (h.status, h.failures, h.attempts, h.last_error) == ("unhealthy", n, n,
                                                                    f"refused {n}")
        assert h.last_failure is not None and before <= h.last_failure <= after
        assert 0.8 * base - 1e-6 <= h.backoff_until - h.last_failure <= 1.2 * base + 1e-6
        assert 0 < h.backoff_left(after) <= 1.2 * base
        assert h.backoff_left(h.backoff_until + 0.01) == 0.0
        assert not h.fresh(after)
    # It is in the state database of this test's DEVENV_HOME.
    db = paths.db_path()
    assert db.is_file() and db.is_relative_to(devenv_home)


def test_passive_failures_do_not_count_as_attempts() -> None:
    h = health.mark_failed("k", "broken pipe", attempt=False)
    assert (h.failures, h.attempts) == (1, 0)
    h = health.mark_failed("k", "x" * 2000)
    assert (h.failures, h.attempts) == (2, 1)
    assert h.last_error == "x" * 500


def test_success_resets_the_backoff() -> None:
    key = "ssh:b"
    health.mark_failed(key, "refused")
    failed = health.mark_failed(key, "timed out")
    before = time.time()
    h = health.mark_healthy(key, attempt=True)
    assert health.get(key) == h
    assert (h.status, h.failures, h.backoff_until, h.attempts) == ("healthy", 0, 0.0, 3)
    assert h.last_success is not None and h.last_success >= before
    # The last failure stays on record, for diagnostics.
    assert (h.last_failure, h.last_error) == (failed.last_failure, "timed out")
    assert h.backoff_left(time.time()) == 0.0
    # A passive success (a command got through) is no connection attempt.
    assert health.mark_healthy(key).attempts == 3
    # One failure after a success starts the schedule again at 1 s.
    again = health.mark_failed(key, "refused")
    assert again.failures == 1 and again.last_failure is not None
    assert again.backoff_until - again.last_failure <= 1.2 + 1e-6
    assert again.last_success == health.get(key).last_success


def test_fresh_for_the_healthy_ttl(monkeypatch: pytest.MonkeyPatch) -> None:
    h = health.mark_healthy("k")
    assert h.last_success is not None
    t = h.last_success
    assert health.HEALTHY_TTL == 15.0
    assert h.fresh(t) and h.fresh(t + 14.9)
    assert not h.fresh(t + 15.0) and not h.fresh(t + 60)
    monkeypatch.setattr(health, "HEALTHY_TTL", 1.0)
    assert h.fresh(t + 0.9) and not h.fresh(t + 1.0)
    # Unhealthy is never fresh, however recent its last success.
    assert not health.mark_failed("k", "x").fresh(t)


def test_reset_and_all_health() -> None:
    health.mark_failed("b", "x")
    health.mark_healthy("a")
    assert [h.key for h in health.all_health()] == ["a", "b"]
    health.reset("b")
    assert health.get("b") == Health("b")
    assert [h.key for h in health.all_health()] == ["a"]


_CHILD = """
import json, sys
from devenv.ssh import health
if sys.argv[1] == "fail":
    health.mark_failed("ssh:shared", "from the child")
h = health.get("ssh:shared")
print(json.dumps([h.status, h.failures, h.attempts, h.backoff_until, h.last_error]))
"""


def _child(action: str) -> list[object]:
    result = subprocess.run([sys.executable, "-c", _CHILD, action], capture_output=True,
                            text=True, timeout=30, env=os.environ.copy(), check=False)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def test_health_is_shared_across_processes() -> None:
    key = "ssh:shared"
    assert _child("read") == ["unknown", 0, 0, 0.0, ""]
    health.mark_failed(key, "refused")
    h = health.mark_failed(key, "refused again")
    assert _child("read") == ["unhealthy", 2, 2, h.backoff_until, "refused again"]
    # And the other way: what the other process writes, this one (its cached connection
    # included) sees at once.
    child = _child("fail")
    assert child[:3] == ["unhealthy", 3, 3]
    mine = health.get(key)
    assert (mine.failures, mine.attempts, mine.last_error) == (3, 3, "from the child")
    assert mine.backoff_until == child[3]
    health.mark_healthy(key, attempt=True)
    assert _child("read")[:3] == ["healthy", 0, 4]


def test_each_devenv_home_has_its_own_health(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    health.mark_failed("k", "x")
    monkeypatch.setenv("DEVENV_HOME", str(tmp_path / "other-home"))
    assert health.get("k") == Health("k")
