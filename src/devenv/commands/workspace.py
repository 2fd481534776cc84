"""``devenv workspace ACTION``: per-agent checkouts of the project on a target, their work
brought home, snapshotted and never lost (:mod:`devenv.workspaces.ops`)."""

from __future__ import annotations

import asyncio
import datetime
import json
import sys
from typing import Any

from devenv.errors import safe_text
from devenv.workspaces import ops, snapshots


def run(action: str | None, args: dict[str, Any]) -> int:
    if action is None:
        from devenv.errors import UsageError

        raise UsageError("which workspace action?", "devenv workspace --help lists them")
    from devenv.workspaces import names

    # Bad input is refused before anything is looked at or created.
    for key in ("name", "into"):
        if args.get(key) is not None:
            names.check(args[key])
    if args.get("branch") is not None:
        names.check_branch(args["branch"])
    if args.get("snapshot") is not None:
        names.check_stamp(args["snapshot"])
    code: int = asyncio.run(_ACTIONS[action](**args))
    return code


def _short(commit: str) -> str:
    return commit[:12]


async def _create(name: str, path: str, *, on: str | None, from_ref: str,
                  branch: str | None, include_uncommitted: bool) -> int:
    p = await ops.project(path)
    ws = await ops.create(p, name, on=on, from_ref=from_ref, branch=branch,
                          include_uncommitted=include_uncommitted)
    where = "this machine" if ws.target == "local" else (
        "the environment" if ws.target == "env" else ws.target)
    print(f"created workspace {name} on {where} (branch {ws.branch} from "
          f"{_short(ws.base)})")
    return 0


async def _list(path: str, json_: bool = False) -> int:
    p = await ops.project(path)
    found = await ops.listing(p)
    if json_:
        print(json.dumps([{"name": i.workspace.name, "target": i.workspace.target,
                           "branch": i.workspace.branch, "base": i.workspace.base,
                           "path": i.path, "status": i.status,
                           "created": i.workspace.created} for i in found], indent=2))
        return 0
    if not found:
        print(f"no workspaces in {p.path}; devenv workspace create NAME makes one")
        return 0
    from devenv.table import print_table

    print_table([("NAME", "TARGET", "BRANCH", "BASE", "UNSAVED", "PATH"),
                 *[(i.workspace.name, i.workspace.target, i.workspace.branch,
                    i.workspace.base[:8], i.status, safe_text(i.path)) for i in found]])
    return 0


async def _diff(name: str, path: str, stat: bool) -> int:
    p = await ops.project(path)
    out = await ops.diff(p, name, stat=stat)
    if sys.stdout.isatty():  # what an agent wrote is shown, never obeyed by the terminal
        out = safe_text(out.decode("utf-8", "replace"), keep="\n\t").encode()
    sys.stdout.buffer.write(out)
    sys.stdout.flush()
    return 0


async def _pull(name: str, path: str) -> int:
    p = await ops.project(path)
    pulled = await ops.pull(p, name)
    print(f"{pulled.branch} is at {_short(pulled.tip)} in {p.repo}")
    left = pulled.unsaved.kinds(commits=False)
    if left:
        print(f"not pulled (uncommitted in the workspace): {'; '.join(left)}",
              file=sys.stderr)
    return 0


async def _snapshot(name: str, path: str) -> int:
    p = await ops.project(path)
    taken = await ops.snapshot(p, name)
    print(f"snapshot {taken.stamp} of {name}: {taken.ref} ({_short(taken.id)})")
    return 0


async def _snapshots(name: str | None, path: str, json_: bool = False) -> int:
    p = await ops.project(path)
    found = [s for s in await snapshots.all_snapshots(p.repo) if name is None or s[0] == name]
    if json_:
        print(json.dumps([{"workspace": w, "snapshot": s, "time": t} for w, s, t in found],
                         indent=2))
        return 0
    if not found:
        print("no snapshots" + (f" of {name}" if name else ""))
        return 0
    from devenv.table import print_table

    print_table([("WORKSPACE", "SNAPSHOT", "TAKEN"),
                 *[(w, s, datetime.datetime.fromtimestamp(t).strftime("%Y-%m-%d %H:%M:%S"))
                   for w, s, t in found]])
    return 0


async def _restore(name: str, snapshot: str | None, path: str, *, on: str | None,
                   into: str | None, force: bool) -> int:
    p = await ops.project(path)
    ws, ref = await ops.restore(p, name, snapshot, into=into, on=on, force=force)
    print(f"restored {ref} into workspace {ws.name} ({ws.target})")
    return 0


async def _delete(name: str, path: str, force: bool) -> int:
    p = await ops.project(path)
    gone = await ops.delete(p, name, force=force)
    print(f"deleted workspace {name}; its last state is snapshot {gone.snapshot.stamp} "
          f"({gone.snapshot.ref}): devenv workspace restore {name} brings it back")
    return 0


async def _sync(path: str, on: str | None) -> int:
    p = await ops.project(path)
    done = await ops.sync_target(p, on)
    print(f"synced {p.repo}: {done.updated} ref(s) updated")
    return 0


_ACTIONS: dict[str, Any] = {
    "create": _create, "list": _list, "diff": _diff, "pull": _pull, "snapshot": _snapshot,
    "snapshots": _snapshots, "restore": _restore, "delete": _delete, "sync": _sync,
}
