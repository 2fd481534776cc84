"""The project as the workspace commands see it (docs/workspaces.md)."""

from __future__ import annotations

from dataclasses import dataclass

from devenv.errors import DevenvError
from devenv.workspaces import hostgit


@dataclass(frozen=True)
class Project:
    """A project as the workspace commands see it: its directory (devenv's key), the top
    of its git work tree, its ``.devenv/init`` as read now, and whether the user trusts that
    hook (``devenv trust``; git hooks run in devenv's own git steps only then)."""

    path: str
    repo: str
    trusted: bool
    hook: bytes | None = None
    trust_note: str = ""
    hook_error: str = ""  # why .devenv/init could not be read (a planted link, ...)


async def project(raw_path: str) -> Project:
    from devenv.envs import identity, start
    from devenv.workspaces import trust

    located = start.locate(raw_path)
    path = identity.project_path(located.path).path
    repo = await hostgit.top(path)
    try:
        hook = trust.read_hook(path)
    except DevenvError as e:  # a planted link, a huge file: never run, never followed
        return Project(path, repo, False, None, "", e.message)
    judged = trust.status(path, hook)
    return Project(path, repo, judged.trusted, hook, judged.note)
