"""Write access for the container user to a root-owned project when devenv runs as root.

The container user is then UID 1000 (images.default.container_ids), which can read the
project but not write it. Only with the user's consent (``--grant-write``, ``grant_write =
true`` in the user config file, or a yes on a terminal; never the project's own config)
devenv gives that UID POSIX ACL entries: ``u:UID:rwX`` on every directory and regular file
and a default entry on every directory, so that what the host creates later stays writable
inside. The answer (yes or no) is kept in devenv's state, so it is asked once.
``devenv rm`` takes the entries away again. See docs/security.md.
"""

from __future__ import annotations

import contextlib
import os
import select
import sys

from devenv import state
from devenv.envs import acl, acltree
from devenv.envs.identity import ProjectPath
from devenv.errors import DevenvError, safe_text
from devenv.images.default import container_ids

ASK_TIMEOUT = 300.0  # seconds a terminal prompt waits for an answer (then: not granted)


def needed(path: str) -> int | None:
    """The container UID to grant write access to, when devenv runs as root and the project
    belongs to root; ``None`` when the container user can write it anyway (it is the
    owner's UID) or devenv does not run as root."""
    if os.getuid() != 0:
        return None
    try:
        if os.stat(path).st_uid != 0:
            return None
    except OSError:
        return None
    return container_ids(path)[0]


def decide(project: ProjectPath, *, flag: bool, configured: bool) -> None:
    """At a start (or with ``--grant-write`` on a running environment): grant write access
    when the user consented, asking once on a terminal; else print the read-only note."""
    uid = needed(project.path)
    if uid is None:
        return
    # A world-writable project is writable anyway: nothing to ask or say (the flag still
    # grants, for what lies below it).
    open_to_all = bool(os.stat(project.path).st_mode & 0o002)
    conn = state.connect()
    try:
        known = state.write_grant(conn, project.path)
        if flag or configured:
            granted: bool | None = True
        elif known is not None:
            granted = known.granted
        elif sys.stdin.isatty() and sys.stderr.isatty() and not open_to_all:
            granted = _ask(project.path, uid)
        else:
            granted = None
        if granted:
            counts = _grant(project.path, uid)
            _report(project.path, uid, counts, first=known is None or not known.granted)
        if granted is not None:
            with state.transaction(conn):
                state.set_write_grant(conn, state.WriteGrant(project.path, uid, granted))
    finally:
        conn.close()
    if not granted and not open_to_all:
        print(f"devenv: note: {project.path} belongs to root; the container user (UID {uid}) "
              "can read it but not write to it ('devenv --grant-write PATH' gives it write "
              f"access with POSIX ACLs, or chown the project to {uid})", file=sys.stderr)


def revoke(path: str, *, force: bool = False) -> str | None:
    """Take back a recorded grant (``force``: the container user's entries even without a
    record); what was removed, for the user, or ``None``."""
    conn = state.connect()
    try:
        known = state.write_grant(conn, path)
        uid = known.uid if known is not None else (needed(path) if force else None)
        said = None
        if uid is not None and (force or (known is not None and known.granted)):
            try:
                counts = _walk(path, uid, acl.revoke)
            except (FileNotFoundError, NotADirectoryError, acltree.Unsupported):
                pass  # the project is gone (or never could hold an entry): nothing to take
            else:
                said = (f"the ACL entries for UID {uid} on {counts.dirs} directories and "
                        f"{counts.files} files of {path} (write access revoked)")
        with state.transaction(conn):
            state.forget_write_grant(conn, path)
        return said
    finally:
        conn.close()


def _walk(path: str, uid: int, edit: acltree.Edit) -> acltree.Counts:
    counts = acltree.walk(path, uid, edit)
    if counts.failed:
        what = "gave" if edit is acl.grant else "took back"
        raise DevenvError(f"{what} write access on {counts.changed} entries of {path}, but "
                          f"{counts.failed} could not be changed (first: "
                          f"{counts.first_failure})",
                          "fix those files (immutable? read-only file system?), then run the "
                          "command again, or chown the project instead")
    return counts


def _grant(path: str, uid: int) -> acltree.Counts:
    """Grant, or nothing at all: when an entry fails, what was done is taken back."""
    try:
        return _walk(path, uid, acl.grant)
    except acltree.Unsupported:
        raise
    except DevenvError:
        with contextlib.suppress(DevenvError):  # TooBig stops at the same entry
            acltree.walk(path, uid, acl.revoke)
        raise


def _report(path: str, uid: int, counts: acltree.Counts, *, first: bool) -> None:
    if not counts.changed and not first:
        return
    print(f"devenv: gave the container user (UID {uid}) write access to {path} with POSIX "
          f"ACLs: entry u:{uid}:rwX added on {counts.dirs} directories (with a default entry, "
          f"inherited by what is created there later) and {counts.files} files, in "
          f"{counts.seconds:.1f}s; links, special files and other file systems were left "
          f"alone, nothing else changed. Undo: devenv rm --revoke-write {path}",
          file=sys.stderr)


def _ask(path: str, uid: int) -> bool | None:
    """Ask on the terminal; ``None`` when no answer came (not recorded)."""
    print(f"devenv: {safe_text(path)} belongs to root, and the container user (UID {uid}) "
          "can read it but not write to it.\n"
          f"Give UID {uid} write access with POSIX ACLs (u:{uid}:rwX on every file and "
          "directory, and a default entry on every directory)? The answer is remembered; "
          "'devenv rm --revoke-write' undoes it. [y/N] ", end="", file=sys.stderr, flush=True)
    ready, _, _ = select.select([sys.stdin], [], [], ASK_TIMEOUT)
    if not ready:
        print("\ndevenv: no answer: not granted", file=sys.stderr)
        return None
    line = sys.stdin.readline()
    if not line:
        return None
    return line.strip().lower() in ("y", "yes")
