"""Snapshots: a workspace's whole state as commits under ``refs/devenv/snapshots/<NAME>/``
in the project's own repository on this machine (docs/workspaces.md), and bringing one back.

Taking one never changes the workspace (its index, working tree and stash stay as they
are); the target writes the commits, this machine fetches them (objects checked)."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass

from devenv.errors import ConflictError, NotFoundError, safe_text
from devenv.state import Workspace
from devenv.workspaces import hostgit, names, snapshot_scripts
from devenv.workspaces.status import Snapshot, parse_snapshot
from devenv.workspaces.targets import Target

CAPTURE_TIMEOUT = 600.0  # seconds: hashing every changed and untracked file


@dataclass(frozen=True)
class Taken:
    workspace: str
    stamp: str
    id: str

    @property
    def ref(self) -> str:
        return names.snapshot_prefix(self.workspace) + self.stamp


async def _free_stamp(repo: str, name: str) -> str:
    stamp = time.strftime(names.STAMP_FORMAT, time.gmtime())
    taken = set(await stamps(repo, name))
    if stamp not in taken:
        return stamp
    n = 1
    while f"{stamp}-{n}" in taken:
        n += 1
    return f"{stamp}-{n}"


async def stamps(repo: str, name: str) -> list[str]:
    """The snapshots of workspace ``name``, oldest first."""
    prefix = names.snapshot_prefix(name)
    result = await hostgit.git(repo, "for-each-ref", "--format=%(refname)", prefix,
                               trusted=False)
    # Only devenv's own names: the project's refs can be written from an environment, and a
    # planted "zzz" must neither sort as the newest nor break the sort.
    found = [line[len(prefix):] for line in result.stdout.splitlines()
             if line.startswith(prefix) and names.is_stamp(line[len(prefix):])]
    return sorted(found, key=lambda s: (s.split("-")[0], int(s.split("-")[1])
                                        if "-" in s else 0))


async def all_snapshots(repo: str) -> list[tuple[str, str, float]]:
    """Every snapshot: (workspace, stamp, when it was taken)."""
    import calendar

    result = await hostgit.git(repo, "for-each-ref", "--format=%(refname)",
                               names.SNAPSHOTS + "/", trusted=False)
    out = []
    for ref in result.stdout.splitlines():
        parts = ref[len(names.SNAPSHOTS) + 1:].split("/")
        if len(parts) == 2 and names.is_stamp(parts[1]):
            # When it was taken: this machine's clock in its name, not the target's in it.
            when = calendar.timegm(time.strptime(parts[1][:16], names.STAMP_FORMAT))
            out.append((parts[0], parts[1], float(when)))
    return out


async def _key(repo: str, commit: str) -> str:
    """What a snapshot holds, without the times in its commits: its tree, its HEAD, its
    index's tree, the rest of its parents."""
    shown = await hostgit.git(repo, "show", "-s", "--format=%T %P", commit, trusted=False)
    tree, *parents = shown.stdout.split()
    index = await hostgit.git(repo, "rev-parse", f"{commit}^2^{{tree}}", trusted=False,
                              check=False)
    return " ".join([tree, parents[0] if parents else "", index.stdout.strip(), *parents[2:]])


