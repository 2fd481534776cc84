"""Faults against a real sshd: what an SSH runtime call does when the connection dies under
it, and how it recovers.

The target is the throwaway sshd container of :mod:`runtime_fixtures` (published on a fixed
127.0.0.1 port, so ``docker restart``/``start`` keep the port). Each test breaks it one way --
the sshd session killed, the container killed, paused, cut off the network, restarted,
stopped while several processes hammer it -- and checks that every call ends within its
bound with the right outcome, and that the next call after recovery succeeds. The
``server`` fixture puts the container back in working order after each test.

Bounds: a master connection notices a silent peer through ServerAlive (5 s x 2: 10-15 s);
a connection the peer closes is noticed at once; a caller's ``timeout`` bounds a call to
about ``timeout`` + the remote kill's grace.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from typing import Any, TypeVar

import pytest

from devenv.runtime import ExecResult, SSHRuntime, TransportError, health
from devenv.runtime.dirs import RuntimeDirs
from tests.integration.runtime_fixtures import Sshd, sshd  # noqa: F401 - fixture

T = TypeVar("T")


def record(key: str) -> health.Health:
    """The pool's health record of ``key`` (the runtimes here use the default store)."""
    return RuntimeDirs.default().health.get(key)

# How long a recovered target may take to answer again: the backoff of a few failures
# (1+2+4 s, +20 %) and a probe.
RECOVERY = 30.0


# -- the target ------------------------------------------------------------------------------


def _status(server: Sshd) -> str:
    return server.docker("inspect", "-f", "{{.State.Status}}", server.container,
                         check=False).stdout.strip()


def _networks(server: Sshd) -> list[str]:
    out = server.docker("inspect", "-f", "{{json .NetworkSettings.Networks}}",
                        server.container, check=False).stdout.strip()
    return list(json.loads(out or "{}") or {})


def restore(server: Sshd) -> None:
    """Undo whatever a test did to the container (paused, stopped, disconnected)."""
    if _status(server) == "paused":
        server.docker("unpause", server.container, check=False)
    if _status(server) != "running":
        server.docker("start", server.container, check=False)
    if _status(server) == "running" and "bridge" not in _networks(server):
        server.docker("network", "connect", "bridge", server.container, check=False)
    try:
        server.wait_ready(20)
    except AssertionError:
        server.start()  # recreate it on the same port


@pytest.fixture
def server(sshd: Sshd) -> Iterator[Sshd]:
    restore(sshd)
    yield sshd
    restore(sshd)


def session_pids(server: Sshd) -> list[str]:
    """The container's per-connection sshd processes (not the listener, pid 1)."""
    out = server.docker("exec", server.container, "ps", "-eo", "pid=,args=").stdout
    return [line.split()[0] for line in out.splitlines()
            if "sshd: dev" in line and line.split()[0] != "1"]


def remote_running(server: Sshd, needle: str) -> bool:
    out = server.docker("exec", server.container, "ps", "-eo", "args=").stdout
    return any(line.strip() == needle for line in out.splitlines())


# -- running scenarios -----------------------------------------------------------------------


def run(coro: Coroutine[Any, Any, T], limit: float = 120) -> T:
    """Run a scenario on a fresh event loop (so a fresh pool), hard-capped at ``limit`` s:
    a call that never ends fails the test instead of hanging it."""
    return asyncio.run(asyncio.wait_for(coro, limit))


Outcome = ExecResult | TransportError


async def fault_mid_command(rt: SSHRuntime, fault: Callable[[], object], *,
                            command: str = "echo started; sleep 30",
                            timeout: float | None = None) -> tuple[Outcome, float, float]:
    """Run ``command``; once it printed ``started``, apply ``fault`` (in a thread: docker
    commands block). Returns the call's outcome, the seconds from the fault (done) to the
    call's end, and the call's whole duration."""
    started = asyncio.Event()

    def sink(chunk: bytes) -> None:
        if b"started" in chunk:
            started.set()

    began = time.monotonic()
    running = asyncio.ensure_future(rt.exec(command, on_stdout=sink, timeout=timeout))
    waiter = asyncio.ensure_future(started.wait())
    await asyncio.wait({running, waiter}, timeout=20, return_when=asyncio.FIRST_COMPLETED)
    waiter.cancel()
    assert started.is_set(), f"the command did not start: {running}"
    await asyncio.to_thread(fault)
    faulted = time.monotonic()
    outcome: Outcome
    try:
        outcome = await running
    except TransportError as e:
        outcome = e
    ended = time.monotonic()
    return outcome, ended - faulted, ended - began


