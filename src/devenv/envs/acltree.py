"""Walk a project's tree by directory descriptors and edit every entry's ACL for one user.

The agent may rewrite the tree while devenv walks it (swap a directory for a link to
``/etc``, plant a fifo): every step is ``openat`` below a directory already open, without
following a link (``O_NOFOLLOW``), then checked with ``fstat``. Only directories and regular
files are changed; links, fifos, sockets and devices are skipped, and so is anything on
another file system (a mount point below the project). See docs/security.md.
"""

from __future__ import annotations

import errno
import os
import stat
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from devenv.envs import acl
from devenv.errors import DevenvError, safe_text

MAX_DEPTH = 256  # directories deeper than this are not entered (each level holds a descriptor)
MAX_ENTRIES = 5_000_000  # a bound on the work; a project bigger than this is refused
_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
# Gone, replaced by a link or by something else between listing and opening: skipped.
_RACED = (FileNotFoundError, NotADirectoryError, IsADirectoryError)

Edit = Callable[[int, os.stat_result, int], bool]


class Unsupported(DevenvError):
    """The project's file system keeps no POSIX ACLs."""


class TooBig(DevenvError):
    """The project has more entries than devenv walks."""


@dataclass
class Counts:
    """What a walk did: entries changed, seen, and left alone (with the first failure)."""

    dirs: int = 0
    files: int = 0
    seen: int = 0
    skipped: int = 0  # links, special files, other file systems, too deep, raced away
    failed: int = 0
    first_failure: str = ""
    seconds: float = 0.0
    _started: float = field(default_factory=time.monotonic, repr=False)

    @property
    def changed(self) -> int:
        return self.dirs + self.files


def walk(root: str, uid: int, edit: Edit) -> Counts:
    """Apply ``edit`` (:func:`acl.grant` or :func:`acl.revoke`) for ``uid`` to ``root`` and
    every directory and regular file below it on the same file system."""
    top = os.open(root, _DIR)
    stack: list[tuple[int, str, list[str], int]] = []
    try:
        st = os.fstat(top)
        if not acl.supported(top):
            raise Unsupported(f"the file system of {root} does not support POSIX ACLs",
                              "chown the project to the user the container should run as, "
                              "or run devenv as the user who owns the project")
        walker = _Walker(edit, uid, st.st_dev)
        walker.apply(top, st, root)
        stack.append((top, root, _list(top), 0))
        top = -1  # the stack owns it now
        while stack:
            fd, where, names, depth = stack[-1]
            if not names:
                os.close(fd)
                stack.pop()
                continue
            name = names.pop()
            child = walker.visit(fd, name, f"{where}/{name}", descend=depth < MAX_DEPTH)
            if child is not None:
                stack.append((child, f"{where}/{name}", _list(child), depth + 1))
    finally:
        if top >= 0:
            os.close(top)
        for fd, *_ in stack:
            os.close(fd)
    walker.counts.seconds = time.monotonic() - walker.counts._started
    return walker.counts


def _list(fd: int) -> list[str]:
    """The names in the open directory (``os.scandir`` reads a copy of the descriptor)."""
    names = []
    with os.scandir(fd) as it:
        for entry in it:
            # d_type spares opening what will be skipped anyway; the open below checks again.
            try:
                if entry.is_dir(follow_symlinks=False) or entry.is_file(follow_symlinks=False):
                    names.append(entry.name)
            except OSError:
                continue
    return names


@dataclass
class _Walker:
    edit: Edit
    uid: int
    dev: int
    counts: Counts = field(default_factory=Counts)

    def visit(self, parent: int, name: str, where: str, *, descend: bool) -> int | None:
        """Edit one entry of ``parent``; return its descriptor when it is a directory to
        walk."""
        counts = self.counts
        counts.seen += 1
        if counts.seen > MAX_ENTRIES:
            raise TooBig(f"the project has more than {MAX_ENTRIES} files and directories; "
                         "devenv does not change the ACLs of a tree that big",
                         "chown the project to the user the container should run as, or run "
                         "devenv as the user who owns the project")
        try:
            fd = os.open(name, _FILE, dir_fd=parent)
        except _RACED:
            counts.skipped += 1
            return None
        except OSError as e:
            counts.skipped += 1  # ELOOP: a link now; ENXIO, EWOULDBLOCK: a special file
            if e.errno not in (errno.ELOOP, errno.ENXIO, errno.EWOULDBLOCK):
                self.failed(where, e)
            return None
        keep = False
        try:
            st = os.fstat(fd)
            if st.st_dev != self.dev or not (stat.S_ISREG(st.st_mode)
                                             or stat.S_ISDIR(st.st_mode)):
                counts.skipped += 1
                return None
            # One open for every kind (O_NONBLOCK keeps a fifo from hanging), then fstat
            # decides: nothing can be swapped between the check and the edit.
            self.apply(fd, st, where)
            if stat.S_ISDIR(st.st_mode):
                if not descend:
                    counts.skipped += 1
                    return None
                keep = True
                return fd
            return None
        finally:
            if not keep:
                os.close(fd)

    def apply(self, fd: int, st: os.stat_result, where: str) -> None:
        try:
            if self.edit(fd, st, self.uid):
                if stat.S_ISDIR(st.st_mode):
                    self.counts.dirs += 1
                else:
                    self.counts.files += 1
        except (OSError, ValueError) as e:
            self.failed(where, e)

    def failed(self, where: str, error: Exception) -> None:
        self.counts.failed += 1
        if not self.counts.first_failure:
            reason = (error.strerror if isinstance(error, OSError) and error.strerror
                      else str(error))
            self.counts.first_failure = f"{safe_text(where)}: {reason}"
