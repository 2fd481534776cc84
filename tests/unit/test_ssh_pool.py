"""The SSH connection pool against a recording fake ``ssh`` (first on PATH): probes,
singleflight, backoff, channel limits, master replacement."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import pytest

from devenv.runtime import health
from devenv.runtime.dirs import RuntimeDirs
from devenv.runtime.errors import TransportError
from devenv.runtime.master import Endpoint
from devenv.runtime.pool import Lease, Pool

T = TypeVar("T")

# The fake: logs its argv (one line per call), then answers per the control files in its
# directory: check_rc (-O check), echo_rc and echo_delay (echo ok, which also creates the
# "socket" at ControlPath as a real ControlMaster=auto would); -O exit removes it.
FAKE_SSH = r"""#!/bin/sh
dir=@DIR@
printf '%s\n' "$*" >> "$dir/log"
cp=; op=; prev=; last=
for a in "$@"; do
  case $a in ControlPath=*) cp=${a#ControlPath=} ;; esac
  [ "$prev" = "-O" ] && op=$a
  prev=$a; last=$a
done
case $op in
  check) exit "$(cat "$dir/check_rc")" ;;
  exit) rm -f -- "$cp"; exit 0 ;;
esac
if [ "$last" = "echo ok" ]; then
  sleep "$(cat "$dir/echo_delay")"
  rc=$(cat "$dir/echo_rc")
  if [ "$rc" = 0 ]; then : > "$cp"; echo ok; exit 0; fi
  if [ -f "$dir/echo_error" ]; then cat "$dir/echo_error" >&2
  else echo "ssh: connect to host fakehost port 22: Connection refused" >&2; fi
  exit "$rc"
fi
exit 0
"""


class FakeSSH:
    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.log = directory / "log"
        self.set(check_rc=0, echo_rc=0, echo_delay=0)

    def set(self, **values: float) -> None:
        for name, value in values.items():
            (self.dir / name).write_text(f"{value}\n")

    def calls(self) -> list[str]:
        return self.log.read_text().splitlines() if self.log.exists() else []

    def probes(self, control_path: str | None = None) -> list[str]:
        return [c for c in self.calls() if c.endswith(" echo ok")
                and (control_path is None or f"ControlPath={control_path} " in c)]

    def ops(self, op: str) -> list[str]:
        return [c for c in self.calls() if f" -O {op} " in c]

    def kinds(self) -> list[str]:
        """The calls as check / exit / echo."""
        out = []
        for c in self.calls():
            if " -O check " in c:
                out.append("check")
            elif " -O exit " in c:
                out.append("exit")
            elif c.endswith(" echo ok"):
                out.append("echo")
            else:
                out.append(c)
        return out


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeSSH:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    ssh = bindir / "ssh"
    ssh.write_text(FAKE_SSH.replace("@DIR@", str(tmp_path)))
    ssh.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}")
    return FakeSSH(tmp_path)


@pytest.fixture(autouse=True)
def dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> RuntimeDirs:
    """Each test's own sockets, locks and health records (what Pool() uses by default)."""
    mine = RuntimeDirs.under(str(tmp_path / "rt"))
    monkeypatch.setattr(RuntimeDirs, "default", classmethod(lambda cls: mine))
    return mine


def record(key: str) -> health.Health:
    return RuntimeDirs.default().health.get(key)


async def settled(key: str) -> health.Health:
    """The record once the probe a caller gave up on has written it: on a loaded machine
    the fake ssh may outlast a short ``max_wait``."""
    deadline = time.monotonic() + 10
    while (h := record(key)).status == "unknown":
        assert time.monotonic() < deadline, "the probe never finished"
        await asyncio.sleep(0.02)
    return h


@pytest.fixture
def short_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(health, "BACKOFF", (0.6, 1.2))


def endpoint(tmp_path: Path, *, max_channels: int = 8, max_masters: int = 8) -> Endpoint:
    return Endpoint("ssh:test\0fakehost", "fakehost", "fakehost",
                    ("-o", "BatchMode=yes"), str(tmp_path / "ctl" / "m"),
                    max_channels=max_channels, max_masters=max_masters)


def run(main: Callable[[], Coroutine[Any, Any, T]]) -> T:
    return asyncio.run(main())


async def timed(awaitable: Awaitable[T]) -> tuple[T, float]:
    began = time.monotonic()
    value = await awaitable
    return value, time.monotonic() - began


def test_endpoint_argv_and_control_paths(tmp_path: Path) -> None:
    ep = endpoint(tmp_path)
    base = str(tmp_path / "ctl" / "m")
    assert (ep.control_path(0), ep.control_path(1), ep.control_path(3)) == (
        base, base + "-1", base + "-3")
    assert ep.argv("/c", "-O", "check") == ["ssh", "-o", "BatchMode=yes", "-o",
                                            "ControlPath=/c", "-O", "check", "fakehost"]
    assert ep.argv("/c", "-T", command="echo ok")[-2:] == ["fakehost", "echo ok"]


