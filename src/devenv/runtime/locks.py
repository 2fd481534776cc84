"""Cross-process critical sections for asyncio code: ``fcntl.flock`` on a file in a private
directory, waited for by polling (the event loop is never blocked), bounded."""

from __future__ import annotations

import asyncio
import fcntl
import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from devenv.runtime.errors import LockTimeout
from devenv.runtime.private import private_dir


@asynccontextmanager
async def async_locked(lock_dir: str, name: str, *, timeout: float,
                       what: str) -> AsyncIterator[None]:
    """Hold the exclusive lock ``<lock_dir>/<name>.lock`` for the block; give up with
    :class:`LockTimeout` after ``timeout`` seconds. ``what`` says what the holder does.
    The directory is created 0700 and verified on every call; no link is followed."""
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
