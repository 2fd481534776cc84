"""Per-target SSH health, shared by every process that uses the same store.

A target is ``healthy`` (trusted for :data:`HEALTHY_TTL` seconds after a success),
``unhealthy`` (in backoff until ``backoff_until``) or ``unknown``. The backoff after the
n-th consecutive failure is :data:`BACKOFF`\\[n-1] seconds (the last entry repeats), with
±20 % jitter so that processes that failed together do not retry together.

The store is an interface (:class:`HealthStore`); :class:`FileHealth`, the default, keeps
one small JSON file per target in a private directory and updates it under a file lock.
Its calls block (file I/O): the pool runs them off the event loop.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Protocol

from devenv.runtime.errors import LockTimeout
from devenv.runtime.locks import wait_for_lock
from devenv.runtime.private import private_dir

HEALTHY_TTL = 15.0
BACKOFF = (1.0, 2.0, 4.0, 7.0, 10.0)
JITTER = 0.2
MAX_ERROR = 500  # characters of the last error kept


@dataclass(frozen=True)
class Health:
    key: str
    status: str = "unknown"  # healthy | unhealthy | unknown
    last_success: float | None = None
    last_failure: float | None = None
    last_error: str = ""
    failures: int = 0
    backoff_until: float = 0.0
    attempts: int = 0  # connection attempts (probes) made, for diagnostics and tests

    def fresh(self, now: float) -> bool:
        """Healthy, and recently enough to skip a probe."""
        return (self.status == "healthy" and self.last_success is not None
                and now - self.last_success < HEALTHY_TTL)

    def backoff_left(self, now: float) -> float:
        return max(0.0, self.backoff_until - now)

    def succeeded(self, *, attempt: bool) -> Health:
        return Health(self.key, "healthy", time.time(), self.last_failure, self.last_error,
                      0, 0.0, self.attempts + (1 if attempt else 0))

    def failed(self, error: str, *, attempt: bool) -> Health:
        """One more consecutive failure, and the backoff that follows."""
        now = time.time()
        failures = self.failures + 1
        return Health(self.key, "unhealthy", self.last_success, now, error[:MAX_ERROR],
                      failures, now + backoff_for(failures),
                      self.attempts + (1 if attempt else 0))


def backoff_for(failures: int, rand: float | None = None) -> float:
    """Seconds of backoff after ``failures`` consecutive failures (>= 1)."""
    base = BACKOFF[min(max(failures, 1), len(BACKOFF)) - 1]
    r = random.random() if rand is None else rand  # noqa: S311 - jitter, not secrets
    return base * (1 - JITTER + 2 * JITTER * r)


class HealthStore(Protocol):
    """Where health records live. Calls may block; the pool makes them off the loop."""

    def get(self, key: str) -> Health: ...

    def mark_healthy(self, key: str, *, attempt: bool = False) -> Health: ...

    def mark_failed(self, key: str, error: str, *, attempt: bool = True) -> Health: ...

    def reset(self, key: str) -> None: ...


class FileHealth:
    """One JSON file per target in ``directory`` (created 0700 and verified), replaced
    atomically; read-modify-write under an exclusive lock on a file in ``lock_dir``. A
    missing or unreadable record is ``unknown`` (a probe then decides)."""

    def __init__(self, directory: str, lock_dir: str | None = None) -> None:
        self.directory = directory
        self.lock_dir = lock_dir or directory

    def _file(self, key: str) -> str:
        return os.path.join(self.directory, hashlib.sha256(key.encode()).hexdigest()[:32])

    def get(self, key: str) -> Health:
        try:
            fd = os.open(self._file(key), os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError:
            return Health(key)
        try:
            data = os.read(fd, 1 << 16)
        finally:
            os.close(fd)
        try:
            record = json.loads(data)
            health = Health(**record)
        except (ValueError, TypeError):
            return Health(key)
        return health if health.key == key else Health(key)

    def mark_healthy(self, key: str, *, attempt: bool = False) -> Health:
        return self._update(key, lambda old: old.succeeded(attempt=attempt))

    def mark_failed(self, key: str, error: str, *, attempt: bool = True) -> Health:
        return self._update(key, lambda old: old.failed(error, attempt=attempt))

    def reset(self, key: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._file(key))

    def all(self) -> list[Health]:
        """Every record (diagnostics)."""
        try:
            names = os.listdir(self.directory)
        except FileNotFoundError:
            return []
        records = []
        for name in names:
            try:
                with open(os.path.join(self.directory, name), "rb") as f:
                    records.append(Health(**json.loads(f.read())))
            except (OSError, ValueError, TypeError):
                continue
        return sorted(records, key=lambda h: h.key)

    def _update(self, key: str, step: Callable[[Health], Health]) -> Health:
        private_dir(self.directory)
        lock = os.path.join(private_dir(self.lock_dir), "health.lock")
        fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        try:
            _lock(fd, lock)  # held for a read and a rename: microseconds
            new = step(self.get(key))
            path = self._file(key)
            tmp = f"{path}.{os.getpid()}.tmp"
            out = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW
                          | os.O_CLOEXEC, 0o600)
            try:
                os.write(out, json.dumps(asdict(new)).encode())
            finally:
                os.close(out)
            os.replace(tmp, path)
            return new
        finally:
            os.close(fd)


LOCK_TIMEOUT = 5.0  # a writer holds the lock for microseconds; a stopped one must not hang us


def _lock(fd: int, path: str) -> None:
    if not wait_for_lock(fd, LOCK_TIMEOUT, poll=0.01):
        raise LockTimeout(f"the SSH health records are locked ({path})",
                          "another process holds the lock; if none runs, remove the file")
