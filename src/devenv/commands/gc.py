"""``devenv gc [--yes]``: remove devenv images, volumes and networks that nothing uses."""

from __future__ import annotations

import sys

from devenv.envs import cleanup
from devenv.errors import UsageError


def run(*, yes: bool = False, dry_run: bool = False) -> int:
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
    if not yes:
        if not sys.stdin.isatty():
            raise UsageError("not removing anything without confirmation",
                             "re-run with --yes to remove the items listed above")
        answer = input("remove them? [y/N] ").strip().lower()
        if answer not in ("y", "yes"):
            print("nothing removed")
            return 0
    failed = cleanup.collect(garbage)
    removed = len(garbage.images) + len(garbage.volumes) + len(garbage.networks) - len(failed)
    print(f"removed {removed} item(s)")
    for item in failed:
        print(f"  kept {item} (still in use)", file=sys.stderr)
    return 0