def test_first_acquire_probes_once(fake: FakeSSH, tmp_path: Path) -> None:
    ep = endpoint(tmp_path)

    async def main() -> Lease:
        lease = await Pool().acquire(ep, max_wait=5)
        lease.release()
        lease.release()  # idempotent
        return lease

    lease = run(main)
    assert lease.control_path == ep.control_path(0)
    assert fake.kinds() == ["echo"]  # no socket yet: nothing to check
    probe = fake.probes()[0]
    for option in ("ControlMaster=auto", "ControlPersist=60", "-T", "ConnectTimeout=",
                   f"ControlPath={ep.control_path(0)}", "BatchMode=yes"):
        assert option in probe
    h = record(ep.key)
    assert (h.status, h.attempts, h.failures) == ("healthy", 1, 0)
    # The control directory is private.
    assert (Path(ep.control_base).parent.stat().st_mode & 0o777) == 0o700


def test_singleflight_50_concurrent_acquires_one_probe(fake: FakeSSH, tmp_path: Path) -> None:
    fake.set(echo_delay=0.3)
    ep = endpoint(tmp_path, max_channels=50)

    async def main() -> list[Lease]:
        pool = Pool()
        leases = await asyncio.gather(*(pool.acquire(ep, max_wait=10) for _ in range(50)))
        for lease in leases:
            lease.release()
        return list(leases)

    leases = run(main)
    assert len(leases) == 50
    assert {lease.control_path for lease in leases} == {ep.control_path(0)}
    assert fake.kinds() == ["echo"]  # one probe, and no other ssh call at all
    assert record(ep.key).attempts == 1


def test_fail_fast_during_backoff(fake: FakeSSH, tmp_path: Path) -> None:
    fake.set(echo_rc=255)
    ep = endpoint(tmp_path)

    async def main() -> None:
        pool = Pool()
        with pytest.raises(TransportError):
            await pool.acquire(ep, max_wait=0.3)
        h = await settled(ep.key)
        assert len(fake.probes()) == 1  # no second attempt during the backoff
        assert (h.status, h.failures) == ("unhealthy", 1)
        assert "Connection refused" in h.last_error
        calls = len(fake.calls())
        began = time.monotonic()
        with pytest.raises(TransportError) as info:
            await pool.acquire(ep, max_wait=0)
        assert time.monotonic() - began < 0.5
        message = str(info.value)
        assert "fakehost is unreachable" in message
        assert "1 failed attempts in a row" in message and "next try in" in message
        assert "Connection refused" in message
        assert len(fake.calls()) == calls  # fail fast: no ssh at all

    run(main)


def test_waits_out_the_backoff_then_succeeds(fake: FakeSSH, tmp_path: Path,
                                             short_backoff: None) -> None:
    fake.set(echo_rc=255)
    ep = endpoint(tmp_path)

    async def main() -> None:
        pool = Pool()
        with pytest.raises(TransportError):
            await pool.acquire(ep, max_wait=0.1)  # the probe runs, fails: backoff
        h = await settled(ep.key)
        left = h.backoff_left(time.time())
        assert 0.1 < left <= 0.6 * 1.2, left
        fake.set(echo_rc=0)
        lease, elapsed = await timed(pool.acquire(ep, max_wait=5))
        lease.release()
        assert elapsed >= left - 0.05  # it waited for the backoff...
        assert elapsed < left + 1.0  # ...and then probed at once
        assert len(fake.probes()) == 2
        h = record(ep.key)
        assert (h.status, h.failures, h.attempts) == ("healthy", 0, 2)

    run(main)


def test_max_wait_zero_still_connects_to_a_target_without_backoff(fake: FakeSSH,
                                                                   tmp_path: Path) -> None:
    """``max_wait=0`` means "do not wait for a backoff or a busy pool", not "never connect":
    a target with no backoff gets its one probe."""
    ep = endpoint(tmp_path)

    async def main() -> Lease:
        lease = await Pool().acquire(ep, max_wait=0)
        lease.release()
        return lease

    assert run(main).control_path == ep.control_path(0)
    assert fake.kinds() == ["echo"]


