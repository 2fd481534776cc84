"""Per-target SSH health in devenv's state database, shared by every devenv process.

A target is ``healthy`` (trusted for :data:`HEALTHY_TTL` seconds after a success),
``unhealthy`` (in backoff until ``backoff_until``) or ``unknown``. The backoff after the
n-th consecutive failure is :data:`BACKOFF`\\[n-1] seconds (the last entry repeats), with
±20 % jitter so that processes that failed together do not retry together.
"""

from __future__ import annotations

import random
import sqlite3
import time
from dataclasses import dataclass

from devenv import paths, state

HEALTHY_TTL = 15.0
BACKOFF = (1.0, 2.0, 4.0, 7.0, 10.0)
JITTER = 0.2


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


def env_key(name: str) -> str:
    """The health key of the devenv environment ``name``."""
    return f"env:{name}"


def backoff_for(failures: int, rand: float | None = None) -> float:
    """Seconds of backoff after ``failures`` consecutive failures (>= 1)."""
    base = BACKOFF[min(max(failures, 1), len(BACKOFF)) - 1]
    r = random.random() if rand is None else rand  # noqa: S311 - jitter, not secrets
    return base * (1 - JITTER + 2 * JITTER * r)


_conn: tuple[str, int, sqlite3.Connection] | None = None


def _db() -> sqlite3.Connection:
    """One connection per process and database (wall-clock times: shared across processes)."""
    global _conn  # noqa: PLW0603 - a per-process cache
    import os

    path = str(paths.db_path())
    if _conn is None or _conn[0] != path or _conn[1] != os.getpid():
        _conn = (path, os.getpid(), state.connect())
    return _conn[2]


_FIELDS = "key, status, last_success, last_failure, last_error, failures, backoff_until, attempts"


def get(key: str) -> Health:
    row = _db().execute(f"SELECT {_FIELDS} FROM ssh_health WHERE key = ?",  # noqa: S608
                        (key,)).fetchone()
    return Health(*row) if row else Health(key)


def _put(conn: sqlite3.Connection, h: Health) -> None:
    conn.execute(f"INSERT OR REPLACE INTO ssh_health({_FIELDS}) "  # noqa: S608
                 "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                 (h.key, h.status, h.last_success, h.last_failure, h.last_error, h.failures,
                  h.backoff_until, h.attempts))


def mark_healthy(key: str, *, attempt: bool = False) -> Health:
    conn = _db()
    with state.transaction(conn):
        old = get(key)
        h = Health(key, "healthy", time.time(), old.last_failure, old.last_error, 0, 0.0,
                   old.attempts + (1 if attempt else 0))
        _put(conn, h)
    return h


def mark_failed(key: str, error: str, *, attempt: bool = True) -> Health:
    """Record a failure: one more consecutive failure, and the backoff that follows."""
    conn = _db()
    with state.transaction(conn):
        old = get(key)
        now = time.time()
        failures = old.failures + 1
        h = Health(key, "unhealthy", old.last_success, now, error[:500], failures,
                   now + backoff_for(failures), old.attempts + (1 if attempt else 0))
        _put(conn, h)
    return h


def reset(key: str) -> None:
    conn = _db()
    with state.transaction(conn):
        conn.execute("DELETE FROM ssh_health WHERE key = ?", (key,))


def all_health() -> list[Health]:
    rows = _db().execute(f"SELECT {_FIELDS} FROM ssh_health ORDER BY key").fetchall()  # noqa: S608
    return [Health(*row) for row in rows]
