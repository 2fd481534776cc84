"""What a workspace holds that is saved nowhere else (the ``STATUS`` script's answer), and
the snapshot commits' own description of themselves (docs/workspaces.md). Both come from a
target, so both are parsed as hostile input: ids are checked, text is only shown escaped."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from devenv.errors import DevenvError, safe_text
from devenv.workspaces.hostgit import sha

SHOWN = 5  # names of each kind shown in a refusal


@dataclass
class Unsaved:
    head: str = ""
    branch: str = ""
    staged: list[str] = field(default_factory=list)
    modified: list[str] = field(default_factory=list)
    untracked: list[str] = field(default_factory=list)
    commits: list[str] = field(default_factory=list)  # "<id> <subject>"
    stash: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.staged or self.modified or self.untracked or self.commits
                    or self.stash)

    def kinds(self, *, commits: bool = True) -> list[str]:
        """One phrase per kind of unsaved work, naming the first few of each (``commits``:
        commits too, else only what is not committed)."""
        out = []
        for what, items in (("staged", self.staged), ("modified", self.modified),
                            ("untracked", self.untracked)):
            if items:
                out.append(f"{len(items)} {what} file(s) ({_names(items)})")
        if self.commits and commits:
            out.append(f"{len(self.commits)} commit(s) in no branch of the project or any "
                       f"remote ({_names([c[:7] for c in self.commits])})")
        if self.stash:
            out.append(f"{len(self.stash)} stash entr{'y' if len(self.stash) == 1 else 'ies'}")
        return out

    def brief(self) -> str:
        """For ``workspace list``: counts only."""
        parts = [f"{len(v)} {k}" for k, v in (("staged", self.staged),
                 ("modified", self.modified), ("untracked", self.untracked),
                 ("unpushed", self.commits), ("stashed", self.stash)) if v]
        return ", ".join(parts) or "clean"


def _names(items: list[str]) -> str:
    shown = ", ".join(safe_text(i) for i in items[:SHOWN])
    return shown + (", ..." if len(items) > SHOWN else "")


def parse_status(data: bytes) -> Unsaved:
    parts = [p.decode("utf-8", "surrogateescape") for p in data.split(b"\0")]
    try:
        head, branch = parts[0], parts[1]
        i = parts.index("@status") + 1
        end_status = parts.index("@commits", i)
        end_commits = parts.index("@stash", end_status)
        end_stash = parts.index("@end", end_commits)
    except (ValueError, IndexError):
        raise DevenvError("the workspace's status could not be read",
                          "is git installed on the target?") from None
    u = Unsaved(head=head, branch=branch)
    while i < end_status:
        entry = parts[i]
        i += 1
        if len(entry) < 4:
            continue
        x, y, path = entry[0], entry[1], entry[3:]
        if x in "RC" or y in "RC":
            i += 1  # the rename's source follows (staged, or in the working tree)
        if x == "?":
            u.untracked.append(path)
            continue
        if x not in " !":
            u.staged.append(path)
        if y not in " !":
            u.modified.append(path)
    u.commits = [p for p in parts[end_status + 1:end_commits] if p]
    u.stash = [p for p in parts[end_commits + 1:end_stash] if p]
    return u


@dataclass(frozen=True)
class Snapshot:
    """A snapshot commit's description of itself (its message, checked against its
    parents)."""

    id: str
    head: str
    branch: str  # "refs/heads/..." or "" (detached)
    index: str
    tip: str
    base: str
    stash: tuple[str, ...]  # newest first
    wsbranch: str = ""  # the workspace branch it was taken on ("refs/heads/...")
    refs: tuple[tuple[str, str], ...] = ()  # (id, refs/heads/... or refs/tags/...)


def parse_snapshot(commit_id: str, raw: str) -> Snapshot:
    """``raw`` is ``git cat-file commit`` of a snapshot: every id it names must be a parent
    of it (so fetching the snapshot fetched them)."""
    header, _, message = raw.partition("\n\n")
    parents = {line[7:].strip() for line in header.splitlines() if line.startswith("parent ")}
    fields: dict[str, list[str]] = {}
    for line in message.splitlines():
        key, sep, value = line.partition(": ")
        if sep:
            fields.setdefault(key, []).append(value.strip())

    def one(key: str, *, parent: bool = True, optional: bool = False) -> str:
        value = (fields.get(key) or [""])[0]
        if not value and optional:
            return ""
        value = sha(value)
        if parent and value not in parents:
            raise DevenvError(f"snapshot {commit_id[:12]} is damaged: its {key} is not a parent")
        return value

    branch = (fields.get("branch") or [""])[0]
    wsbranch = (fields.get("wsbranch") or [""])[0]
    for name in (branch, wsbranch):
        if name and not _REF.match(name):
            raise DevenvError(f"snapshot {commit_id[:12]} names a strange branch")
    refs = []
    for line in fields.get("ref", []):
        ref_id, _, name = line.partition(" ")
        if sha(ref_id) in parents and _REF.match(name):  # anything else is left out
            refs.append((ref_id, name))
    return Snapshot(commit_id, one("head"), branch, one("index"),
                    one("tip", optional=True), one("base", parent=False, optional=True),
                    tuple(sha(s) for s in fields.get("stash", [])
                          if sha(s) in parents), wsbranch, tuple(refs))


# Branch and tag names a snapshot may bring back (git's own rules are wider).
_REF = re.compile(r"refs/(heads|tags)/(?!.*\.\.)(?!.*//)[A-Za-z0-9._/+@-]+\Z")