def test_channel_limits(fake: FakeSSH, tmp_path: Path) -> None:
    ep = endpoint(tmp_path, max_channels=2, max_masters=2)

    async def main() -> None:
        pool = Pool()
        leases = [await pool.acquire(ep, max_wait=5) for _ in range(4)]
        assert [lease.control_path for lease in leases] == [
            ep.control_path(0), ep.control_path(0), ep.control_path(1), ep.control_path(1)]
        assert len(fake.probes(ep.control_path(0))) == 1
        assert len(fake.probes(ep.control_path(1))) == 1
        # Full: a caller that will not wait is told so.
        with pytest.raises(TransportError, match="busy"):
            await pool.acquire(ep, max_wait=0.1)
        fifth = asyncio.ensure_future(pool.acquire(ep, max_wait=5))
        await asyncio.sleep(0.3)
        assert not fifth.done()
        leases[2].release()
        lease = await asyncio.wait_for(fifth, 2)
        assert lease.control_path == ep.control_path(1)
        assert len(fake.probes()) == 2  # the healthy master was reused without a probe
        for other in (*leases, lease):
            other.release()

    run(main)


def test_channel_limits_hold_for_concurrent_first_acquires(fake: FakeSSH,
                                                           tmp_path: Path) -> None:
    """Callers that arrive together while the first probe runs must not all pile onto the
    master being probed: at most max_channels each, the 5th waits."""
    fake.set(echo_delay=0.2)
    ep = endpoint(tmp_path, max_channels=2, max_masters=2)

    async def main() -> None:
        pool = Pool()
        tasks = [asyncio.ensure_future(pool.acquire(ep, max_wait=5)) for _ in range(5)]
        give_up = time.monotonic() + 3
        while sum(t.done() for t in tasks) < 4 and time.monotonic() < give_up:
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.2)  # the 5th keeps waiting
        done = [t for t in tasks if t.done()]
        paths = [t.result().control_path for t in done]
        assert sorted(paths) == [ep.control_path(0)] * 2 + [ep.control_path(1)] * 2, paths
        waiting = next(t for t in tasks if not t.done())
        done[0].result().release()
        lease = await asyncio.wait_for(waiting, 2)
        for t in tasks:
            if t is not waiting:
                t.result().release()
        lease.release()

    run(main)


