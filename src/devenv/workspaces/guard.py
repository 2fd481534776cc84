"""Snapshots before anything that could destroy an environment's workspaces: ``devenv
stop`` and ``up --recreate`` (best effort: they must not be held hostage; the volume stays,
but what runs there ends), ``devenv rm`` (the volume may go now or be collected later: a
failed snapshot stops it, unless forced) (docs/workspaces.md).
"""

from __future__ import annotations

import asyncio
import sys

from devenv import state
from devenv.errors import DevenvError
from devenv.workspaces import ops, snapshots
from devenv.workspaces.targets import ENV, open_target


def env_workspaces(names: list[str]) -> list[tuple[str, list[state.Workspace]]]:
    """The environment workspaces of the environments ``names``: (project path, them)."""
    conn = state.connect()
    try:
        out = []
        for name in names:
            project = state.project_by_name(conn, name)
            if project is None:
                continue
            mine = [w for w in state.workspaces(conn, project.path) if w.target == ENV]
            if mine:
                out.append((project.path, mine))
        return out
    finally:
        conn.close()


def snapshot_before(names: list[str], *, doing: str, strict: bool) -> None:
    """Snapshot every workspace in the environments ``names`` before ``doing`` them.
    ``strict``: a stopped environment is started for it, and a failure is an error;
    otherwise only running ones are snapshotted and a failure is a warning."""
    for path, found in env_workspaces(names):
        if not strict:
            from devenv.envs import reach

            if reach.find(path, probe=False) is None:
                continue  # snapshotted when it stopped
        try:
            asyncio.run(_snapshot_all(path, found))
        except Exception as e:  # noqa: BLE001 - whatever went wrong, the stop goes on
            said = e.message if isinstance(e, DevenvError) else f"{type(e).__name__}: {e}"
            if strict:
                raise DevenvError(f"could not snapshot the workspaces of {path} before "
                                  f"{doing}: {said}",
                                  "fix that, or save them yourself (devenv workspace pull/"
                                  "snapshot; docker volume rm discards them)") from None
            print(f"devenv: warning: workspaces of {path} not snapshotted before {doing}: "
                  f"{said}", file=sys.stderr)


async def _snapshot_all(path: str, found: list[state.Workspace]) -> None:
    p = await ops.project(path)
    target = open_target(p.path, p.repo, ENV)
    try:
        for ws in found:
            if not await ops.exists(target, ws):  # removed by hand: nothing left to keep
                print(f"devenv: workspace {ws.name}: its directory is gone; nothing to "
                      "snapshot", file=sys.stderr)
                continue
            taken = await snapshots.take(target, ws, trusted=p.trusted, unless_unchanged=True)
            print(f"devenv: workspace {ws.name}: snapshot {taken.stamp}", file=sys.stderr)
    finally:
        await target.close()


def forget(found: list[tuple[str, list[state.Workspace]]]) -> None:
    """The environments' volumes are gone: their workspaces are deleted (restorable from
    the snapshots taken first, back into the environment)."""
    conn = state.connect()
    try:
        with state.transaction(conn):
            for path, wss in found:
                for ws in wss:
                    state.remove_workspace(conn, path, ws.name)
    finally:
        conn.close()
