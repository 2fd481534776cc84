"""Bringing a snapshot back, and deleting a workspace: the operations that replace or
remove what is in one, so each refuses while anything there is saved nowhere else (unless
forced) and snapshots it first (docs/workspaces.md)."""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from dataclasses import dataclass

from devenv import state
from devenv.errors import ConflictError, DevenvError, safe_text
from devenv.state import Workspace
from devenv.workspaces import hostgit, names, scripts, snapshots, sync
from devenv.workspaces.common import (
    create_local,
    create_remote,
    exists,
    forget,
    record,
    save,
    target_of,
    unsaved_of,
)
from devenv.workspaces.project import Project
from devenv.workspaces.targets import Target, check_spec


async def restore(p: Project, name: str, stamp: str | None = None, *, into: str | None = None,
                  on: str | None = None, force: bool = False) -> tuple[Workspace, str]:
    """Bring snapshot ``stamp`` of ``name`` (default: the newest) back into workspace
    ``into`` (default: ``name``): created if missing (on ``on``), else replaced, which
    needs ``force`` when it holds unsaved work (and is snapshotted first anyway)."""
    names.check(name)
    dest = names.check(into or name)
    ref, snap = await snapshots.describe(p.repo, name, stamp)
    conn = state.connect()
    try:
        existing = state.workspace(conn, p.path, dest)
        gone = state.workspace(conn, p.path, dest, deleted=True)
    finally:
        conn.close()
    if existing is not None and on is not None and check_spec(on) != existing.target:
        raise ConflictError(f"workspace {dest!r} exists on {existing.target}",
                            "restore into a new workspace: --into NEW")
    # A deleted workspace comes back where it was, unless told otherwise.
    spec = existing.target if existing is not None else check_spec(
        on if on is not None or gone is None else gone.target)
    branch = gone.branch if gone is not None else names.default_branch(dest)
    ws = existing or Workspace(p.path, dest, spec, branch, snap.base or snap.head,
                               time.time())
    async with target_of(p, spec) as target:
        if target.remote:
            await sync.sync(target, trusted=p.trusted,
                            extra=(f"+{ref}:refs/devenv/restore/{dest}",))
        if existing is not None and not await exists(target, existing):
            existing = None  # its directory went (a volume removed by hand): made again
            forget(ws, target)
        if not target.remote and not force:
            await _refuse_moving_a_project_branch(p, ws.branch, snap.head)
        if existing is not None:
            if not force:
                await _refuse_losing(target, existing, "restoring into",
                                     "restore into a new one (--into NEW), or --force (it "
                                     "is snapshotted first)")
            await snapshots.take(target, existing, trusted=p.trusted)
        elif target.remote:  # made detached: the restore puts the branch where it was
            await create_remote(target, dest, "", snap.head, trusted=p.trusted)
        else:
            await create_local(p, target, Workspace(p.path, dest, spec, "", snap.head))
        if existing is None:
            save(ws, target)
        await snapshots.put_back(target, ws, snap, trusted=p.trusted)
    return ws, ref


async def _refuse_losing(target: Target, ws: Workspace, doing: str, hint: str) -> None:
    """Refuse ``doing`` the workspace while processes work in it (they would lose what they
    write after the snapshot) or while it holds work saved nowhere else."""
    out = await target.run(scripts.BUSY, target.dir(ws.name))
    found = [line.split(" ", 1) for line in out.splitlines() if line.strip()]
    if found:
        shown = ", ".join(f"{safe_text(c[1] if len(c) > 1 else '?')} ({c[0]})"
                          for c in found[:5])
        raise ConflictError(f"{doing} workspace {ws.name!r}: processes work in it: {shown}",
                            "end them first (devenv sessions --kill SESSION), or --force")
    unsaved = await unsaved_of(target, ws)
    if not unsaved.empty:
        raise ConflictError(f"workspace {ws.name!r} has unsaved work: "
                            + "; ".join(unsaved.kinds()), hint)


async def _refuse_moving_a_project_branch(p: Project, branch: str, head: str) -> None:
    """A local workspace's branch is the project's own: a restore moves it only forward."""
    tip = await hostgit.git(p.repo, "rev-parse", "--verify", "--quiet",
                            f"refs/heads/{branch}", trusted=False, check=False)
    if tip.returncode != 0:
        return
    ahead = await hostgit.git(p.repo, "merge-base", "--is-ancestor", tip.stdout.strip(),
                              head, trusted=False, check=False)
    if ahead.returncode != 0:
        raise ConflictError(f"branch {branch} of {p.repo} has commits the snapshot lacks; "
                            "restoring would move it back",
                            "restore into a new workspace (--into NEW), or --force")


@dataclass(frozen=True)
class Deleted:
    workspace: Workspace
    snapshot: snapshots.Taken  # its last state


async def delete(p: Project, name: str, *, force: bool = False) -> Deleted:
    """Delete workspace ``name``: refused while it holds work saved nowhere else (unless
    ``force``); snapshotted first in every case."""
    ws = record(p, name)
    async with target_of(p, ws.target) as target:
        if target.remote:  # the project's refs, as they are now
            with contextlib.suppress(sync.HistoryError):  # else the last synced ones count
                await sync.sync(target, trusted=p.trusted)
        if not force:
            await _refuse_losing(target, ws, "deleting",
                                           f"bring it home (devenv workspace pull {name}) or "
                                           "commit it, or delete --force (it is snapshotted "
                                           "first)")
        taken = await snapshots.take(target, ws, trusted=p.trusted)
        if target.remote:
            await target.run(scripts.REMOVE, target.root, name)
        else:
            await _remove_local(p, target, ws)
        forget(ws, target)
    return Deleted(ws, taken)


async def _remove_local(p: Project, target: Target, ws: Workspace) -> None:
    path = target.dir(ws.name)
    result = await hostgit.git(p.repo, "worktree", "remove", "--force", "--force", path,
                               trusted=p.trusted, check=False)
    if result.returncode != 0 and os.path.lexists(path):
        # Only ever the worktree's own directory under devenv's worktree root, checked on
        # the resolved path: never a recursive delete of anything else.
        root = os.path.realpath(target.root)
        real = os.path.realpath(path)
        if os.path.islink(path) or real != os.path.join(root, ws.name):
            raise DevenvError(f"{path} resolves to {real}, outside devenv's worktrees; "
                              "not removed", "look at it, and remove it yourself")
        shutil.rmtree(path)
    await hostgit.git(p.repo, "worktree", "prune", trusted=p.trusted, check=False)
