"""Trust in a project's init hook, bound to the hook's content (docs/security.md, "The
workspace init hook").

When devenv creates a workspace, the project's ``.devenv/init`` runs in it -- for a
``local`` workspace, on the host. The agent in an environment can write that file (the
project is mounted writable), so a hook runs only in a project the user trusted, and only
the exact bytes the user trusted: the record holds the sha256 of the hook's content, as
direnv binds ``direnv allow`` to a file's content. Any change makes the project untrusted
until the user trusts it again.

The hook is read without following a link anywhere below the project
(:mod:`devenv.hostile`), and at most :data:`MAX_HOOK_BYTES` of it. A caller checks
:func:`status` with the bytes it read and then runs those same bytes
(:func:`devenv.workspaces.hook.run_init`), never the file again: what ran is what was
checked.
"""

from __future__ import annotations

import hashlib
import os
import time
from dataclasses import dataclass

from devenv import hostile, state
from devenv.errors import ConfigError, DevenvError, UsageError, safe_text
from devenv.paths import PROJECT_INIT

MAX_HOOK_BYTES = 1 << 20  # a hook is a script; this bounds what is read and sent
NO_HOOK = "no-hook"  # the record of a project trusted while it had no hook

# TrustStatus.verdict
TRUSTED = "trusted"
NOT_TRUSTED = "not trusted"  # no record
CHANGED = "changed"  # a record, for other content
UNREADABLE = "unreadable"  # the project or its hook cannot be read (--list only)


@dataclass(frozen=True)
class TrustStatus:
    """Whether ``path``'s hook, as given, may run, and what to tell the user about it."""

    path: str  # the project, symlinks resolved
    trusted: bool
    verdict: str  # TRUSTED, NOT_TRUSTED, CHANGED or UNREADABLE
    note: str  # one line for the user
    hook_sha256: str  # of the hook given (NO_HOOK: there is none)
    size: int | None  # the hook's size in bytes (None: no hook)
    record: state.TrustRecord | None


def hook_digest(hook: bytes | None) -> str:
    """What a trust record holds for ``hook``: its sha256, or :data:`NO_HOOK`."""
    return NO_HOOK if hook is None else hashlib.sha256(hook).hexdigest()


def read_hook(project_path: str) -> bytes | None:
    """The bytes of the project's ``.devenv/init`` (``None``: there is none).

    A ``.devenv`` or ``init`` that is a symbolic link (or not a regular file) is refused
    with :class:`devenv.hostile.LinkRefused`, never followed; a hook larger than
    :data:`MAX_HOOK_BYTES` is a :class:`ConfigError`."""
    root = os.path.realpath(project_path)
    shown = safe_text(os.path.join(root, PROJECT_INIT))
    try:
        return hostile.read_beneath(root, PROJECT_INIT, limit=MAX_HOOK_BYTES)
    except hostile.LinkRefused:
        raise hostile.LinkRefused(
            f"{shown} is a symbolic link, lies behind one, or is not a regular file; devenv "
            "never follows a link to find the init hook",
            "replace the link with the file itself (an agent may have planted it), review "
            "it, then run 'devenv trust'") from None
    except hostile.TooLarge:
        raise ConfigError(f"{shown} is larger than {MAX_HOOK_BYTES >> 20} MiB",
                          "an init hook is a script: keep large data in files it reads"
                          ) from None
    except OSError as e:
        raise ConfigError(f"{shown}: cannot read: {e.strerror}") from None


def status(project_path: str, hook: bytes | None) -> TrustStatus:
    """Whether ``hook`` (the bytes the caller read with :func:`read_hook`, ``None`` for
    none) is trusted in the project: a record exists and holds their digest."""
    root = os.path.realpath(project_path)
    conn = state.connect()
    try:
        record = state.trust_record(conn, root)
    finally:
        conn.close()
    return _judge(root, hook, record)


def trust(project_path: str) -> TrustStatus:
    """Trust the project for the content its ``.devenv/init`` has now (or for having none);
    the status afterwards says what was trusted."""
    root = os.path.realpath(project_path)
    if not os.path.isdir(root):
        raise UsageError(f"not a directory: {safe_text(root)}",
                         "pass the project's directory")
    hook = read_hook(root)
    conn = state.connect()
    try:
        with state.transaction(conn):
            state.set_trust(conn, root, hook_digest(hook))
            record = state.trust_record(conn, root)
    finally:
        conn.close()
    return _judge(root, hook, record)


def revoke(project_path: str) -> bool:
    """Forget the project's trust; whether it had a record."""
    root = os.path.realpath(project_path)
    conn = state.connect()
    try:
        with state.transaction(conn):
            return state.forget_trust(conn, root)
    finally:
        conn.close()


def show(project_path: str) -> TrustStatus:
    """The status of the project's hook as it is now."""
    return status(project_path, read_hook(project_path))


def every_status() -> list[TrustStatus]:
    """The status of every project with a trust record, by path. A project that is gone or
    whose hook cannot be read is :data:`UNREADABLE` (not trusted), with the reason."""
    conn = state.connect()
    try:
        records = state.all_trust_records(conn)
    finally:
        conn.close()
    found = []
    for record in records:
        if not os.path.isdir(record.path):
            found.append(_unreadable(record, "the project directory is gone"))
            continue
        try:
            found.append(_judge(record.path, read_hook(record.path), record))
        except DevenvError as e:
            found.append(_unreadable(record, e.message))
    return found


def _unreadable(record: state.TrustRecord, why: str) -> TrustStatus:
    return TrustStatus(record.path, False, UNREADABLE, f"not trusted: {why}", "", None, record)


def _judge(root: str, hook: bytes | None, record: state.TrustRecord | None) -> TrustStatus:
    digest = hook_digest(hook)
    size = None if hook is None else len(hook)
    verdict, note = _verdict(digest, record)
    return TrustStatus(root, verdict == TRUSTED, verdict, note, digest, size, record)


def _verdict(digest: str, record: state.TrustRecord | None) -> tuple[str, str]:
    again = "review .devenv/init, then run 'devenv trust' again"
    if record is None:
        if digest == NO_HOOK:
            return NOT_TRUSTED, "not trusted (there is no .devenv/init: nothing would run)"
        return NOT_TRUSTED, ("not trusted: its .devenv/init does not run; review it, then "
                             "run 'devenv trust'")
    since = time.strftime("%Y-%m-%d %H:%M", time.localtime(record.trusted))
    if record.hook_sha256 == digest:
        if digest == NO_HOOK:
            return TRUSTED, f"trusted without a .devenv/init (since {since})"
        return TRUSTED, f"trusted for this .devenv/init (sha256 {digest[:16]}, since {since})"
    if record.hook_sha256 == NO_HOOK:
        return CHANGED, (f"not trusted: a .devenv/init appeared since you trusted the project "
                         f"without one ({since}); {again}")
    if digest == NO_HOOK:
        return CHANGED, (f"not trusted: the .devenv/init you trusted ({since}) was removed; "
                         "'devenv trust' trusts the project without one")
    return CHANGED, (f"not trusted: the hook changed since you trusted it ({since}; sha256 "
                     f"{record.hook_sha256[:16]} then, {digest[:16]} now); {again}")
