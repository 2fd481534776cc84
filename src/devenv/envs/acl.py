"""POSIX ACL entries for one user, edited on an open file descriptor (docs/security.md).

Linux keeps a file's ACLs in the extended attributes ``system.posix_acl_access`` and
``system.posix_acl_default``: a little-endian u32 version (2), then entries of u16 tag,
u16 permissions and u32 id, sorted by tag then id. A file without the attribute has the
minimal ACL its mode bits say. Once a named entry exists, a MASK entry is required; it is
recomputed to cover the group class (the owning group and the named entries), as
``setfacl`` does. Only descriptors are used here: never a path, never a link.
"""

from __future__ import annotations

import errno
import os
import stat
import struct

ACCESS = "system.posix_acl_access"
DEFAULT = "system.posix_acl_default"
VERSION = 2
USER_OBJ, USER, GROUP_OBJ, GROUP, MASK, OTHER = 0x01, 0x02, 0x04, 0x08, 0x10, 0x20
UNDEFINED_ID = 0xFFFFFFFF
_HEADER = struct.Struct("<I")
_ENTRY = struct.Struct("<HHI")
# What "no ACL here" looks like: the attribute is missing.
_MISSING = (errno.ENODATA,)
UNSUPPORTED = (errno.EOPNOTSUPP, errno.ENOTSUP)

Entry = tuple[int, int, int]  # (tag, perm, id)


def parse(data: bytes) -> list[Entry]:
    """The entries of an ACL attribute's value (ValueError when it is not one)."""
    if len(data) < _HEADER.size or (len(data) - _HEADER.size) % _ENTRY.size:
        raise ValueError("not a POSIX ACL")
    if _HEADER.unpack_from(data)[0] != VERSION:
        raise ValueError("unknown POSIX ACL version")
    return [_ENTRY.unpack_from(data, off) for off in range(_HEADER.size, len(data), _ENTRY.size)]


def encode(entries: list[Entry]) -> bytes:
    """An ACL attribute's value, entries in the kernel's order."""
    ordered = sorted(entries, key=lambda e: (e[0], e[2]))
    return _HEADER.pack(VERSION) + b"".join(_ENTRY.pack(*e) for e in ordered)


def minimal(mode: int) -> list[Entry]:
    """The ACL the mode bits stand for when there is no attribute."""
    return [(USER_OBJ, (mode >> 6) & 7, UNDEFINED_ID), (GROUP_OBJ, (mode >> 3) & 7, UNDEFINED_ID),
            (OTHER, mode & 7, UNDEFINED_ID)]


def _with_mask(entries: list[Entry]) -> list[Entry]:
    """Recompute the MASK (union of the group class), or drop it when no named entry is left."""
    rest = [e for e in entries if e[0] != MASK]
    if not any(e[0] in (USER, GROUP) for e in rest):
        return rest
    covered = 0
    for tag, perm, _ in rest:
        if tag in (GROUP_OBJ, USER, GROUP):
            covered |= perm
    return [*rest, (MASK, covered, UNDEFINED_ID)]


def with_user(entries: list[Entry], uid: int, perm: int) -> list[Entry]:
    """``entries`` with the named entry for ``uid`` set to ``perm`` (``setfacl -m``)."""
    return _with_mask([e for e in entries if not (e[0] == USER and e[2] == uid)]
                      + [(USER, perm, uid)])


def without_user(entries: list[Entry], uid: int) -> list[Entry]:
    """``entries`` without the named entry for ``uid``, the group class never widened: the
    new mask stays within the old one, and when no named entry is left the owning group
    keeps only what the mask let it have. (A file made under a default ACL carries the
    directory's group entry, limited by a mask from its create mode; ``setfacl -x`` would
    widen it.)"""
    mask = next((e[1] for e in entries if e[0] == MASK), 7)
    rest = _with_mask([e for e in entries if not (e[0] == USER and e[2] == uid)])
    if any(e[0] == MASK for e in rest):
        return [(t, p & mask, i) if t == MASK else (t, p, i) for t, p, i in rest]
    return [(t, p & mask, i) if t == GROUP_OBJ else (t, p, i) for t, p, i in rest]


def read(fd: int, name: str) -> list[Entry] | None:
    """The ACL ``name`` of the open file, or ``None`` when it has none."""
    try:
        return parse(os.getxattr(fd, name))
    except OSError as e:
        if e.errno in _MISSING:
            return None
        raise


def supported(fd: int) -> bool:
    """Whether the file system of the open file keeps POSIX ACLs."""
    try:
        read(fd, ACCESS)
    except OSError as e:
        if e.errno in UNSUPPORTED:
            return False
        raise
    return True


def _same(a: list[Entry], b: list[Entry]) -> bool:
    return sorted(a) == sorted(b)


def grant(fd: int, st: os.stat_result, uid: int) -> bool:
    """Give ``uid`` ``rwX`` on the open file (and, on a directory, a default entry
    ``rwx`` so that what is created in it later inherits it); whether anything changed."""
    is_dir = stat.S_ISDIR(st.st_mode)
    changed = False
    access = read(fd, ACCESS) or minimal(st.st_mode)
    perm = 7 if is_dir or st.st_mode & 0o111 else 6
    new = with_user(access, uid, perm)
    if not _same(new, access):
        os.setxattr(fd, ACCESS, encode(new))
        changed = True
    if is_dir:
        # A new default ACL starts from the owner, group and other of the access ACL, as
        # ``setfacl -d -m`` does.
        default = read(fd, DEFAULT) or [e for e in access if e[0] in (USER_OBJ, GROUP_OBJ,
                                                                      OTHER)]
        new = with_user(default, uid, 7)
        if not _same(new, default):
            os.setxattr(fd, DEFAULT, encode(new))
            changed = True
    return changed


def revoke(fd: int, st: os.stat_result, uid: int) -> bool:
    """Remove what :func:`grant` added for ``uid``; whether anything changed. An ACL left
    with only the owner, group and other entries is removed: the mode bits (group: the
    owning group's entry) say the same, and ``getfacl`` shows the file as it was."""
    changed = False
    access = read(fd, ACCESS)
    if access is not None and any(e[0] == USER and e[2] == uid for e in access):
        new = without_user(access, uid)
        if len(new) == 3:
            group = next(e[1] for e in new if e[0] == GROUP_OBJ)
            # chmod sets the mask (the group bits while an ACL is there), then the
            # attribute goes: the mode keeps the owning group's permissions.
            os.fchmod(fd, (st.st_mode & 0o7707) | (group << 3))
            os.removexattr(fd, ACCESS)
        else:
            os.setxattr(fd, ACCESS, encode(new))
        changed = True
    if stat.S_ISDIR(st.st_mode):
        default = read(fd, DEFAULT)
        if default is not None and any(e[0] == USER and e[2] == uid for e in default):
            new = without_user(default, uid)
            if len(new) == 3:
                os.removexattr(fd, DEFAULT)
            else:
                os.setxattr(fd, DEFAULT, encode(new))
            changed = True
    return changed
