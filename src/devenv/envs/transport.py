"""``devenv exec``'s two transports, both with the marker wrapper (no asyncio here: see
docs/architecture.md, start-up): the environment's warm SSH master (~10 ms a command) and
``docker exec`` (~60 ms).

The far side is the wrapper of :mod:`devenv.runtime.wire`, so the outcome is never guessed
from an exit code (ssh's 255, docker's 1): no start marker means the command never ran (the
caller tries the next way in), a start marker without an end marker means the connection died
while it ran. Interrupting devenv (Ctrl-C, TERM, HUP) kills the command's process group in the
environment over the same transport and exits 128+N, on both paths. Every wait is bounded: a
command that has not started within :data:`START_TIMEOUT` (a hung or paused environment) is
given up, and ssh never falls back to a direct connection without a timeout (docs/
reliability.md). When the master socket is missing, :func:`run` starts a master in the
background for the next call and says "fall back".

Only ``os``, ``select``, ``_signal`` and :mod:`devenv.proc` are imported; stdout and stdin
are the caller's own, stderr passes through a pipe so that the markers can be taken out.
"""

from __future__ import annotations

import os

from devenv import paths, proc
from devenv.envs.index import CONTAINER_PREFIX, Target, exec_argv
from devenv.errors import EXIT_LOST, EXIT_PRE_CHILD, signal_exit
from devenv.runtime import wire

TYPE_CHECKING = False
if TYPE_CHECKING:
    import signal as _signal
    from collections.abc import Callable
else:  # the C module: ``signal`` would import ``enum``
    import _signal

# After the end marker, output still in flight gets this long; a background child that
# keeps the session's pipes open does not hold devenv exec.
DRAIN_GRACE = 0.5
# A command that has not started this long after devenv asked is given up (a hung sshd
# behind a warm master, a paused container): the caller tries the next way in.
START_TIMEOUT = 15.0
KILL_TIMEOUT = 10.0  # for killing the remote process group after an interrupt
# A connection that finds no master becomes one, kept 60 s after its last session.
MASTER_OPTIONS = ("-o", "ControlMaster=auto", "-o", "ControlPersist=60")


class _Signalled(Exception):
    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _raise(signum: int, _frame: object) -> None:
    raise _Signalled(signum)


def _ssh(target: Target, *options: str, command: str) -> list[str]:
    # ProxyCommand=false: a session the master cannot carry fails at once instead of
    # silently opening a direct connection; ConnectTimeout bounds the master's own connect.
    return wire.ssh_argv(["-F", paths.ssh_config_str(), "-o", "BatchMode=yes",
                          "-o", f"ControlPath={target.control}", "-o", "ConnectTimeout=10",
                          *options], CONTAINER_PREFIX + target.name, command)


def _mux(target: Target, command: str) -> list[str]:
    return _ssh(target, "-T", "-o", "ControlMaster=no", "-o", "ProxyCommand=false",
                command=command)


def attach_argv(target: Target, command: list[str]) -> list[str]:
    """``ssh -t`` that runs ``command`` on our terminal in the project directory, through
    the environment's master (``ControlMaster auto`` in devenv's ssh_config: the first
    attach leaves one for the next). sshd owns the pseudo-terminal: when this client goes
    (window closed, pane killed, connection dropped) sshd hangs it up, and the shell and its
    jobs get SIGHUP as in any SSH login (docs/architecture.md, terminals)."""
    remote = (wire.ENV_PREAMBLE + f"cd {wire.quote(target.workspace)} || exit "
              f"{EXIT_PRE_CHILD}; exec {wire.join(command)}")
    return _ssh(target, "-t", *MASTER_OPTIONS, command=remote)


def warm(target: Target) -> None:
    """Start the environment's master in the background (it persists 60 s when idle)."""
    if not target.control:
        return
    argv = _ssh(target, "-T", *MASTER_OPTIONS, command="true")
    # Through a shell that exits at once, so the master is nobody's child here (we exec
    # docker next, which would never reap it).
    launcher = ["sh", "-c", wire.join(argv) + " </dev/null >/dev/null 2>&1 &"]
    pid = proc.spawn(launcher, quiet=True)
    proc.wait_pid(pid, 5)


def run(target: Target, command: list[str]) -> int | None:
    """Run ``command`` in the project directory over the warm master; its exit code, or
    ``None`` when the command did not run (no master, or it did not answer: the caller
    uses ``docker exec``)."""
    if not target.control or not os.path.exists(target.control):
        warm(target)
        return None
    nonce = os.urandom(6).hex()
    body = wire.script(wire.join(command), nonce=nonce, cd=wire.quote(target.workspace),
                       exports=wire.ENV_PREAMBLE)
    if len(body) > MAX_SSH_COMMAND:
        return None  # one argument to the remote shell is limited to 128 KiB

    def killer(pgid: int) -> list[str]:
        return _mux(target, wire.kill_group(pgid))

    return _marked(target, _mux(target, "exec /bin/sh -c " + wire.quote(body)), killer,
                   nonce, docker=False)


def run_docker(target: Target, command: list[str]) -> int | None:
    """Run ``command`` in the project directory with ``docker exec``; its exit code, or
    ``None`` when the container is not there (the caller takes the full path, which
    starts it again). The command's words are arguments of their own (no 128 KiB limit on
    the whole command line)."""
    nonce = os.urandom(6).hex()
    body = wire.script('"$@"', nonce=nonce, cd=None)
    argv = [*exec_argv(target, ["/bin/sh", "-c", body, "devenv"], tty=False), *command]

    def killer(pgid: int) -> list[str]:
        return ["docker", "exec", target.container, "sh", "-c", wire.kill_group(pgid)]

    return _marked(target, argv, killer, nonce, docker=True)


