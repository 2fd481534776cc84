"""The workspace operations (the library behind ``devenv workspace``): create, list, diff,
pull, snapshot, restore, delete, sync. Never lose work: anything that could destroy a
workspace snapshots it into the project's repository first, and ``delete`` without
``force`` refuses while anything in it is saved nowhere else (docs/workspaces.md)."""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

from devenv import state
from devenv.errors import ConflictError, DevenvError, NotFoundError, UsageError, safe_text
from devenv.state import Workspace
from devenv.workspaces import hostgit, names, scripts, snapshots, sync
from devenv.workspaces.project import Project, project
from devenv.workspaces.status import Unsaved, parse_status
from devenv.workspaces.targets import (
    ENV,
    ENV_ROOT,
    LOCAL,
    Target,
    TargetError,
    check_spec,
    open_target,
)

__all__ = ["Deleted", "Listed", "Project", "Pulled", "create", "delete", "diff", "exists",
           "listing", "project", "pull", "restore", "snapshot", "sync_target"]

PROJECT_GLOB = "refs/devenv/project/*"
LACKS = 19  # CREATE: the commit is not on the target yet


def _record(p: Project, name: str) -> Workspace:
    conn = state.connect()
    try:
        ws = state.workspace(conn, p.path, names.check(name))
    finally:
        conn.close()
    if ws is None:
        raise NotFoundError(f"no workspace {name!r} in {p.path}",
                            "devenv workspace list shows them")
    return ws


@contextlib.asynccontextmanager
async def _target(p: Project, spec: str) -> AsyncIterator[Target]:
    target = open_target(p.path, p.repo, spec)
    try:
        yield target
    finally:
        await target.close()


async def _status(target: Target, ws: Workspace) -> Unsaved:
    branch = f"refs/heads/{ws.branch}" if ws.branch else ""
    if target.remote:
        data = await target.run_bytes(scripts.STATUS, target.dir(ws.name), PROJECT_GLOB,
                                      branch, "all", target.repo, ws=ws.name)
    else:
        data = await target.run_bytes(scripts.STATUS, target.dir(ws.name), "", branch,
                                      "branch", "", ws=ws.name)
    return parse_status(data)


async def exists(target: Target, ws: Workspace) -> bool:
    """Whether the workspace's directory is still there (a checkout in it)."""
    out = await target.run(scripts.EXISTS, target.dir(ws.name))
    return out.strip() == "yes"


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
    async with _target(p, spec) as target:
        if target.remote:
            if changes:
                await sync.sync(target, trusted=p.trusted,
                                extra=(f"+{changes}:refs/devenv/uncommitted/{name}",))
            try:  # nothing to send when the target has the commit already
                await _create_remote(target, name, branch, base, trusted=p.trusted)
            except TargetError as e:
                if e.code != LACKS:
                    raise
                await sync.sync(target, trusted=p.trusted)
                await _create_remote(target, name, branch, base, trusted=p.trusted)
        else:
            await _create_local(p, target, ws)
        if changes:
            await target.run(scripts.APPLY, target.dir(name), changes,
                             trusted=p.trusted, ws=name)
        _save(ws, target)
        from devenv import config
        from devenv.workspaces import setup

        await setup.prepare(p, target, ws, config.load(p.path))
    return ws


async def _create_remote(target: Target, name: str, branch: str, commit: str, *,
                         trusted: bool) -> None:
    """Make the workspace on the target under its lock (``branch`` "": detached)."""
    await target.run(scripts.LOCKED, target.root, "sh", "-c", scripts.CREATE, "sh",
                     target.root, name, branch, commit, trusted=trusted)


async def _create_local(p: Project, target: Target, ws: Workspace) -> None:
    path = target.dir(ws.name)
    if os.path.lexists(path):
        raise ConflictError(f"{path} exists already", "move it away; devenv never "
                            "overwrites it")
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    if ws.branch:
        exists = await hostgit.git(p.repo, "rev-parse", "--verify", "--quiet",
                                   f"refs/heads/{ws.branch}", trusted=False, check=False)
        if exists.returncode == 0:
            raise ConflictError(f"branch {ws.branch} exists already in {p.repo}",
                                "give the workspace another name, or --branch")
    how = ["-b", ws.branch] if ws.branch else ["--detach"]
    result = await hostgit.git(p.repo, "-c", "checkout.workers=0", "worktree", "add",
                               "--quiet", *how, path, ws.base,
                               trusted=p.trusted, check=False)
    if result.returncode != 0:
        raise DevenvError(f"git worktree add {path} failed: {hostgit.last_words(result)}")


