"""``devenv exec PATH|ENV -- CMD...`` and ``devenv exec --host H -- CMD...``: run a
command in an environment or on an SSH host; its exit code passes through.

The plain form goes over the environment's warm SSH master when there is one, else
``docker exec`` (:mod:`devenv.envs.reach`). ``--cwd``, ``--timeout`` and ``--host``
go through the runtime library (:mod:`devenv.runtime`), which kills the remote process group
on timeout or Ctrl-C.
"""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator, Callable

from devenv import deadline
from devenv.envs import reach
from devenv.errors import EXIT_LOST, EXIT_TIMEOUT, DevenvError, UsageError, signal_exit

TYPE_CHECKING = False
if TYPE_CHECKING:
    from devenv.runtime import Runtime

# A command line waits this long at most for a host in backoff (the library's default is
# longer: orchestrators would rather wait than fail).
CLI_MAX_WAIT = 10.0


def run(path: str | None, command: list[str], *, name: str | None = None,
        host: str | None = None, cwd: str | None = None, timeout: float | None = None,
        here: bool = False, grant_write: bool = False) -> int:
    if not command:
        raise UsageError("no command given", "write it after --, e.g. devenv exec . -- ls -la")
    if timeout is not None and not 0 < timeout < 1e9:  # also refuses nan and inf
        raise UsageError(f"--timeout must be a positive number of seconds, not {timeout:g}")
    if host is not None:
        if path is not None or name is not None:
            raise UsageError("--host runs on an SSH host; it takes no PATH, ENV or --name",
                             "devenv exec --host user@host -- CMD")
        from devenv.runtime import SSHRuntime, SSHTarget
        from devenv.ssh import health

        runtime = SSHRuntime(SSHTarget.from_cli(host), dirs=health.runtime_dirs(),
                             max_wait=CLI_MAX_WAIT)
        return _library(runtime, command, cwd, timeout)
    if path is None:
        raise UsageError("no PATH or ENV given", "devenv exec . -- CMD (or --host HOST)")
    started = time.monotonic()
    # --timeout bounds the whole call: finding (or starting) the environment counts, and
    # running out of time before the command started is reported as that (125).
    with deadline.within(timeout):
        target, _ = reach.target(path, name=name, here=here, grant_write=grant_write)
    reach.say_chosen(target, always=False)
    if cwd is not None or timeout is not None:
        import posixpath

        from devenv.envs import EnvRuntime

        left = deadline_left(timeout, started)
        # In the directory PATH is (inside its project); a relative --cwd from there.
        if cwd is None or not cwd.startswith(("/", "~")):
            cwd = posixpath.join(target.workspace, cwd) if cwd else target.workspace
        return _library(EnvRuntime(target.name, max_wait=min(CLI_MAX_WAIT, left or CLI_MAX_WAIT)),
                        command, cwd, left)
    code = reach.run(target, command)
    if code is None:
        # The container went away behind devenv's back (the index still listed it): start
        # it again, on another port if its old one was taken meanwhile.
        target, _ = reach.target(path, name=name, look_fast=False, here=here)
        code = reach.run(target, command)
    if code is None:
        raise DevenvError(f"environment {target.name} went away while starting the command",
                          "try again; see 'devenv list'")
    return code


def deadline_left(timeout: float | None, started: float) -> float | None:
    """What is left of ``--timeout`` for the command itself (``None``: no timeout)."""
    if timeout is None:
        return None
    left = timeout - (time.monotonic() - started)
    if left <= 0:
        raise deadline.NotStarted(f"the command did not start within {timeout:g}s",
                                  "give a longer --timeout")
    return left


def _piped_stdin() -> bool:
    """Whether our stdin is there and not a terminal (then the command gets it)."""
    try:
        return not os.isatty(0)
    except OSError:
        return False


async def _stdin() -> AsyncIterator[bytes]:
    """Our stdin, read by a daemon thread: the call must end when the command does, even
    while stdin stays open (an executor thread blocked in read() would hold the exit)."""
    import asyncio
    import threading

    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[bytes] = asyncio.Queue(maxsize=8)

    def pump() -> None:
        while True:
            try:
                chunk = os.read(0, 1 << 16)
            except OSError:
                chunk = b""
            asyncio.run_coroutine_threadsafe(queue.put(chunk), loop).result()
            if not chunk:
                return

    threading.Thread(target=pump, daemon=True, name="devenv-stdin").start()
    while chunk := await queue.get():
        yield chunk


def _library(runtime: Runtime, command: list[str], cwd: str | None,
             timeout: float | None) -> int:
    import asyncio
    import sys

    from devenv.runtime import TransportError

    def out(fd: int) -> Callable[[bytes], None]:
        def write(chunk: bytes) -> None:
            view = memoryview(chunk)
            while view:
                view = view[os.write(fd, view):]
        return write

    async def main() -> int:
        import signal

        # TERM and HUP end the command like Ctrl-C does: the task is cancelled, which kills
        # the command's process group on the target (docs/reliability.md).
        task = asyncio.current_task()
        loop = asyncio.get_running_loop()
        def stop(signum: int) -> None:
            got.append(signum)
            if task is not None:
                task.cancel()

        for sig in (signal.SIGTERM, signal.SIGHUP):
            loop.add_signal_handler(sig, stop, sig)
        try:
            result = await runtime.exec(
                command, cwd=cwd, timeout=timeout, defaults=False,
                stdin=_stdin() if _piped_stdin() else None,
                on_stdout=out(1), on_stderr=out(2))
        finally:
            await runtime.close()
        if result.timed_out:
            print(f"devenv: the command did not end within {timeout:g}s; killed",
                  file=sys.stderr)
            return EXIT_TIMEOUT
        if result.exit_code is None:
            return signal_exit(result.signal or 9)
        return result.exit_code

    got: list[int] = []
    try:
        return asyncio.run(main())
    except asyncio.CancelledError:
        if not got:
            raise
        return signal_exit(got[0])
    except TransportError as e:
        if not e.started:
            raise
        print(f"devenv: error: {e.message}", file=sys.stderr)
        return EXIT_LOST
