"""The workspace operations (the library behind ``devenv workspace``): create, list, diff,
pull, snapshot, restore, delete, sync. Never lose work: anything that could destroy a
workspace snapshots it into the project's repository first, and ``delete`` without
``force`` refuses while anything in it is saved nowhere else (docs/workspaces.md)."""

from __future__ import annotations

import time
from dataclasses import dataclass

from devenv import state
from devenv.errors import ConflictError, DevenvError, UsageError
from devenv.state import Workspace
from devenv.workspaces import hostgit, names, scripts, snapshots, sync
from devenv.workspaces.common import (
    LACKS,
    create_local,
    create_remote,
    exists,
    record,
    save,
    target_of,
    unsaved_each,
    unsaved_of,
)
from devenv.workspaces.project import Project, project
from devenv.workspaces.recovery import Deleted, delete, restore
from devenv.workspaces.status import Unsaved
from devenv.workspaces.targets import ENV, ENV_ROOT, LOCAL, Target, TargetError, check_spec

__all__ = ["Deleted", "Listed", "Project", "Pulled", "create", "delete", "diff", "exists",
           "listing", "project", "pull", "restore", "snapshot", "sync_target"]

# -- create -----------------------------------------------------------------------------

async def create(p: Project, name: str, *, on: str | None = None, from_ref: str = "HEAD",
                 branch: str | None = None, include_uncommitted: bool = False) -> Workspace:
    """A new workspace ``name`` on target ``on`` (default: the environment), on its own
    branch (``devenv/NAME``) from ``from_ref``; ``include_uncommitted``: with the project's
    uncommitted and untracked changes on top, uncommitted there too."""
    names.check(name)
    spec = check_spec(on)
    branch = names.check_branch(branch) if branch else names.default_branch(name)
    conn = state.connect()
    try:
        if state.workspace(conn, p.path, name) is not None:
            raise ConflictError(f"workspace {name!r} exists already",
                                f"use it (devenv . --workspace {name}), or pick another name")
    finally:
        conn.close()
    base = await hostgit.commit_of(p.repo, from_ref)
    changes = None
    if include_uncommitted:
        if base != await hostgit.commit_of(p.repo, "HEAD"):
            raise UsageError("--include-uncommitted brings the changes against the project's "
                             "HEAD; --from names another commit", "leave one of them out")
        changes = await hostgit.worktree_commit(p.repo, base)
    ws = Workspace(p.path, name, spec, branch, base, time.time())
    async with target_of(p, spec) as target:
        if target.remote:
            await sync.require_history(p.repo)  # before anything is made there
            if changes:
                await sync.sync(target, trusted=p.trusted,
                                extra=(f"+{changes}:refs/devenv/uncommitted/{name}",))
            try:  # nothing to send when the target has the commit already
                await create_remote(target, name, branch, base, trusted=p.trusted)
            except TargetError as e:
                if e.code != LACKS:
                    raise
                # The project's refs, and the start itself (a detached HEAD, --from SHA:
                # no branch or tag need reach it).
                await sync.sync(target, trusted=p.trusted,
                                extra=(f"+{base}:refs/devenv/start/{name}",))
                await create_remote(target, name, branch, base, trusted=p.trusted)
        else:
            await create_local(p, target, ws)
        if changes:
            await target.run(scripts.APPLY, target.dir(name), changes,
                             trusted=p.trusted, ws=name)
        save(ws, target)
        from devenv import config
        from devenv.workspaces import setup

        await setup.prepare(p, target, ws, config.load(p.path))
    return ws


# -- list, diff, pull, snapshot ---------------------------------------------------------

@dataclass
class Listed:
    workspace: Workspace
    path: str
    status: str  # "clean", "2 modified, 1 untracked", or why it is unknown