async def call(rt: SSHRuntime, command: str = "echo back", **kwargs: Any
               ) -> tuple[Outcome, float]:
    began = time.monotonic()
    outcome: Outcome
    try:
        outcome = await rt.exec(command, **kwargs)
    except TransportError as e:
        outcome = e
    return outcome, time.monotonic() - began


def show(what: str, seconds: float) -> None:
    """Print a figure (``pytest -s`` shows them)."""
    print(f"{what}: {seconds:.1f}s")


def assert_lost(outcome: Outcome) -> TransportError:
    """The call failed because the connection died while its command ran."""
    assert isinstance(outcome, TransportError), outcome
    assert outcome.started, outcome
    assert "was lost while the command ran" in str(outcome), outcome
    return outcome


def assert_back(outcome: Outcome, elapsed: float, limit: float = RECOVERY) -> None:
    show("  next call", elapsed)
    assert isinstance(outcome, ExecResult), outcome
    assert outcome.exit_code == 0 and outcome.stdout == b"back\n", outcome
    assert elapsed < limit, elapsed


def master_pid(rt: SSHRuntime, path: str) -> int | None:
    proc = subprocess.run(rt.endpoint.argv(path, "-O", "check"), capture_output=True,
                          text=True, timeout=10, check=False)
    found = re.search(r"pid=(\d+)", proc.stdout + proc.stderr)
    return int(found.group(1)) if proc.returncode == 0 and found else None


# -- 1. killed mid-command -------------------------------------------------------------------


def test_sshd_session_killed_mid_command(server: Sshd) -> None:
    """The sshd process serving our connection dies: the call fails at once with a lost
    connection (the command had started); the next call opens a new master."""

    async def scenario() -> None:
        rt = SSHRuntime(server.target(), max_wait=RECOVERY)
        try:
            assert (await rt.exec("true")).ok
            master = rt.endpoint.control_path(0)
            old = master_pid(rt, master)
            assert old is not None

            def kill_sessions() -> None:
                pids = session_pids(server)
                assert pids, "no sshd session process"
                server.docker("exec", server.container, "kill", "-KILL", *pids)

            outcome, after, _ = await fault_mid_command(rt, kill_sessions)
            error = assert_lost(outcome)
            show("session killed -> lost", after)
            assert "remote process group" in str(error)
            assert after < 5, after
            outcome, elapsed = await call(rt)
            assert_back(outcome, elapsed, 10)
            new = master_pid(rt, master)
            assert new is not None and new != old  # a new master replaced the dead one
            assert record(rt.endpoint.key).status == "healthy"
        finally:
            await rt.close()

    run(scenario())


def test_container_killed_mid_command_then_fail_fast(server: Sshd) -> None:
    """The container (its sshd is pid 1) is killed: the running call fails with a lost
    connection; while it is down, a fail-fast caller (max_wait=0) gets a backoff error at
    once and a second one does not even try; once it is back the next call succeeds."""

    async def scenario() -> None:
        rt = SSHRuntime(server.target(), max_wait=RECOVERY)
        fast = SSHRuntime(server.target(), max_wait=0)
        try:
            # max_wait=0 means "do not wait out a backoff", not "never connect".
            outcome, elapsed = await call(fast)
            assert_back(outcome, elapsed, 10)
            outcome, after, _ = await fault_mid_command(
                rt, lambda: server.docker("kill", server.container))
            assert_lost(outcome)
            show("container killed -> lost", after)
            assert after < 5, after
            key = rt.endpoint.key
            before = record(key).attempts
            outcome, elapsed = await call(fast)
            assert isinstance(outcome, TransportError) and not outcome.started, outcome
            assert "unreachable" in str(outcome) and "next try in" in str(outcome), outcome
            show("fail-fast call while down", elapsed)
            assert elapsed < 3, elapsed
            assert record(key).attempts <= before + 1  # at most one connection attempt
            tried = record(key).attempts
            outcome, elapsed = await call(fast)  # in backoff: fails without trying
            assert isinstance(outcome, TransportError), outcome
            assert "unreachable" in str(outcome), outcome
            assert elapsed < 1, elapsed
            assert record(key).attempts == tried
            await asyncio.to_thread(server.docker, "start", server.container)
            await asyncio.to_thread(server.wait_ready)
            outcome, elapsed = await call(rt)
            assert_back(outcome, elapsed)
        finally:
            await rt.close()

    run(scenario())