async def take(target: Target, ws: Workspace, *, trusted: bool,
               unless_unchanged: bool = False) -> Taken:
    """Snapshot workspace ``ws`` on ``target`` into the project's repository.
    ``unless_unchanged``: when the newest snapshot holds the same, keep just that one (the
    automatic snapshots of every stop would otherwise pile up)."""
    repo = target.repo_path
    stamp = await _free_stamp(repo, ws.name)
    final = names.snapshot_prefix(ws.name) + stamp
    # A local workspace shares the project's repository: the target writes the ref itself.
    # Its stash is the project's own, so it is not part of the snapshot.
    ref = f"refs/devenv/capture/{ws.name}" if target.remote else final
    branch_ref = f"refs/heads/{ws.branch}" if ws.branch else ""
    out = await target.run(snapshot_scripts.CAPTURE, target.dir(ws.name), ws.name, branch_ref,
                           "1" if target.remote else "0", ref, ws.base,
                           trusted=trusted, ws=ws.name, env=target.git_config,
                           timeout=CAPTURE_TIMEOUT)
    lines = out.strip().splitlines()
    commit = hostgit.sha(lines[-1] if lines else "")
    for line in lines[:-1]:
        if line.startswith("nested "):
            print(f"devenv: workspace {ws.name}: {safe_text(line[7:])} is a repository of its "
                  "own inside it, not part of the snapshot (commit it there and push it, or "
                  "move it)", file=sys.stderr)
    if target.remote:
        async with target.git_ssh() as (env, url):
            result = await hostgit.git(  # not forced: a snapshot never replaces another
                repo, *hostgit.FETCH,
                f"--upload-pack={target.upload_pack}",
                # What the target surely has: its earlier snapshots and where it started
                # (so an unchanged file is never sent again).
                f"--negotiation-tip={names.snapshot_prefix(ws.name)}*",
                f"--negotiation-tip={ws.base}",
                url + target.dir(ws.name), f"{ref}:{final}", trusted=trusted, env=env,
                timeout=CAPTURE_TIMEOUT, check=False)
        if result.returncode != 0:
            raise ConflictError(f"snapshot of {ws.name} could not be fetched from "
                                f"{target.label}: {hostgit.last_words(result)}",
                                "the workspace was not changed; try again")
        got = await hostgit.git(repo, "rev-parse", "--verify", final, trusted=False)
        if got.stdout.strip() != commit:
            raise ConflictError(f"snapshot of {ws.name} changed while it was fetched",
                                "take it again: devenv workspace snapshot " + ws.name)
    if unless_unchanged:
        before = [x for x in await stamps(repo, ws.name) if x != stamp]
        if before:
            previous = names.snapshot_prefix(ws.name) + before[-1]
            if await _key(repo, previous) == await _key(repo, final):
                await hostgit.git(repo, "update-ref", "-d", final, commit, trusted=False)
                return Taken(ws.name, before[-1], (await hostgit.git(
                    repo, "rev-parse", previous, trusted=False)).stdout.strip())
    return Taken(ws.name, stamp, commit)


async def describe(repo: str, name: str, stamp: str | None) -> tuple[str, Snapshot]:
    """The snapshot ``stamp`` of workspace ``name`` (default: the newest)."""
    found = await stamps(repo, name)
    if not found:
        raise NotFoundError(f"workspace {name!r} has no snapshots",
                            "devenv workspace snapshots lists those there are")
    if stamp is None:
        stamp = found[-1]
    elif names.check_stamp(stamp) not in found:
        raise NotFoundError(f"workspace {name!r} has no snapshot {stamp}",
                            f"it has {', '.join(found[-5:])}")
    ref = names.snapshot_prefix(name) + stamp
    commit = hostgit.sha((await hostgit.git(repo, "rev-parse", "--verify", ref,
                                            trusted=False)).stdout)
    raw = await hostgit.git(repo, "cat-file", "commit", commit, trusted=False)
    return ref, parse_snapshot(commit, raw.stdout)


async def put_back(target: Target, ws: Workspace, snap: Snapshot, *, trusted: bool) -> None:
    """Restore ``snap`` into the existing workspace ``ws`` (its objects already on the
    target: the caller synced them)."""
    refs = "\n".join(f"{ref_id} {name}" for ref_id, name in snap.refs)
    await target.run(snapshot_scripts.RESTORE, target.dir(ws.name), snap.id, snap.head, snap.index,
                     snap.branch, snap.wsbranch, snap.tip, ws.branch or f"devenv/{ws.name}",
                     "1" if target.remote else "0", refs, *reversed(snap.stash),
                     trusted=trusted, ws=ws.name, timeout=CAPTURE_TIMEOUT)