def _save(ws: Workspace, target: Target) -> None:
    conn = state.connect()
    try:
        with state.transaction(conn):
            if state.workspace(conn, ws.project, ws.name) is not None:
                raise ConflictError(f"workspace {ws.name!r} was created meanwhile",
                                    "another devenv made one of that name")
            state.add_workspace(conn, ws)
            if target.env_name:
                _mark(target.env_name, True)
    finally:
        conn.close()


def _forget(ws: Workspace, target: Target) -> None:
    conn = state.connect()
    try:
        with state.transaction(conn):
            state.remove_workspace(conn, ws.project, ws.name)
            left = [w for w in state.workspaces(conn, ws.project) if w.target == ENV]
            if target.env_name and not left:
                _mark(target.env_name, False)
    finally:
        conn.close()


def _mark(env_name: str, present: bool) -> None:
    """The marker that sends this environment's stop the full way (paths.workspaces_marker)."""
    from devenv import paths

    marker = paths.workspaces_marker(env_name)
    if present:
        os.makedirs(os.path.dirname(marker), mode=0o700, exist_ok=True)
        with open(marker, "a", encoding="utf-8"):
            pass
    else:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(marker)


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
        async with _target(p, spec) as target:
            for ws in mine:
                try:
                    status = (await _status(target, ws)).brief()
                except DevenvError as e:
                    status = f"unreachable: {e.message}"
                out.append(Listed(ws, target.dir(ws.name), status))
    return sorted(out, key=lambda item: item.workspace.name)


def _env_running(path: str) -> bool:
    from devenv.envs import reach

    return reach.find(path, probe=False) is not None


async def diff(p: Project, name: str, *, stat: bool = False) -> bytes:
    ws = _record(p, name)
    async with _target(p, ws.target) as target:
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
    ws = _record(p, name)
    if not ws.branch:
        raise UsageError(f"workspace {name!r} has no branch to pull")
    async with _target(p, ws.target) as target:
        unsaved = await _status(target, ws)
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
    ws = _record(p, name)
    async with _target(p, ws.target) as target:
        return await snapshots.take(target, ws, trusted=p.trusted)


async def sync_target(p: Project, on: str | None = None) -> sync.Synced:
    spec = check_spec(on)
    if spec == LOCAL:
        raise UsageError("local workspaces share the project's repository; there is "
                         "nothing to sync", "sync to the environment or an SSH host")
    async with _target(p, spec) as target:
        return await sync.sync(target, trusted=p.trusted)


# -- restore, delete --------------------------------------------------------------------

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
    async with _target(p, spec) as target:
        if target.remote:
            await sync.sync(target, trusted=p.trusted,
                            extra=(f"+{ref}:refs/devenv/restore/{dest}",))
        if existing is not None and not await exists(target, existing):
            existing = None  # its directory went (a volume removed by hand): made again
            _forget(ws, target)
        if not target.remote and not force:
            await _refuse_moving_a_project_branch(p, ws.branch, snap.head)
        if existing is not None:
            if not force:
                await _refuse_losing(target, existing, "restoring into",
                                     "restore into a new one (--into NEW), or --force (it "
                                     "is snapshotted first)")
            await snapshots.take(target, existing, trusted=p.trusted)
        elif target.remote:  # made detached: the restore puts the branch where it was
            await _create_remote(target, dest, "", snap.head, trusted=p.trusted)
        else:
            await _create_local(p, target, Workspace(p.path, dest, spec, "", snap.head))
        if existing is None:
            _save(ws, target)
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
    unsaved = await _status(target, ws)
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
    ws = _record(p, name)
    async with _target(p, ws.target) as target:
        if target.remote:
            await sync.sync(target, trusted=p.trusted)  # the project's refs, as they are now
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
        _forget(ws, target)
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