# -- 2. paused -------------------------------------------------------------------------------


def test_paused_mid_command(server: Sshd) -> None:
    """A frozen peer closes nothing: the master's ServerAlive (5 s x 2) gives up within
    10-15 s and the call fails with a lost connection; after unpause the next call (which
    waits out the backoff) succeeds."""

    async def scenario() -> None:
        rt = SSHRuntime(server.target(), max_wait=RECOVERY)
        try:
            assert (await rt.exec("true")).ok
            outcome, after, _ = await fault_mid_command(
                rt, lambda: server.docker("pause", server.container))
            assert_lost(outcome)
            show("paused mid-command -> lost", after)
            assert 5 < after < 20, after  # ServerAlive, not an instant close
            await asyncio.to_thread(server.docker, "unpause", server.container)
            outcome, elapsed = await call(rt)
            assert_back(outcome, elapsed)
        finally:
            await rt.close()

    run(scenario())


def test_paused_mid_command_with_timeout(server: Sshd) -> None:
    """With a timeout the caller's bound wins: the call ends soon after it with a timed-out
    result (the remote kill cannot get through; the call does not wait for ServerAlive), and
    the command is gone once the container runs again (the remote backstop)."""

    async def scenario() -> None:
        rt = SSHRuntime(server.target(), max_wait=RECOVERY)
        try:
            assert (await rt.exec("true")).ok
            outcome, _, whole = await fault_mid_command(
                rt, lambda: server.docker("pause", server.container),
                command="echo started; sleep 31", timeout=4)
            assert isinstance(outcome, ExecResult), outcome
            assert outcome.timed_out and outcome.exit_code is None, outcome
            show("paused mid-command, timeout=4 -> timed out", whole)
            assert 4 <= whole < 10, whole  # ServerAlive would take 10-15 s
            await asyncio.to_thread(server.docker, "unpause", server.container)
            give_up = time.monotonic() + 10
            while remote_running(server, "sleep 31"):
                assert time.monotonic() < give_up, "the timed-out command still runs"
                await asyncio.sleep(0.2)
            outcome, elapsed = await call(rt)
            assert_back(outcome, elapsed)
        finally:
            await rt.close()

    run(scenario())


def test_paused_before_a_call(server: Sshd) -> None:
    """Paused between calls, while the target still counts as healthy (no probe): a call
    with a timeout ends at its timeout, timed out; one without fails once the master's
    ServerAlive gave up (plus the direct connection ssh then falls back to, bounded by
    ConnectTimeout); after that, a caller with a small max_wait fails within it. After
    unpause the next call succeeds."""

    async def scenario() -> None:
        rt = SSHRuntime(server.target(), max_wait=RECOVERY)
        try:
            assert (await rt.exec("true")).ok
            await asyncio.to_thread(server.docker, "pause", server.container)
            outcome, elapsed = await call(rt, timeout=3)
            assert isinstance(outcome, ExecResult), outcome
            assert outcome.timed_out and outcome.exit_code is None, outcome
            show("paused before, timeout=3 -> timed out", elapsed)
            assert elapsed < 6, elapsed
            outcome, elapsed = await call(rt)
            assert isinstance(outcome, TransportError), outcome
            assert not outcome.started, outcome  # no start marker: it never ran
            show("paused before, no timeout -> TransportError", elapsed)
            assert elapsed < 40, elapsed  # ServerAlive (<= 15 s) + ConnectTimeout (15 s)
            short = SSHRuntime(server.target(), max_wait=3)
            outcome, elapsed = await call(short)
            assert isinstance(outcome, TransportError) and not outcome.started, outcome
            show("paused before, max_wait=3 -> TransportError", elapsed)
            assert elapsed < 8, elapsed
            await asyncio.to_thread(server.docker, "unpause", server.container)
            outcome, elapsed = await call(rt)
            assert_back(outcome, elapsed)
        finally:
            await rt.close()

    run(scenario(), 180)