def test_a_healthy_target_is_not_probed_for_the_ttl(fake: FakeSSH, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    ep = endpoint(tmp_path)

    async def main() -> None:
        pool = Pool()
        for _ in range(20):
            (await pool.acquire(ep, max_wait=5)).release()
        assert fake.kinds() == ["echo"]
        # Past the TTL the master is checked and the target probed again.
        monkeypatch.setattr(health, "HEALTHY_TTL", 0.2)
        await asyncio.sleep(0.3)
        (await pool.acquire(ep, max_wait=5)).release()
        assert fake.kinds() == ["echo", "check", "echo"]
        # And trusted again for the TTL.
        (await pool.acquire(ep, max_wait=5)).release()
        assert len(fake.calls()) == 3

    run(main)
    h = record(ep.key)
    assert (h.status, h.attempts) == ("healthy", 1)  # one connection made: the master's


def test_a_broken_master_is_closed_and_replaced(fake: FakeSSH, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    ep = endpoint(tmp_path)
    socket = Path(ep.control_path(0))

    async def main() -> None:
        pool = Pool()
        (await pool.acquire(ep, max_wait=5)).release()
        assert socket.exists()
        fake.set(check_rc=255)
        monkeypatch.setattr(health, "HEALTHY_TTL", 0.1)
        await asyncio.sleep(0.2)
        lease = await pool.acquire(ep, max_wait=5)
        lease.release()
        assert lease.control_path == ep.control_path(0)

    run(main)
    assert fake.kinds() == ["echo", "check", "exit", "echo"]
    assert all(f"ControlPath={socket} " in call for call in fake.calls())
    assert socket.exists()  # the new master's
    h = record(ep.key)
    assert (h.status, h.attempts) == ("healthy", 2)


def test_a_vanished_socket_is_reconnected_without_check(fake: FakeSSH, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch
                                                        ) -> None:
    ep = endpoint(tmp_path)

    async def main() -> None:
        pool = Pool()
        (await pool.acquire(ep, max_wait=5)).release()
        os.unlink(ep.control_path(0))  # the master went away (ControlPersist ran out)
        (await pool.acquire(ep, max_wait=5)).release()

    run(main)
    assert fake.kinds() == ["echo", "echo"]


def test_note_failure_backs_off(fake: FakeSSH, tmp_path: Path, short_backoff: None) -> None:
    ep = endpoint(tmp_path)

    async def main() -> None:
        pool = Pool()
        (await pool.acquire(ep, max_wait=5)).release()
        pool.note_failure(ep, "Broken pipe")
        h = await pool.health(ep)
        assert (h.status, h.failures, h.attempts, h.last_error) == ("unhealthy", 1, 1,
                                                                    "Broken pipe")
        assert h.backoff_left(time.time()) > 0.2
        with pytest.raises(TransportError, match="Broken pipe"):
            await pool.acquire(ep, max_wait=0)
        assert fake.kinds() == ["echo"]
        # After the backoff the master is probed again before it is trusted.
        (await pool.acquire(ep, max_wait=5)).release()
        assert fake.kinds() == ["echo", "check", "echo"]
        assert record(ep.key).status == "healthy"

    run(main)


def test_note_success_marks_healthy_at_most_every_5s(fake: FakeSSH, tmp_path: Path) -> None:
    ep = endpoint(tmp_path)

    async def main() -> None:
        pool = Pool()
        pool.note_success(ep)
        first = await pool.health(ep)
        assert first.status == "healthy" and first.attempts == 0
        await asyncio.sleep(0.05)
        pool.note_success(ep)
        assert (await pool.health(ep)).last_success == first.last_success
        # A failure in between makes the next success count at once.
        pool.note_failure(ep, "x")
        pool.note_success(ep)
        assert (await pool.health(ep)).status == "healthy"

    run(main)
    assert fake.calls() == []


def test_a_joined_probe_does_not_outlast_the_callers_max_wait(fake: FakeSSH,
                                                              tmp_path: Path) -> None:
    """A caller that joins a probe started by a patient caller still gives up by its own
    ``max_wait`` (the docstring's contract), with TransportError."""
    fake.set(echo_delay=1.2)
    ep = endpoint(tmp_path)

    async def main() -> None:
        pool = Pool()
        patient = asyncio.ensure_future(pool.acquire(ep, max_wait=10))
        await asyncio.sleep(0.1)  # its probe is running
        began = time.monotonic()
        try:
            with pytest.raises(TransportError):
                await asyncio.wait_for(pool.acquire(ep, max_wait=0.3), 2)
        finally:
            elapsed = time.monotonic() - began
            (await patient).release()
        assert elapsed < 1.0, elapsed

    run(main)
    assert len(fake.probes()) == 1


def test_a_short_max_wait_does_not_mark_a_slow_host_unhealthy(fake: FakeSSH,
                                                              tmp_path: Path) -> None:
    """The caller's impatience is not the host's failure: a probe cut short by a caller's
    small ``max_wait`` must not put the target into backoff for every process."""
    fake.set(echo_delay=0.6)
    ep = endpoint(tmp_path)

    async def main() -> None:
        pool = Pool()
        with pytest.raises(TransportError):
            await pool.acquire(ep, max_wait=0.2)
        await asyncio.sleep(0.8)  # a probe left running in the background may finish
        h = record(ep.key)
        assert h.status != "unhealthy" and h.backoff_left(time.time()) == 0, h

    run(main)


def test_close_leaves_the_shared_masters_up(fake: FakeSSH, tmp_path: Path) -> None:
    """Masters are shared with other processes and ssh clients: close() must not end them
    (ControlPersist does, once they are unused); a new pool finds them with -O check."""
    ep = endpoint(tmp_path, max_channels=1, max_masters=2)

    async def main() -> None:
        pool = Pool()
        a = await pool.acquire(ep, max_wait=5)
        b = await pool.acquire(ep, max_wait=5)
        assert {a.control_path, b.control_path} == {ep.control_path(0), ep.control_path(1)}
        a.release()
        b.release()
        await pool.close(ep)

    run(main)
    assert fake.ops("exit") == []
    assert Path(ep.control_path(0)).exists() and Path(ep.control_path(1)).exists()


def test_a_permanent_failure_is_reported_at_once(fake: FakeSSH, tmp_path: Path) -> None:
    """A typo'd host or a refused key does not wait out max_wait in backoff; a refused
    connection (maybe the host is booting) does."""
    ep = endpoint(tmp_path)
    fake.set(echo_rc=255)
    (fake.dir / "echo_error").write_text(
        "ssh: Could not resolve hostname fakehost: Name or service not known\n")

    async def main() -> tuple[str, float]:
        try:
            await timed(Pool().acquire(ep, max_wait=20))
        except TransportError as e:
            return e.message, 0.0
        raise AssertionError("acquire succeeded")

    began = time.monotonic()
    message, _ = run(main)
    assert time.monotonic() - began < 3
    assert "Could not resolve hostname" in message
    assert record(ep.key).status == "unhealthy"  # others still back off
    assert len(fake.probes()) == 1


def test_fail_fast_still_opens_another_master_when_all_channels_are_taken(
        fake: FakeSSH, tmp_path: Path) -> None:
    """max_wait=0 means "do not wait", not "fail when busy": with every channel of the
    first master taken, a fail-fast caller gets a new master at once (review finding:
    waiting 0.25 s for a channel first made it fail)."""
    ep = endpoint(tmp_path, max_channels=2, max_masters=2)

    async def main() -> None:
        pool = Pool()
        held = [await pool.acquire(ep, max_wait=5) for _ in range(2)]
        lease, elapsed = await timed(pool.acquire(ep, max_wait=0))
        assert lease.control_path == ep.control_path(1)
        assert elapsed < 2, elapsed
        for other in (*held, lease):
            other.release()

    run(main)
