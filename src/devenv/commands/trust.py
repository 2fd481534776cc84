"""``devenv trust [PATH] [--revoke | --show | --list]``: trust a project's init hook for
its current content (docs/security.md, "The workspace init hook")."""

from __future__ import annotations

import os
import time

from devenv.envs import identity, start
from devenv.errors import UsageError, safe_text
from devenv.workspaces import trust as trust_mod


def run(path: str | None, *, revoke: bool = False, show: bool = False,
        list_all: bool = False, here: bool = False) -> int:
    if list_all:
        if path is not None:
            raise UsageError("--list shows every project: it takes no PATH",
                             "devenv trust --show PATH shows one")
        return _list()
    raw = "." if path is None else path
    if revoke:
        return _revoke(raw, here=here)
    project = _project(raw, here=here)
    if show:
        found = trust_mod.show(project)
        print(f"{safe_text(project)}: {found.note}")
        return 0
    done = trust_mod.trust(project)
    if done.size is None:
        print(f"trusted {safe_text(project)} without a .devenv/init: one added later does "
              "not run until you trust it again")
        return 0
    print(f"trusted {safe_text(project)} for its .devenv/init ({done.size} bytes, sha256 "
          f"{done.hook_sha256})")
    print("devenv runs exactly this content in each new workspace of the project (on this "
          "machine for a local workspace); once the file changes it does not run until you "
          "trust it again")
    return 0


def _project(raw: str, *, here: bool) -> str:
    """The project PATH is in (as every verb resolves it), symlinks resolved."""
    where = start.locate(raw, here=here)
    where.say()
    return identity.project_path(where.path).path


def _revoke(raw: str, *, here: bool) -> int:
    try:
        project = _project(raw, here=here)
    except UsageError:
        # A project directory that is gone can still be forgotten by its path.
        project = os.path.realpath(raw)
        if not trust_mod.revoke(project):
            raise
        print(f"revoked trust in {safe_text(project)}")
        return 0
    if trust_mod.revoke(project):
        print(f"revoked trust in {safe_text(project)}: its .devenv/init no longer runs")
    else:
        print(f"{safe_text(project)} was not trusted")
    return 0


def _list() -> int:
    found = trust_mod.every_status()
    if not found:
        print("no trusted projects ('devenv trust PATH' trusts one)")
        return 0
    from devenv.table import print_table

    rows = [["STATUS", "HOOK", "TRUSTED AT", "PATH"]]
    for item in found:
        hook = ("-" if item.verdict == trust_mod.UNREADABLE else
                "none" if item.size is None else item.hook_sha256[:12])
        since = "" if item.record is None else time.strftime(
            "%Y-%m-%d %H:%M", time.localtime(item.record.trusted))
        rows.append([item.verdict, hook, since, safe_text(item.path)])
    print_table(rows)
    for item in found:
        if not item.trusted:
            print(f"{safe_text(item.path)}: {item.note}")
    return 0
