"""Cross-process critical sections: ``fcntl.flock`` on a file in a private
directory, waited for by polling (the event loop is never blocked), bounded."""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from devenv.runtime.errors import LockTimeout
from devenv.runtime.private import private_dir


def wait_for_lock(fd: int, timeout: float, *, on_wait: Callable[[], None] | None = None,
                  poll: float = 0.05) -> bool:
    """Take the exclusive lock of ``fd``, waiting at most ``timeout`` seconds (polling: a
    holder that stopped cannot hang us); whether it was taken. ``on_wait`` is called once
    when the wait passes a second (to say so)."""
    deadline = time.monotonic() + timeout
    told = on_wait is None
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            now = time.monotonic()
            if now >= deadline:
                return False
            if not told and now + timeout - deadline > 1.0:
                on_wait()  # type: ignore[misc]  # told is False only with a callable
                told = True
            time.sleep(poll)


@asynccontextmanager
async def async_locked(lock_dir: str, name: str, *, timeout: float,
                       what: str) -> AsyncIterator[None]:
    """Hold the exclusive lock ``<lock_dir>/<name>.lock`` for the block; give up with
    :class:`LockTimeout` after ``timeout`` seconds. ``what`` says what the holder does.
    The directory is created 0700 and verified on every call; no link is followed."""
    import asyncio  # here: the synchronous wait_for_lock is on devenv's start-up paths

    path = os.path.join(private_dir(lock_dir), f"{name}.lock")
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        give_up = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= give_up:
                    raise LockTimeout(
                        f"gave up after {timeout:g}s waiting for another process ({what})",
                        f"if no other process is running, remove {path}") from None
                await asyncio.sleep(0.05)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