# -- 3. network cut --------------------------------------------------------------------------


def test_network_cut_mid_command(server: Sshd) -> None:
    """The container leaves the bridge network mid-command: the published port goes with
    it (Docker's proxy closes the connection; with no proxy ServerAlive notices), so the call
    fails with a lost connection; calls while cut off fail within their max_wait; once
    reconnected, the published port works again and the next call succeeds."""

    async def scenario() -> None:
        rt = SSHRuntime(server.target(), max_wait=RECOVERY)
        try:
            assert (await rt.exec("true")).ok
            outcome, after, _ = await fault_mid_command(
                rt, lambda: server.docker("network", "disconnect", "bridge",
                                          server.container))
            assert_lost(outcome)
            show("network cut -> lost", after)
            assert after < 20, after
            cut = SSHRuntime(server.target(), max_wait=3)
            outcome, elapsed = await call(cut)
            assert isinstance(outcome, TransportError) and not outcome.started, outcome
            show("cut off, max_wait=3 -> TransportError", elapsed)
            assert elapsed < 8, elapsed
            await asyncio.to_thread(server.docker, "network", "connect", "bridge",
                                    server.container)
            ports = server.docker("port", server.container, "2222").stdout
            assert f"127.0.0.1:{server.port}" in ports, ports  # published again
            outcome, elapsed = await call(rt)
            assert_back(outcome, elapsed)
            assert server.ssh("true").returncode == 0  # and plain ssh gets through too
        finally:
            await rt.close()

    run(scenario())


# -- 4. sshd restarted -----------------------------------------------------------------------


def test_sshd_restarted(server: Sshd) -> None:
    """``docker restart`` mid-command: the call fails with a lost connection, the next one
    succeeds on a new master. Then a master killed locally (SIGKILL leaves its socket
    behind): a pool that probes it (``-O check`` fails) removes it and opens a new one."""

    async def scenario() -> int:
        rt = SSHRuntime(server.target(), max_wait=RECOVERY)
        master = rt.endpoint.control_path(0)
        try:
            assert (await rt.exec("true")).ok
            first = master_pid(rt, master)
            outcome, after, _ = await fault_mid_command(
                rt, lambda: server.docker("restart", "-t", "1", server.container))
            assert_lost(outcome)
            show("restarted -> lost", after)
            assert after < 5, after
            outcome, elapsed = await call(rt)
            assert_back(outcome, elapsed)
            second = master_pid(rt, master)
            assert second is not None and second != first
        except BaseException:
            await rt.close()
            raise
        # From here no close(): it would remove the stale socket the next part needs.
        os.kill(second, 9)  # the master this test's pool opened
        give_up = time.monotonic() + 5
        while master_pid(rt, master) is not None:
            assert time.monotonic() < give_up
            await asyncio.sleep(0.1)
        assert os.path.exists(master)
        # This pool still trusts it (healthy, probed < 15 s ago): ssh falls back to a
        # connection of its own, so the call works all the same.
        outcome, elapsed = await call(rt)
        assert_back(outcome, elapsed, 15)
        return second

    second = run(scenario())

    async def another_process() -> None:
        # A pool that has not probed it yet (another process, or this one after 15 s).
        rt = SSHRuntime(server.target(), max_wait=RECOVERY)
        try:
            outcome, elapsed = await call(rt)
            assert_back(outcome, elapsed, 15)
            third = master_pid(rt, rt.endpoint.control_path(0))
            assert third is not None and third != second
        finally:
            await rt.close()

    run(another_process())


