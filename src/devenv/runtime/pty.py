"""Interactive terminal sessions on a runtime's target: a local PTY whose other end runs the
shell (local runtimes) or ``ssh -tt`` (SSH runtimes: ssh carries the size and its changes)."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import signal
import struct
import termios
from collections.abc import Callable

from devenv.runtime.types import RuntimeError_


def controlling_tty() -> None:
    """In the child, after ``setsid``: make the PTY (fd 0) its controlling terminal."""
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


def set_size(fd: int, cols: int, rows: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


class PtySession:
    """A terminal: :meth:`write` keystrokes, :meth:`read` what the screen gets,
    :meth:`resize`, :meth:`wait` for the exit code, :meth:`close` to hang up."""

    def __init__(self, proc: asyncio.subprocess.Process, master: int,
                 on_close: Callable[[], None]) -> None:
        self.proc = proc
        self.master = master
        self._on_close = on_close
        self._queue: asyncio.Queue[bytes] = asyncio.Queue()
        self._eof = False
        loop = asyncio.get_running_loop()
        loop.add_reader(master, self._readable)

    def _readable(self) -> None:
        try:
            data = os.read(self.master, 65536)
        except OSError:  # EIO: the other side is gone
            data = b""
        if not data:
            asyncio.get_running_loop().remove_reader(self.master)
        self._queue.put_nowait(data)

    async def read(self) -> bytes:
        """The next output; ``b""`` once the session ended."""
        if self._eof:
            return b""
        data = await self._queue.get()
        if not data:
            self._eof = True
        return data

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(self.master, view):]

    def resize(self, cols: int, rows: int) -> None:
        set_size(self.master, cols, rows)

    async def wait(self) -> int | None:
        """Exit code of the session (``None`` when it was killed by a signal)."""
        rc = await self.proc.wait()
        return None if rc < 0 else rc

    async def close(self) -> None:
        """Hang up (SIGHUP, then KILL after 2 s) and release the session."""
        if self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGHUP)
            try:
                await asyncio.wait_for(self.proc.wait(), 2)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                await self.proc.wait()
        with contextlib.suppress(ValueError, OSError):
            asyncio.get_running_loop().remove_reader(self.master)
        with contextlib.suppress(OSError):
            os.close(self.master)
        self._on_close()


async def open_session(argv: list[str], *, env: dict[str, str], cwd: str | None,
                       cols: int, rows: int, on_close: Callable[[], None]) -> PtySession:
    master, slave = os.openpty()
    try:
        set_size(slave, cols, rows)
        proc = await asyncio.create_subprocess_exec(
            *argv, stdin=slave, stdout=slave, stderr=slave, env=env, cwd=cwd,
            start_new_session=True, preexec_fn=controlling_tty)
    except FileNotFoundError as e:
        os.close(master)
        raise RuntimeError_(f"'{argv[0]}' is not installed (not found on PATH)") from e
    finally:
        os.close(slave)
    return PtySession(proc, master, on_close)
