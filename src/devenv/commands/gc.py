"""``devenv gc [--yes]``: remove devenv images, volumes and networks that nothing uses."""

from __future__ import annotations

import sys

from devenv.envs import cleanup
from devenv.errors import UsageError


def run(*, yes: bool = False, dry_run: bool = False, snapshots: bool = False,
        older_than: float | None = None) -> int:
    if snapshots or older_than is not None:
        return _snapshots(yes=yes, dry_run=dry_run, older_than=older_than)
    garbage = cleanup.find()
    if not garbage.images and not garbage.volumes and not garbage.networks:
        print("nothing to remove")
        return 0
    if garbage.images:
        total = sum(garbage.sizes.values())
        print(f"unused devenv images ({total / 1e9:.1f} GB at most; layers may be shared):")
        for tag in garbage.images:
            print(f"  {tag}  {garbage.sizes[tag] / 1e6:.0f} MB")
    if garbage.volumes:
        print("home and workspaces volumes of environments devenv no longer knows "
              "(their data is lost):")
        for volume in garbage.volumes:
            print(f"  {volume}")
    if garbage.networks:
        print("networks of environments that are not running:")
        for network in garbage.network_names:
            print(f"  {network}")
    if dry_run:
        print("(dry run: nothing removed)")
        return 0
    if not yes and not _confirmed():
        return 0
    failed = cleanup.collect(garbage)
    removed = len(garbage.images) + len(garbage.volumes) + len(garbage.networks) - len(failed)
    print(f"removed {removed} item(s)")
    for item in failed:
        print(f"  kept {item} (still in use)", file=sys.stderr)
    return 0


def _confirmed() -> bool:
    if not sys.stdin.isatty():
        raise UsageError("not removing anything without confirmation",
                         "re-run with --yes to remove the items listed above")
    if input("remove them? [y/N] ").strip().lower() in ("y", "yes"):
        return True
    print("nothing removed")
    return False


def _snapshots(*, yes: bool, dry_run: bool, older_than: float | None) -> int:
    """Workspace snapshots older than ``older_than`` days, in every project that has or had
    workspaces: listed, then removed (their refs; git's own gc frees the objects)."""
    import asyncio
    import time

    from devenv import state
    from devenv.workspaces import hostgit, names
    from devenv.workspaces import snapshots as snaps

    if older_than is None or not older_than >= 0:
        raise UsageError("gc --snapshots needs --older-than DAYS (0 or more)",
                         "e.g. devenv gc --snapshots --older-than 30")
    conn = state.connect()
    try:
        projects = state.workspace_projects(conn)
    finally:
        conn.close()
    cutoff = time.time() - older_than * 86400

    async def find() -> list[tuple[str, str]]:
        old = []
        for path in projects:
            try:
                repo = await hostgit.top(path)
            except UsageError:
                continue  # the project went, and its snapshots with it
            for ws, stamp, when in await snaps.all_snapshots(repo):
                if when < cutoff:
                    old.append((repo, names.snapshot_prefix(ws) + stamp))
        return old

    old = asyncio.run(find())
    if not old:
        print(f"no snapshots older than {older_than:g} days")
        return 0
    print(f"workspace snapshots older than {older_than:g} days (the work in them is lost "
          "unless it is somewhere else too):")
    for repo, ref in old:
        print(f"  {repo}  {ref}")
    if dry_run:
        print("(dry run: nothing removed)")
        return 0
    if not yes and not _confirmed():
        return 0

    async def drop() -> None:
        for repo, ref in old:
            await hostgit.git(repo, "update-ref", "-d", ref, trusted=False)

    asyncio.run(drop())
    print(f"removed {len(old)} snapshot(s)")
    return 0
