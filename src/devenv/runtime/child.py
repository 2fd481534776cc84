"""The runtime library's one way to start a local process and one way to end it
(docs/architecture.md): every child of the library comes from :func:`spawn` and is ended by
:func:`end`.

A child starts in a session of its own, so its whole process group can be signalled; on
pipes, or on a terminal it gets as its controlling terminal. A missing program is a
:class:`RuntimeFailure` naming it. Ending follows :data:`.wire.ESCALATION` (so do
``devenv.proc`` and ``devenv exec``, synchronously): each signal to the group, a bounded
wait, the next; KILL last, so no wait is unbounded.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import signal
import termios
from collections.abc import Mapping, Sequence

from devenv.runtime.errors import RuntimeFailure
from devenv.runtime.wire import ESCALATION

HANGUP_WAIT = 2.0  # a terminal's session gets SIGHUP first, and this long

PIPE = asyncio.subprocess.PIPE
DEVNULL = asyncio.subprocess.DEVNULL
STDOUT = asyncio.subprocess.STDOUT


def controlling_tty() -> None:
    """In the child, after ``setsid``: make the terminal on fd 0 its controlling terminal."""
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


async def spawn(argv: Sequence[str], *, env: Mapping[str, str] | None = None,
                cwd: str | None = None, stdin: int = DEVNULL, stdout: int = PIPE,
                stderr: int = PIPE, terminal: int | None = None) -> asyncio.subprocess.Process:
    """Start ``argv`` in a new session; ``terminal`` (a terminal's fd) is then its stdin,
    stdout, stderr and controlling terminal. Cancelled while the child is being started,
    the child's whole group is ended before the cancellation goes on."""
    extra: dict[str, object] = {}
    if terminal is not None:
        stdin = stdout = stderr = terminal
        extra["preexec_fn"] = controlling_tty
    creating = asyncio.ensure_future(asyncio.create_subprocess_exec(
        *argv, stdin=stdin, stdout=stdout, stderr=stderr, env=env, cwd=cwd,
        start_new_session=True, **extra))  # type: ignore[arg-type]
    try:
        return await asyncio.shield(creating)
    except FileNotFoundError as e:
        raise RuntimeFailure(f"'{argv[0]}' is not installed (not found on PATH)",
                             f"install {argv[0]}") from e
    except asyncio.CancelledError:
        # The child runs before asyncio has connected its pipes. Cancelled in between,
        # asyncio itself would kill the child alone, not its group, then wait until every
        # pipe closed -- for as long as anything the child started holds one (a
        # ``sleep 300 &``). So the creation goes on, and the whole group is ended.
        with contextlib.suppress(Exception):
            proc = await creating
            await end(proc)
            # Its pipes are closed here and now (as Execution does): nobody reads them.
            transport = getattr(proc, "_transport", None)
            if transport is not None:
                transport.close()
        raise


async def wait_exit(proc: asyncio.subprocess.Process) -> int:
    """``proc``'s exit status, as soon as it exited.

    ``Process.wait()`` (Python 3.11) returns only once the process's pipes are closed too.
    An ssh mux client hands its stdin/stdout/stderr to the master, which keeps them open
    until it is done with the session -- on a hung connection, until ServerAlive gives up
    (10-15 s) -- so a client killed at the caller's timeout would hold the call that long.
    The exit status is set as soon as the child is reaped: poll it alongside ``wait()``."""
    waiter = asyncio.ensure_future(proc.wait())
    try:
        while proc.returncode is None:
            await asyncio.wait([waiter], timeout=0.05)
        return proc.returncode
    finally:
        waiter.cancel()


async def end(proc: asyncio.subprocess.Process, *, hangup: bool = False) -> int:
    """End ``proc`` and whatever else runs in its process group, by :data:`ESCALATION`
    (``hangup``: SIGHUP first, for a terminal's session); its exit status. Also when
    ``proc`` itself already exited: children it left in the group get the last signal."""
    steps = (((signal.SIGHUP, HANGUP_WAIT),) if hangup else ()) + ESCALATION
    for sig, wait in steps:
        if proc.returncode is not None:
            break
        _signal_group(proc.pid, sig)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(wait_exit(proc), wait)
    _signal_group(proc.pid, signal.SIGKILL)  # what is left of the group (the leader too)
    return await wait_exit(proc)


def _signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)
