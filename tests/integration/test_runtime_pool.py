"""The connection pool against a real sshd whose limits are lower than the pool's: sessions
the server refuses are retried on a master it will open them on, never lost.

The target is devenv's default image (``MaxSessions 64``) run as a throwaway sshd
(:mod:`runtime_fixtures`)."""

from __future__ import annotations

import asyncio
from typing import Any

from devenv.runtime import SSHRuntime
from tests.integration.runtime_fixtures import Sshd, aio, sshd  # noqa: F401 - fixtures

MAX_SESSIONS = 64  # devenv's sshd_config


def test_sessions_past_max_sessions_are_retried_not_failed(sshd: Sshd, aio: Any) -> None:
    """A runtime allowed more channels per master than sshd's MaxSessions: the sessions sshd
    refuses lower that master's limit and run again (elsewhere or a little later), so all
    100 concurrent commands succeed with their own output."""
    runtime = SSHRuntime(sshd.target(), max_channels=MAX_SESSIONS + 16, max_masters=4)
    n = 100

    async def burst() -> list[Any]:
        return await asyncio.gather(
            *[runtime.exec(["sh", "-c", f"sleep 1; echo {i}"], timeout=60) for i in range(n)],
            return_exceptions=True)

    try:
        results = aio(burst())
        failed = [r for r in results if isinstance(r, BaseException)]
        assert not failed, f"{len(failed)} of {n} failed, e.g. {failed[0]!r}"
        assert [r.stdout for r in results] == [f"{i}\n".encode() for i in range(n)]
        assert all(r.exit_code == 0 for r in results)
        masters = runtime.pool._targets[runtime.endpoint.key].masters
        # sshd refused sessions on the first master: its limit came down from the runtime's
        # 80 to what it carried then (MaxSessions, give or take the sessions that were
        # ending at that moment, which sshd no longer counted and the pool still did).
        assert masters[0].limit and masters[0].limit < MAX_SESSIONS + 16, masters
    finally:
        aio(runtime.close())
