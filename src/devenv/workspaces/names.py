"""Workspace names and the refs made from them: validated before anything is created, since
a name becomes a directory on the target and part of git ref names on both sides."""

from __future__ import annotations

import re

from devenv.errors import UsageError

MAX_NAME = 64
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*\Z")
_RESERVED = {"head", "fetch_head", "orig_head", "merge_head", "stash"}
_STAMP = re.compile(r"[0-9]{8}T[0-9]{6}Z(-[0-9]+)?\Z")
_BRANCH_PART = re.compile(r"[A-Za-z0-9._-]+\Z")

SNAPSHOTS = "refs/devenv/snapshots"
STAMP_FORMAT = "%Y%m%dT%H%M%SZ"  # a snapshot's name: when this machine took it (UTC)


def check(name: str) -> str:
    """``name`` if it is a valid workspace name, else a UsageError saying why."""
    hint = (f"use up to {MAX_NAME} letters, digits, '.', '_' or '-', starting with a letter "
            "or digit (e.g. fix-login)")
    if not name:
        raise UsageError("empty workspace name", hint)
    shown = name if len(name) <= 80 else name[:77] + "..."
    if len(name) > MAX_NAME:
        raise UsageError(f"workspace name {shown!r} is longer than {MAX_NAME} characters",
                         hint)
    if not name.isascii() or not _NAME.match(name) or ".." in name or name.endswith(
            (".", ".lock")) or name.lower() in _RESERVED:
        raise UsageError(f"invalid workspace name {shown!r}", hint)
    return name


def check_branch(branch: str) -> str:
    """A ``--branch`` value: slash-separated parts of the workspace-name alphabet (git's own
    rules are wider; these are safe on every file system and in every shell)."""
    parts = branch.split("/")
    if (not branch or len(branch) > 200 or not branch.isascii()
            or any(not p or not _BRANCH_PART.match(p) or p.startswith((".", "-"))
                   or p.endswith((".", ".lock")) or ".." in p for p in parts)
            or branch.lower() in _RESERVED or branch.startswith("refs")):
        raise UsageError(f"invalid branch name {branch[:80]!r}",
                         "use parts of letters, digits, '.', '_', '-' joined by '/' "
                         "(e.g. agent/fix-login)")
    return branch


def default_branch(name: str) -> str:
    return f"devenv/{name}"


def snapshot_prefix(name: str) -> str:
    return f"{SNAPSHOTS}/{name}/"


def is_stamp(stamp: str) -> bool:
    return bool(_STAMP.match(stamp))


def check_stamp(stamp: str) -> str:
    if not _STAMP.match(stamp):
        raise UsageError(f"invalid snapshot name {stamp[:80]!r}",
                         "snapshots are named like 20261201T031500Z (devenv workspace "
                         "snapshots NAME lists them)")
    return stamp