# The remote shell gets the script as one argument (Linux: at most 128 KiB).
MAX_SSH_COMMAND = 120 * 1024


def _marked(target: Target, argv: list[str], killer: Callable[[int], list[str]],
            nonce: str, *, docker: bool) -> int | None:
    _state.reset(nonce.encode())
    read_end, write_end = os.pipe()
    previous = {sig: _signal.signal(sig, _raise)
                for sig in (_signal.SIGINT, _signal.SIGTERM, _signal.SIGHUP)}
    pid = 0
    try:
        pid = proc.spawn(argv, stderr=write_end)
        os.close(write_end)
        rc = _relay(pid, read_end)
        return outcome(_state, rc, target.name, target.workspace, docker=docker)
    except _Signalled as e:
        return _interrupted(pid, e.signum, killer)
    finally:
        os.close(read_end)
        for sig, handler in previous.items():
            _signal.signal(sig, handler)


class _State:
    """One run: what its markers said, whether its start deadline passed, and the stderr
    held back before the start marker (the transport's own words)."""

    marks = wire.MarkerParser(b"")
    start_timed_out = False
    held = b""

    def reset(self, nonce: bytes) -> None:
        self.marks, self.start_timed_out, self.held = wire.MarkerParser(nonce), False, b""


_state = _State()


def _relay(pid: int, fd: int) -> int:
    """Pass stderr through without the markers until the stream ends; the transport's exit
    code. A command that does not start within :data:`START_TIMEOUT` is given up."""
    import select

    state = _state
    parser = state.marks
    give_up = _now() + START_TIMEOUT
    while True:
        if not select.select([fd], [], [], _patience(state, give_up))[0]:
            if parser.code is not None:
                break  # ended, and a background child holds the pipe: stop waiting for it
            state.start_timed_out = True
            break
        data = os.read(fd, 65536)
        if not data:
            break
        out, _ = parser.feed(data)
        _emit(state, out)
    _emit(state, parser.flush())
    return _reap(pid, 1.0 if parser.code is not None else 0.0 if state.start_timed_out
                 else None)


def _patience(state: _State, give_up: float) -> float | None:
    """How long to wait for more stderr: a short grace after the end marker, until the
    start deadline before the start marker, else as long as the command runs."""
    if state.marks.code is not None:
        return DRAIN_GRACE
    if state.marks.pgid is None:
        return max(0.0, give_up - _now())
    return None


def _reap(pid: int, timeout: float | None) -> int:
    """The client's exit code; one still running after ``timeout`` (held open by a
    background child, or a command that never started) is ended (:func:`_end`)."""
    rc = proc.wait_pid(pid, timeout)
    return rc if rc is not None else proc.end_pid(pid)


def outcome(state: _State, rc: int, name: str, workspace: str, *,
            docker: bool) -> int | None:
    """What a marked run means (:func:`devenv.runtime.wire.outcome` decides; this says it
    as an exit code and a message): the command's exit code, ``None``
    when it never started and the next way in should be tried, or devenv's own failure
    (125 before the command started, 255 when the connection died while it ran)."""
    verdict = wire.outcome(state.marks, rc)
    if verdict == wire.BAD_CWD:
        _say(f"{workspace} does not exist in environment {name}")
        return EXIT_PRE_CHILD
    if verdict == wire.ENDED:
        return state.marks.code
    if verdict == wire.LOST:
        _say(f"the connection to {name} was lost while the command ran "
             f"(remote process group {state.marks.pgid}); it may still be running there")
        return EXIT_LOST
    if state.start_timed_out:
        if docker:
            _flush_held(state)
            _say(f"environment {name} did not start the command within {START_TIMEOUT:g}s "
                 "(is it paused or overloaded? see 'docker ps')")
            return EXIT_PRE_CHILD
        return None
    if not docker:
        if verdict == wire.NOT_STARTED:
            return None  # never started over ssh: docker exec instead
        _flush_held(state)
        _say(f"the environment's shell did not run the command (ssh exit {rc})")
        return EXIT_PRE_CHILD
    if b"No such container" in state.held:
        return None  # removed behind devenv's back: the full path starts it again
    if b"is paused" in state.held:
        _say(f"environment {name} is paused; resume it with: docker unpause "
             f"{CONTAINER_PREFIX}{name}")
        return EXIT_PRE_CHILD
    _flush_held(state)
    if rc != EXIT_PRE_CHILD:
        _say(f"docker exec could not run the command in {name} (exit {rc})")
    return EXIT_PRE_CHILD


def _now() -> float:
    import time

    return time.monotonic()


def _emit(state: _State, data: bytes) -> None:
    if not data:
        return
    if state.marks.pgid is None and state.marks.code is None:
        state.held += data
        return
    _flush_held(state)
    _write(data)


def _flush_held(state: _State) -> None:
    if state.held:
        held, state.held = state.held, b""
        _write(held)


def _write(data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(2, view):]


def _say(message: str) -> None:
    _write(f"devenv: error: {message}\n".encode())


def _interrupted(pid: int, signum: int, killer: Callable[[int], list[str]]) -> int:
    """Interrupted: end the local client and the remote process group; 128+N."""
    _signal.signal(signum, _signal.SIG_IGN)
    if pid:
        proc.end_pid(pid)
    pgid = _state.marks.pgid
    if pgid is not None and _state.marks.code is None:
        kill = proc.spawn(killer(pgid), quiet=True)
        if proc.wait_pid(kill, KILL_TIMEOUT) is None:
            proc.end_pid(kill)
    return signal_exit(signum)