# -- 5. backoff shared across processes ------------------------------------------------------

CALLER = r"""
import asyncio, json, sys, time
from devenv.runtime import SSHRuntime, SSHTarget, TransportError

async def main() -> None:
    rt = SSHRuntime(SSHTarget(sys.argv[1], config_file=sys.argv[2]),
                    max_wait=float(sys.argv[3]))
    began = time.monotonic()
    try:
        await rt.exec("true")
        out = {"ok": True}
    except TransportError as e:
        out = {"ok": False, "error": e.message, "hint": e.hint or "", "started": e.started}
    out["elapsed"] = time.monotonic() - began
    print(json.dumps(out))

asyncio.run(main())
"""


class Counter:
    """A TCP listener on the target's port that accepts, counts and closes connections."""

    def __init__(self, port: int) -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        give_up = time.monotonic() + 10
        while True:  # Docker's proxy may still hold the port for a moment
            try:
                self.sock.bind(("127.0.0.1", port))
                break
            except OSError:
                if time.monotonic() > give_up:
                    raise
                time.sleep(0.1)
        self.sock.listen(64)
        self.sock.settimeout(0.1)
        self.accepted: list[float] = []
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.done.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            self.accepted.append(time.monotonic())
            conn.close()

    def close(self) -> None:
        self.done.set()
        self.thread.join(5)
        self.sock.close()


def test_backoff_is_shared_across_processes(server: Sshd) -> None:
    """Four processes (one state database) call a dead target at once, each with
    max_wait=20 s, so each keeps trying for 20 s. The connection attempts, counted by devenv
    and by a listener on the port, follow one backoff schedule (1, 2, 4, 7, 10 s +-20 %: at
    most ~7 in 20 s) -- not one per process -- and each caller fails with a message naming
    the backoff."""
    processes = 4
    max_wait = 20.0
    server.docker("stop", "-t", "1", server.container)
    counter = Counter(server.port)
    try:
        argv = [sys.executable, "-c", CALLER, server.alias, str(server.config), str(max_wait)]
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
        began = time.monotonic()
        callers = [subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    text=True, env=env) for _ in range(processes)]
        results = []
        for proc in callers:
            out, err = proc.communicate(timeout=max_wait + 30)
            assert proc.returncode == 0, err
            results.append(json.loads(out))
        whole = time.monotonic() - began
    finally:
        counter.close()
    accepted = counter.accepted
    gaps = [b - a for a, b in itertools.pairwise(accepted)]
    key = SSHRuntime(server.target()).endpoint.key
    recorded = record(key)
    for result in results:
        assert not result["ok"] and not result["started"], result
        assert "unreachable" in result["error"], result
        assert "failed attempts in a row" in result["error"], result
        assert "backs off" in result["hint"], result
        assert max_wait - 1 < result["elapsed"] < max_wait + 8, result
    assert whole < max_wait + 15, whole
    # One schedule for everyone: 0, ~1, ~3, ~7, ~14, (~19 at the low end of the jitter).
    print(f"{processes} processes: {len(accepted)} connections accepted, "
          f"{recorded.attempts} attempts recorded; gaps {[round(g, 1) for g in gaps]}; "
          f"callers ended after {[round(r['elapsed'], 1) for r in results]} s")
    assert 3 <= len(accepted) <= 8, (len(accepted), accepted)
    # devenv's own count agrees (a probe cut off as its process exited may go unrecorded).
    assert len(accepted) - 1 <= recorded.attempts <= len(accepted), (recorded, accepted)
    assert recorded.failures == recorded.attempts, recorded
    for i, gap in enumerate(gaps):
        floor = health.BACKOFF[min(i, len(health.BACKOFF) - 1)] * (1 - health.JITTER)
        assert gap > floor - 0.3, (i, gaps)  # nobody tried during someone's backoff
    server.docker("start", server.container)
    server.wait_ready()

    async def recovered() -> None:
        rt = SSHRuntime(server.target(), max_wait=RECOVERY)
        try:
            outcome, elapsed = await call(rt)
            assert_back(outcome, elapsed)
        finally:
            await rt.close()

    run(recovered())
