"""Reading what the target's file scripts (:mod:`.script`) printed: ``stat`` output and
directory listings. What a target prints is checked, never trusted: an unknown kind is
``other``, a size that is not ASCII digits is unknown."""

from __future__ import annotations

import os
import stat as stat_mod

from devenv.runtime.errors import PathError
from devenv.runtime.types import DirEntry, FileStat

_KINDS = {"f": "file", "d": "dir", "l": "symlink"}


def parse_stat(text: str, *, bsd: bool, path: str) -> FileStat:
    """``stat`` output (size, mtime, mode: octal from BSD stat, hex from GNU's)."""
    try:
        size, mtime, raw = text.split()
        mode = int(raw, 8 if bsd else 16)
        return FileStat(int(size), float(mtime), stat_mod.S_IMODE(mode), kind_of(mode))
    except ValueError:
        raise PathError(f"{path}: unexpected stat output {text!r}") from None


def kind_of(mode: int) -> str:
    if stat_mod.S_ISDIR(mode):
        return "dir"
    if stat_mod.S_ISREG(mode):
        return "file"
    if stat_mod.S_ISLNK(mode):
        return "symlink"
    return "other"


def parse_list(data: bytes) -> list[DirEntry]:
    """NUL-separated ``<kind> <size> <name>`` records, sorted by name."""
    entries = []
    for record in data.split(b"\0"):
        if not record:
            continue
        try:
            kind, size, name = record.split(b" ", 2)
        except ValueError:
            raise PathError(f"unexpected directory listing from the target: {record[:80]!r}",
                            "the target's find(1) printed something devenv cannot read") \
                from None
        kind_name = _KINDS.get(kind.decode("ascii", "replace"), "other")
        entries.append(DirEntry(os.fsdecode(name), kind_name,
                                int(size) if size.isdigit() else None))
    return sorted(entries, key=lambda e: e.name)
