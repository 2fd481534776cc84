"""devenv's own copy of every snapshot (docs/workspaces.md): a bare repository per project
under devenv's state directory, which no environment can reach. The project's
``refs/devenv/snapshots/`` are what the user sees, but an environment can write the
project's refs and objects; the copy here is what restore, ``workspace snapshots`` and
``gc --snapshots`` go by, and it puts a snapshot back into the project when it went."""

from __future__ import annotations

import os

from devenv import paths
from devenv.workspaces import hostgit
from devenv.workspaces.targets import project_key

LOCAL_ONLY = {"GIT_ALLOW_PROTOCOL": "file"}  # between the project and this copy, on disk


def path(repo: str) -> str:
    return str(paths.state_dir() / "snapshots" / f"{project_key(repo)}.git")


async def ensure(repo: str) -> str:
    vault = path(repo)
    if not os.path.exists(os.path.join(vault, "HEAD")):
        paths.ensure_private_dir(paths.state_dir() / "snapshots")
        os.makedirs(vault, mode=0o700, exist_ok=True)
        await hostgit.git(vault, "init", "--quiet", "--bare", trusted=False)
        await hostgit.git(vault, "config", "gc.pruneExpire", "never", trusted=False)
    return vault


async def keep(repo: str, ref: str, commit: str) -> None:
    """Copy snapshot ``ref`` (``commit``) of the project into the vault."""
    vault = await ensure(repo)
    await hostgit.git(repo, "push", "--quiet", "--no-verify", vault, f"{commit}:{ref}",
                      trusted=False, env=LOCAL_ONLY)


async def refs(repo: str, prefix: str) -> list[str]:
    vault = path(repo)
    if not os.path.exists(os.path.join(vault, "HEAD")):
        return []
    result = await hostgit.git(vault, "for-each-ref", "--format=%(refname)", prefix,
                               trusted=False)
    return result.stdout.splitlines()


async def resolve(repo: str, ref: str) -> str:
    found = await hostgit.git(path(repo), "rev-parse", "--verify", ref, trusted=False)
    return hostgit.sha(found.stdout)


async def show(repo: str, commit: str) -> str:
    return (await hostgit.git(path(repo), "cat-file", "commit", commit, trusted=False)).stdout


async def into_project(repo: str, ref: str, commit: str) -> None:
    """Make sure the project has snapshot ``ref`` as the vault has it (an environment may
    have removed or moved it there)."""
    there = await hostgit.git(repo, "rev-parse", "--verify", "--quiet", ref, trusted=False,
                              check=False)
    if there.stdout.strip() != commit:
        await hostgit.git(repo, *hostgit.FETCH, path(repo), f"+{ref}:{ref}", trusted=False,
                          env=LOCAL_ONLY)


async def drop(repo: str, ref: str) -> None:
    vault = path(repo)
    if os.path.exists(os.path.join(vault, "HEAD")):
        await hostgit.git(vault, "update-ref", "-d", ref, trusted=False, check=False)
    await hostgit.git(repo, "update-ref", "-d", ref, trusted=False, check=False)
