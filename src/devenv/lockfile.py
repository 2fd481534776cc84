"""Cross-process critical sections with ``fcntl.flock``; bounded, and they say when they wait."""

from __future__ import annotations

import fcntl
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from devenv import deadline as call_deadline
from devenv.errors import DevenvError
from devenv.paths import locks_dir, machine_locks_dir, private_dir
from devenv.runtime.locks import wait_for_lock


@contextmanager
def locked(name: str, *, timeout: float, what: str, machine: bool = False) -> Iterator[None]:
    """Hold the exclusive lock ``name`` (a file in devenv's lock dir) for the block.

    :param timeout: seconds to wait before giving up with a :class:`DevenvError`.
    :param what: what the holder is doing, for the "waiting" message.
    :param machine: lock for every devenv of this user on this machine, whatever its
        ``DEVENV_HOME`` (image builds: the engine's images are shared by all of them).
    """
    # Both are created 0700 and verified (owner, mode, no link) on every call.
    directory = machine_locks_dir() if machine else private_dir(locks_dir())
    path = directory / f"{name}.lock"
    timeout = call_deadline.bound(timeout)  # never past the call's deadline (exec --timeout)
    with _open(path) as fd:
        def say() -> None:
            print(f"devenv: waiting for another devenv ({what})...", file=sys.stderr)

        if not wait_for_lock(fd, timeout, on_wait=say):
            raise DevenvError(
                f"gave up after {timeout:g}s waiting for another devenv ({what})",
                f"if no other devenv is running, remove {path}")
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)


@contextmanager
def _open(path: Path) -> Iterator[int]:
    # No link is followed: the lock file is ours, in a directory verified private.
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        yield fd
    finally:
        os.close(fd)


def atomic_write(path: Path, data: str | bytes, mode: int = 0o600) -> None:
    """Write ``data`` to ``path`` through a temp file in the same dir and ``os.replace``.

    The file has ``mode`` exactly, whatever the umask, and is never more open than that
    while it is written: the temp file is created new (a stale one is removed first, no link
    is followed) with ``mode``, which the umask can only narrow, then set to ``mode`` before
    the data goes in."""
    raw = data.encode() if isinstance(data, str) else data
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with suppress(FileNotFoundError):
        os.unlink(tmp)  # left by a crashed writer with this pid
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                 mode)
    try:
        os.fchmod(fd, mode)
        view = memoryview(raw)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        with suppress(OSError):
            os.unlink(tmp)
        raise
    os.close(fd)
    os.replace(tmp, path)
