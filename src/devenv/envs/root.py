"""Which project a directory belongs to (docs/architecture.md): every verb that takes PATH
acts on the project PATH is in, so ``devenv .`` in ``api/src`` reaches ``api``'s environment
and starts in ``/workspace/api/src``.

The project is the nearest directory, from PATH up, that devenv knows as a project; else the
nearest that has a ``.devenv/`` directory; else the top of the git work tree PATH is in (the
nearest with a ``.git`` entry); else PATH itself. A known project wins over a ``.devenv/``
below it: the environment can write one anywhere in its project, and it must not make the
user's next command start another environment from the agent's config (``--here`` starts
that directory on purpose, after which it is known). The walk stops below the user's home
directory and below ``/`` (neither is ever a project). ``--here`` takes PATH as it is.

Only a PATH that looks like one walks up (it holds a "/" or is "." or ".."): a bare word
that happens to be a directory here (which the environment may have made) is that
directory, never some project above it -- it may be the name of another environment.

Only ``os``: the attach/exec fast path resolves PATH with it. Nothing is read but the
presence of entries (no file is opened, no git is run: a repository the environment can
write must not make the host run anything).
"""

from __future__ import annotations

import os
import stat

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Container

KNOWN = "known"
MARKED = "marked"  # has .devenv/
GIT = "git"


def find(real: str, known: Container[str] = ()) -> tuple[str, str]:
    """The project of the absolute, resolved directory ``real`` and why (:data:`KNOWN`,
    :data:`MARKED`, :data:`GIT`, or "" when it is ``real`` itself for want of any)."""
    home = os.path.realpath(os.path.expanduser("~"))
    marked = git_top = ""
    here = real
    while here not in (home, "/"):
        if here in known:
            return here, KNOWN
        if not marked and _is_dir(os.path.join(here, ".devenv")):
            marked = here
        if not git_top and os.path.lexists(os.path.join(here, ".git")):
            git_top = here
        parent = os.path.dirname(here)
        if parent == here:
            break
        here = parent
    if marked:
        return marked, MARKED
    return (git_top, GIT) if git_top else (real, "")


def walks(raw: str) -> bool:
    """Whether the argument ``raw`` is a PATH that resolves to the project it is in (see the
    module docstring); other words name exactly that directory."""
    return "/" in raw or raw in (".", "..")


def inside(root: str, real: str) -> str:
    """``real`` relative to its project ``root`` ("" for the root itself)."""
    return "" if real == root else os.path.relpath(real, root)


def note(project: str, asked: str, reason: str) -> str:
    """What devenv says when the project of ``asked`` is another directory ("" if not)."""
    if project == asked:
        return ""
    from devenv.errors import safe_text

    why = {KNOWN: "a project devenv knows", MARKED: "the nearest with .devenv/",
           GIT: "the top of its git work tree"}[reason]
    return safe_text(f"devenv: project {project} ({why}); --here for {asked} itself")


def _is_dir(path: str) -> bool:
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)
    except OSError:
        return False
