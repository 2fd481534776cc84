"""Private directories: created 0700 and verified before use (ours, closed to others, not
a link, a parent nobody else can swap them through). A bad one raises
:class:`UnsafeDirectory` and is never used. Imports only ``os``: ``devenv exec``'s fast path
uses it (docs/architecture.md)."""

from __future__ import annotations

import os

from devenv.runtime.errors import PathError, UnsafeDirectory

_S_IFMT, _S_IFDIR, _S_IFLNK = 0o170000, 0o040000, 0o120000
SHARED_TMP = "/tmp"  # noqa: S108 - the base's parent without XDG_RUNTIME_DIR (tests move it)


def dir_problem(path: str, *, shared: bool = False, any_owner: bool = False) -> str | None:
    """What makes ``path`` unfit as a private directory of this user, or ``None``: it must
    exist, be a directory (not a symlink to one), be owned by us and be closed to everyone
    else (mode ``& 0o077 == 0``); with ``shared`` (a base such as ``$XDG_RUNTIME_DIR``),
    others may read it but not write to it; ``any_owner`` skips the owner check. One
    ``lstat``: cheap enough for the exec fast path."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return "does not exist"
    except OSError as e:
        return f"cannot be checked ({e.strerror})"
    kind = st.st_mode & _S_IFMT
    if kind == _S_IFLNK:
        return "is a symbolic link, not a directory"
    if kind != _S_IFDIR:
        return "is not a directory"
    if st.st_uid != os.getuid() and not any_owner:
        return f"is owned by uid {st.st_uid}, not by you (uid {os.getuid()})"
    if st.st_mode & (0o022 if shared else 0o077):
        return f"is open to other users (mode {st.st_mode & 0o7777:04o})"
    return None


def parent_problem(path: str) -> str | None:
    """What lets another user swap ``path`` through its parent, or ``None``: the parent
    (links followed: ``/tmp`` may be one) must belong to us or root and be writable by
    nobody else, unless it is sticky like ``/tmp`` (then nobody else can rename or remove
    what is ours). Group write is tolerated for our own primary group (user private groups
    with umask 002)."""
    parent = os.path.dirname(path)
    try:
        st = os.stat(parent)
    except OSError as e:
        return f"has a parent {parent} that cannot be checked ({e.strerror})"
    if st.st_uid not in (os.getuid(), 0):
        return f"has a parent {parent} owned by uid {st.st_uid}"
    group_write = st.st_mode & 0o020 and st.st_gid != os.getgid()
    if not st.st_mode & 0o1000 and (st.st_mode & 0o002 or group_write):
        return (f"has a parent {parent} that other users can write to "
                f"(mode {st.st_mode & 0o7777:04o})")
    return None


def private_dir(path: str, *, shared: bool = False, any_owner: bool = False) -> str:
    """Create ``path`` and its missing parents with mode 0700, then verify it and its
    parent (see :func:`dir_problem` and :func:`parent_problem`); return it.

    A directory of ours that nobody else can write to but others may read (made by an older
    version or a wide umask) is closed to 0700. Anything else that fails the check raises
    :class:`UnsafeDirectory` naming the path and the problem: it is never used. ``shared``:
    a base directory (``$XDG_RUNTIME_DIR``) checked with :func:`dir_problem`'s ``shared``
    rule and left as it is; ``any_owner``: see :func:`dir_problem`."""
    _make_dirs(path)
    problem = dir_problem(path, shared=shared, any_owner=any_owner)
    if problem is not None and not shared and _tighten(path, any_owner=any_owner):
        problem = None
    if problem is None:
        problem = parent_problem(path)
    if problem is None:
        return path
    if shared:
        raise UnsafeDirectory(f"unsafe runtime directory {path} (XDG_RUNTIME_DIR): it "
                              f"{problem}",
                              "unset XDG_RUNTIME_DIR or point it at your own runtime directory")
    raise UnsafeDirectory(f"unsafe private directory {path}: it {problem}",
                          "remove it and try again; another user may have created it to "
                          "intercept devenv")


def _make_dirs(path: str) -> None:
    """Create ``path`` and its missing parents, each with mode 0700."""
    missing = []
    probe = path
    while not os.path.lexists(probe) and probe != os.path.dirname(probe):
        missing.append(probe)
        probe = os.path.dirname(probe)
    for directory in reversed(missing):
        try:
            os.mkdir(directory, 0o700)
        except FileExistsError:
            pass  # made by a parallel process: checked like any other
        except OSError as e:
            raise PathError(f"cannot create {directory}: {e.strerror}") from None


def _tighten(path: str, *, any_owner: bool) -> bool:
    """Close a directory of ours that nobody else can write to (mode ``& 0o022 == 0``) to
    0700, through a descriptor (no link is followed); whether it is private now."""
    if dir_problem(path, shared=True, any_owner=any_owner) is not None:
        return False
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except OSError:
        return False
    try:
        os.fchmod(fd, 0o700)
    finally:
        os.close(fd)
    return dir_problem(path, any_owner=any_owner) is None


def user_runtime_dir(name: str = "devenv") -> str:
    """This user's runtime base, verified: ``$XDG_RUNTIME_DIR`` when set (it must be ours,
    no link, writable by nobody else), else ``/tmp/<name>-<uid>``, created 0700 and
    verified (in the sticky ``/tmp`` nobody else can swap it once it is ours)."""
    runtime = os.environ.get("XDG_RUNTIME_DIR", "")
    if os.path.isabs(runtime):
        return private_dir(runtime, shared=True)
    return private_dir(os.path.join(SHARED_TMP, f"{name}-{os.getuid()}"))
