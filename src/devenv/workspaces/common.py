"""What the workspace operations share: a workspace's record, its target, its status, and
making or forgetting a workspace on a target (docs/workspaces.md)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator

from devenv import state
from devenv.errors import ConflictError, DevenvError, NotFoundError, safe_text
from devenv.state import Workspace
from devenv.workspaces import hostgit, names, scripts
from devenv.workspaces.project import Project
from devenv.workspaces.status import Unsaved, parse_status
from devenv.workspaces.targets import ENV, Target, open_target

PROJECT_GLOB = "refs/devenv/project/*"
LACKS = 19  # CREATE: the commit is not on the target yet


def record(p: Project, name: str) -> Workspace:
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
async def target_of(p: Project, spec: str) -> AsyncIterator[Target]:
    target = open_target(p.path, p.repo, spec)
    try:
        yield target
    finally:
        await target.close()


async def unsaved_of(target: Target, ws: Workspace) -> Unsaved:
    branch = f"refs/heads/{ws.branch}" if ws.branch else ""
    if target.remote:
        data = await target.run_bytes(scripts.STATUS, target.dir(ws.name), PROJECT_GLOB,
                                      branch, "all", target.repo, ws=ws.name)
    else:
        data = await target.run_bytes(scripts.STATUS, target.dir(ws.name), "", branch,
                                      "branch", "", ws=ws.name)
    return parse_status(data)


async def unsaved_each(target: Target, wss: list[Workspace]) -> list[Unsaved | str]:
    """:func:`unsaved_of` for each of ``wss`` on a remote target, in one trip: for each,
    what is unsaved, or why that is unknown."""
    args = [w for ws in wss for w in (target.dir(ws.name),
                                      f"refs/heads/{ws.branch}" if ws.branch else "")]
    data = await target.run_bytes(scripts.STATUS_EACH, scripts.STATUS, PROJECT_GLOB, "all",
                                  target.repo, *args)
    out: list[Unsaved | str] = []
    for _ in wss:
        head, nl, data = data.partition(b"\n")
        fields = head.split()
        if not nl or len(fields) != 2 or not all(f.isdigit() for f in fields) or \
                int(fields[1]) > len(data):
            out.append("no answer")
            data = b""
            continue
        size = int(fields[1])
        body, data = data[:size], data[size:]
        if fields[0] != b"0":
            out.append(safe_text(body.decode("utf-8", "replace").strip()[:300])
                       or f"exit {int(fields[0])}")
            continue
        try:
            out.append(parse_status(body))
        except DevenvError as e:
            out.append(e.message)
    return out


async def exists(target: Target, ws: Workspace) -> bool:
    """Whether the workspace's checkout is still there. Files without a ``.git`` (removed
    by an agent) are an error: no snapshot can hold them, and nothing may replace them."""
    out = (await target.run(scripts.EXISTS, target.dir(ws.name))).strip()
    if out == "files":
        raise ConflictError(f"workspace {ws.name!r} on {target.label} has files but no .git: "
                            "devenv cannot snapshot it",
                            f"save what is in {target.dir(ws.name)}, then remove it there")
    return out == "yes"



async def create_remote(target: Target, name: str, branch: str, commit: str, *,
                         trusted: bool) -> None:
    """Make the workspace on the target under its lock (``branch`` "": detached)."""
    await target.run(scripts.LOCKED, target.root, "sh", "-c", scripts.CREATE, "sh",
                     target.root, name, branch, commit, trusted=trusted)


async def create_local(p: Project, target: Target, ws: Workspace) -> None:
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


def save(ws: Workspace, target: Target) -> None:
    conn = state.connect()
    try:
        with state.transaction(conn):
            if state.workspace(conn, ws.project, ws.name) is not None:
                raise ConflictError(f"workspace {ws.name!r} was created meanwhile",
                                    "another devenv made one of that name")
            state.add_workspace(conn, ws)
            if target.env_name:
                mark(target.env_name, True)
    finally:
        conn.close()


def forget(ws: Workspace, target: Target) -> None:
    conn = state.connect()
    try:
        with state.transaction(conn):
            state.remove_workspace(conn, ws.project, ws.name)
            left = [w for w in state.workspaces(conn, ws.project) if w.target == ENV]
            if target.env_name and not left:
                mark(target.env_name, False)
    finally:
        conn.close()


def mark(env_name: str, present: bool) -> None:
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
