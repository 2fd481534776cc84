"""``devenv stop PATH|NAME...`` and ``devenv stop --all``."""

from __future__ import annotations

from devenv import state
from devenv.envs import known, stopping
from devenv.envs.quickstop import MAX_STOP_TIME
from devenv.errors import UsageError


def run(targets: list[str], *, all_: bool = False, force: bool = False,
        grace: float | None = None) -> int:
    if grace is not None and not 0 <= grace <= MAX_STOP_TIME:  # also refuses nan
        raise UsageError(f"--time must be 0 to {MAX_STOP_TIME} seconds, not {grace:g}")
    if all_ and targets:
        raise UsageError("give either PATH|NAME arguments or --all, not both")
    if not all_ and not targets:
        raise UsageError("nothing to stop", "name an environment (PATH or NAME) or use --all")
    conn = state.connect()  # one connection for the whole command
    try:
        names = ([r.name for r in known.list_envs(exact=False, conn=conn)] if all_
                 else known.resolve_names(targets, conn=conn, say=True))
        from devenv.workspaces import guard

        guard.snapshot_before(names, doing="stopping", strict=False)
        stopped = stopping.stop(names, force=force, conn=conn, grace=grace)
    finally:
        conn.close()
    for name, was_running in stopped:
        print(f"stopped {name}" if was_running else f"{name} was not running")
    return 0
