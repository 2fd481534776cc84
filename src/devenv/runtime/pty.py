"""Interactive terminal sessions on a runtime's target: a local PTY whose other end runs the
shell (local runtimes) or ``ssh -tt`` (SSH runtimes: ssh carries the size and its changes)."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import struct
import termios
from collections.abc import Callable

from devenv.runtime import child


async def until_raw(fd: int, timeout: float) -> None:
    """Wait (at most ``timeout`` s) until the terminal of ``fd`` no longer edits or echoes
    its input: ssh makes its terminal raw when its session opens, and a mux client may do so
    only after the remote command started. Input written before would be taken by our own
    terminal (an end-of-input character ends ssh's stdin, not the remote command's)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        try:
            lflag = termios.tcgetattr(fd)[3]
        except termios.error:
            return
        if not lflag & (termios.ICANON | termios.ECHO):
            return
        await asyncio.sleep(0.01)


# End of input on a terminal: VEOF at the start of a line (twice after a partial one).
EOF_CHAR = b"\x04"


def eof_for(last: bytes) -> bytes:
    """What ends the input of a terminal whose last input was ``last``."""
    return EOF_CHAR if not last or last.endswith(b"\n") else EOF_CHAR * 2


async def write_fd(fd: int, data: bytes) -> None:
    """Write all of ``data`` to the non-blocking ``fd``, waiting (not blocking the loop)
    while the other side does not read."""
    loop = asyncio.get_running_loop()
    view = memoryview(data)
    while view:
        try:
            view = view[os.write(fd, view):]
        except BlockingIOError:
            ready: asyncio.Future[None] = loop.create_future()
            loop.add_writer(fd, _resolve, ready)
            try:
                await ready
            finally:
                loop.remove_writer(fd)


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def read_nonblocking(fd: int) -> bytes | None:
    """What ``fd`` has now: ``b""`` at its end (EIO: the other side is gone), ``None`` when
    nothing is there after all."""
    try:
        return os.read(fd, 65536)
    except BlockingIOError:
        return None
    except OSError:
        return b""


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
        # A session that ends by itself gives its pool channel back without close().
        self._reaper = asyncio.ensure_future(self._release_on_exit())

    async def _release_on_exit(self) -> None:
        await self.proc.wait()
        self._on_close()

    def _readable(self) -> None:
        data = read_nonblocking(self.master)
        if data is None:
            return
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

    async def write(self, data: bytes) -> None:
        """Send keystrokes (waits while the terminal's input is full)."""
        await write_fd(self.master, data)

    def resize(self, cols: int, rows: int) -> None:
        set_size(self.master, cols, rows)

    async def wait(self) -> int | None:
        """Exit code of the session (``None`` when it was killed by a signal)."""
        rc = await self.proc.wait()
        return None if rc < 0 else rc

    async def close(self) -> None:
        """Hang up (SIGHUP first, see :func:`.child.end`) and release the session."""
        if self.proc.returncode is None:
            await child.end(self.proc, hangup=True)
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
        proc = await child.spawn(argv, env=env, cwd=cwd, terminal=slave)
    except BaseException:
        os.close(master)
        raise
    finally:
        os.close(slave)
    os.set_blocking(master, False)
    return PtySession(proc, master, on_close)