async def listing(p: Project) -> list[Listed]:
    conn = state.connect()
    try:
        found = state.workspaces(conn, p.path)
    finally:
        conn.close()
    out = []
    for spec in sorted({ws.target for ws in found}):
        mine = [ws for ws in found if ws.target == spec]
        if spec == ENV and not _env_running(p.path):
            out += [Listed(ws, f"{ENV_ROOT}/{ws.name}", "environment stopped") for ws in mine]
            continue
        async with target_of(p, spec) as target:
            for ws, got in zip(mine, await _unsaved_all(target, mine), strict=True):
                status = got.brief() if isinstance(got, Unsaved) else f"unreachable: {got}"
                out.append(Listed(ws, target.dir(ws.name), status))
    return sorted(out, key=lambda item: item.workspace.name)


async def _unsaved_all(target: Target, wss: list[Workspace]) -> list[Unsaved | str]:
    """What is unsaved in each of ``wss``, or why that is unknown: one trip to a remote
    target; a local one asks each worktree (its git directories are its own)."""
    if target.remote:
        try:
            return await unsaved_each(target, wss)
        except DevenvError as e:
            return [e.message] * len(wss)
    out: list[Unsaved | str] = []
    for ws in wss:
        try:
            out.append(await unsaved_of(target, ws))
        except DevenvError as e:
            out.append(e.message)
    return out


def _env_running(path: str) -> bool:
    from devenv.envs import reach

    return reach.find(path, probe=False) is not None


async def diff(p: Project, name: str, *, stat: bool = False) -> bytes:
    ws = record(p, name)
    async with target_of(p, ws.target) as target:
        return await target.run_bytes(scripts.DIFF, target.dir(name), ws.base,
                                      "1" if stat else "0", trusted=p.trusted, ws=name)


@dataclass(frozen=True)
class Pulled:
    branch: str
    tip: str
    unsaved: Unsaved  # what a pull does not bring: its uncommitted part stayed there


async def pull(p: Project, name: str) -> Pulled:
    """Fetch the workspace's branch into the project as the same branch (fast-forward only;
    the user's checked-out branch and working tree are never touched)."""
    ws = record(p, name)
    if not ws.branch:
        raise UsageError(f"workspace {name!r} has no branch to pull")
    async with target_of(p, ws.target) as target:
        unsaved = await unsaved_of(target, ws)
        if not target.remote:  # the worktree's branch is the project's already
            tip = await hostgit.commit_of(p.repo, f"refs/heads/{ws.branch}")
            return Pulled(ws.branch, tip, unsaved)
        async with target.git_ssh() as (env, url):
            result = await hostgit.git(
                p.repo, *hostgit.FETCH,
                f"--upload-pack={target.upload_pack}",
                url + target.dir(name), f"refs/heads/{ws.branch}:refs/heads/{ws.branch}",
                trusted=p.trusted, env=env, check=False, timeout=sync.SYNC_TIMEOUT)
    if result.returncode != 0:
        said = hostgit.last_words(result)
        hint = ("your branch has commits the workspace's lacks: rename yours (git branch "
                f"-m {ws.branch} OTHER) and pull again" if "non-fast-forward" in said
                or "rejected" in said else "switch your checkout to another branch first"
                if "checked out" in said else None)
        raise ConflictError(f"pull of {name} failed: {said}", hint)
    tip = await hostgit.commit_of(p.repo, f"refs/heads/{ws.branch}")
    return Pulled(ws.branch, tip, unsaved)


async def snapshot(p: Project, name: str) -> snapshots.Taken:
    ws = record(p, name)
    async with target_of(p, ws.target) as target:
        return await snapshots.take(target, ws, trusted=p.trusted)


async def sync_target(p: Project, on: str | None = None) -> sync.Synced:
    spec = check_spec(on)
    if spec == LOCAL:
        raise UsageError("local workspaces share the project's repository; there is "
                         "nothing to sync", "sync to the environment or an SSH host")
    async with target_of(p, spec) as target:
        return await sync.sync(target, trusted=p.trusted)
