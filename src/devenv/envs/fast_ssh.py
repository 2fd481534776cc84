"""``devenv exec`` over the environment's warm SSH master (DESIGN §3.8: no asyncio here).

When the environment's ControlMaster socket exists, a command costs one multiplexed ssh
session (~10 ms) instead of a ``docker exec`` (~60 ms). The remote side is the marker
wrapper of :mod:`devenv.runtime.wire`, so the outcome is never guessed from ssh's 255: no
start marker means the command never ran (the caller falls back to ``docker exec``); a
start marker without an end marker means the connection died while it ran. Interrupting
devenv kills the remote process group over another session. When the socket is missing,
:func:`run` starts a master in the background for the next call and says "fall back".

Only ``os``, ``select`` and ``_signal`` are imported; stdout and stdin are the caller's own,
stderr passes through a pipe so that the markers can be taken out.
"""

from __future__ import annotations

import os

from devenv import paths
from devenv.envs.fast import CONTAINER_PREFIX, Target
from devenv.runtime import wire

TYPE_CHECKING = False
if TYPE_CHECKING:
    import signal as _signal
else:  # the C module: ``signal`` would import ``enum``
    import _signal

# After the end marker, output still in flight gets this long; a background child that
# keeps the session's pipes open does not hold devenv exec.
DRAIN_GRACE = 0.5
EXIT_LOST = 255  # the connection died while the command ran (the message says so)


class _Signalled(Exception):
    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _raise(signum: int, _frame: object) -> None:
    raise _Signalled(signum)


def _ssh(target: Target, *options: str, command: str) -> list[str]:
    return ["ssh", "-F", paths.ssh_config_str(), "-o", "BatchMode=yes",
            "-o", f"ControlPath={target.control}", *options, CONTAINER_PREFIX + target.name,
            command]


def _spawn(argv: list[str], stderr: int | None = None, *, quiet: bool = False) -> int:
    actions: list[tuple[int, ...]] = []
    if quiet:
        null = os.open(os.devnull, os.O_RDWR)
        actions = [(os.POSIX_SPAWN_DUP2, null, 0), (os.POSIX_SPAWN_DUP2, null, 1),
                   (os.POSIX_SPAWN_DUP2, null, 2), (os.POSIX_SPAWN_CLOSE, null)]
    elif stderr is not None:
        actions = [(os.POSIX_SPAWN_DUP2, stderr, 2), (os.POSIX_SPAWN_CLOSE, stderr)]
    try:
        return os.posix_spawnp(argv[0], argv, os.environ, file_actions=actions)
    finally:
        if quiet:
            os.close(null)


def _wait(pid: int, timeout: float | None = None) -> int | None:
    """Exit code of ``pid`` (128+N for a signal); ``None`` if still running at ``timeout``."""
    import select

    waited = 0.0
    while True:
        done, status = os.waitpid(pid, 0 if timeout is None else os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else \
                128 + os.WTERMSIG(status)
        if timeout is not None and waited >= timeout:
            return None
        select.select([], [], [], 0.02)
        waited += 0.02


def warm(target: Target) -> None:
    """Start the environment's master in the background (it persists 60 s when idle)."""
    if not target.control:
        return
    argv = _ssh(target, "-T", "-o", "ControlMaster=auto", "-o", "ControlPersist=60",
                command="true")
    # Through a shell that exits at once, so the master is nobody's child here (we exec
    # docker next, which would never reap it).
    launcher = ["sh", "-c", wire.join(argv) + " </dev/null >/dev/null 2>&1 &"]
    pid = _spawn(launcher, quiet=True)
    _wait(pid, 5)


def run(target: Target, command: list[str]) -> int | None:
    """Run ``command`` in the project directory over the warm master; its exit code, or
    ``None`` when the command did not run (no master: the caller uses ``docker exec``)."""
    if not target.control or not os.path.exists(target.control):
        warm(target)
        return None
    nonce = os.urandom(6).hex()
    body = wire.script(wire.join(command), nonce=nonce, cd=wire.quote(target.workspace),
                       exports=wire.ENV_PREAMBLE)
    argv = _ssh(target, "-T", "-o", "ControlMaster=no",
                command="exec /bin/sh -c " + wire.quote(body))
    read_end, write_end = os.pipe()
    previous = {sig: _signal.signal(sig, _raise)
                for sig in (_signal.SIGINT, _signal.SIGTERM, _signal.SIGHUP)}
    pid = 0
    try:
        pid = _spawn(argv, write_end)
        os.close(write_end)
        return _relay(target, pid, read_end, nonce.encode())
    except _Signalled as e:
        return _interrupted(target, pid, e.signum)
    finally:
        os.close(read_end)
        for sig, handler in previous.items():
            _signal.signal(sig, handler)


class _State:
    pgid = 0
    code: int | None = None
    bad_cwd = False
    held = b""  # stderr before the start marker: ssh's own errors, shown only if it ran


_state = _State()


def _relay(target: Target, pid: int, fd: int, nonce: bytes) -> int | None:
    import select

    parser = wire.MarkerParser(nonce)
    state = _state
    while True:
        if state.code is not None and not select.select([fd], [], [], DRAIN_GRACE)[0]:
            break  # ended, and a background child holds the pipe: stop waiting for it
        data = os.read(fd, 65536)
        if not data:
            break
        out, events = parser.feed(data)
        for kind, value in events:
            if kind == "S" and value.isdigit():
                state.pgid = int(value)
            elif kind == "E" and value.lstrip("-").isdigit():
                state.code = int(value)
            elif kind == "C":
                state.bad_cwd = True
        _emit(state, out)
    _emit(state, parser.flush())
    rc = _wait(pid, 1.0 if state.code is not None else None)
    if rc is None:  # the session is held open by a background child
        os.kill(pid, _signal.SIGTERM)
        rc = _wait(pid)
    if state.bad_cwd:
        _say(f"{target.workspace} does not exist in environment {target.name}")
        return 125
    if state.code is not None:
        return state.code
    if not state.pgid:
        if rc == 255:
            return None  # never started: docker exec instead
        _flush_held(state)
        _say(f"the environment's shell did not run the command (ssh exit {rc})")
        return 125
    _say(f"the connection to {target.name} was lost while the command ran "
         f"(remote process group {state.pgid}); it may still be running there")
    return EXIT_LOST


def _emit(state: _State, data: bytes) -> None:
    if not data:
        return
    if not state.pgid and state.code is None:
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


def _interrupted(target: Target, pid: int, signum: int) -> int:
    """Interrupted: end the local client and the remote process group."""
    _signal.signal(signum, _signal.SIG_IGN)
    if pid:
        try:  # noqa: SIM105 - contextlib costs an import on the exec path
            os.kill(pid, _signal.SIGTERM)
        except ProcessLookupError:
            pass
        _wait(pid, 2)
    if _state.pgid and _state.code is None:
        killer = _spawn(_ssh(target, "-T", "-o", "ControlMaster=no",
                             command=wire.kill_group(_state.pgid)), quiet=True)
        if _wait(killer, 10) is None:
            os.kill(killer, _signal.SIGKILL)
            _wait(killer)
    return 128 + signum
