"""The project's git metadata as the container sees it: usable, but unable to steer the host.

The host's git runs what a repository's config names (``core.fsmonitor``, ``core.sshCommand``,
aliases, filter and diff drivers) and its hooks, so an agent that could write them would run
code on the host the next time the user types ``git status``. Inside the environment
(docs/security.md):

- ``.git`` itself is a mount point, so it cannot be renamed away and replaced;
- ``.git/config`` is a read-only stub that includes the host's current file through a
  read-only view of the whole ``.git`` directory at :data:`VIEW_MOUNT`. The stub never changes,
  so the view stays current although the host's git replaces its config by rename (a
  single-file mount of the real file would keep showing the old one);
- ``.git/hooks`` and a ``core.hooksPath`` inside the project are read-only;
- the same for every submodule under ``.git/modules`` (its config and hooks, and the ``.git``
  file of its checkout, which names its git directory), and ``config.worktree``;
- ``.git/worktrees`` (the host's linked worktrees: their ``commondir``, ``gitdir`` and
  config) is read-only as a whole, and a ``.git/commondir`` is refused.

Objects, refs, the index and ``HEAD`` stay writable: an agent commits, branches and fetches.
What the agent cannot do is write a setting; git's own error is followed by a hint from the
image's git wrapper that points to the environment's own ``~/.gitconfig``.

Nothing here follows a link in the project: a ``.git`` piece that is a symlink is refused
(a link can be replaced from inside, and a mount would follow it to wherever it points).
"""

from __future__ import annotations

import os
import shutil
import stat
import sys
from pathlib import Path

from devenv import proc
from devenv.config import Config
from devenv.envs.identity import ProjectPath
from devenv.envs.index import git_config_id
from devenv.errors import ConfigError, DevenvError
from devenv.lockfile import atomic_write
from devenv.paths import ensure_private_dir, env_dir

VIEW_MOUNT = "/run/devenv/git"
# On the container: the inode of .git/config when its read-only stub was mounted.
LABEL_GUARDED = "devenv.gitguard"
STUB_MARK = "# devenv: read-only"
MAX_DEPTH = 8  # nested submodules (.git/modules/a/modules/b/...)

Mount = tuple[str, str, bool]  # host source, container target, read-only


def _refuse(path: str, what: str) -> ConfigError:
    return ConfigError(f"{path} is {what}; devenv cannot keep it out of the agent's reach",
                       "look at what put it there, then replace it with a plain file or "
                       "directory (docs/security.md)")


def _kind(path: str) -> str | None:
    """``dir``, ``file`` or ``None`` (missing); a symlink or anything else is refused."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None
    if stat.S_ISLNK(st.st_mode):
        raise _refuse(path, f"a symbolic link (to {os.readlink(path)!r})")
    if stat.S_ISDIR(st.st_mode):
        return "dir"
    if stat.S_ISREG(st.st_mode):
        return "file"
    raise _refuse(path, "not a regular file or directory")


def stub(included: str) -> str:
    """The read-only config the container sees instead of the real one."""
    return (f"{STUB_MARK}: the host's git would run what this file names, so the environment\n"
            "# sees it through devenv (docs/security.md). Your own settings go in ~/.gitconfig\n"
            "# (git config --global), which belongs to the environment.\n"
            f"[include]\n\tpath = {included}\n")


class _Plan:
    def __init__(self, project: ProjectPath, stubs: Path) -> None:
        self.project = project
        self.stubs = stubs
        self.mounts: list[Mount] = []
        self.files: dict[str, str] = {}  # stub name -> content

    def inside(self, host: str) -> str:
        return self.project.workspace + host[len(self.project.path):]

    def protect_config(self, gitdir: str, name: str) -> None:
        """Put a stub over ``gitdir/name`` that includes the host's current file."""
        host = os.path.join(gitdir, name)
        if _kind(host) != "file":
            return
        rel = os.path.relpath(host, os.path.join(self.project.path, ".git"))
        stub_name = rel.replace("/", "__")
        self.files[stub_name] = stub(f"{VIEW_MOUNT}/{rel}")
        self.mounts.append((str(self.stubs / stub_name), self.inside(host), True))

    def protect_dir(self, path: str) -> None:
        """A read-only mount over a directory inside the project (created when missing, so
        nothing can be planted there later)."""
        if _kind(path) is None:
            os.mkdir(path, 0o755)
            owner = os.stat(os.path.dirname(path))  # the repository's owner keeps it
            os.chown(path, owner.st_uid, owner.st_gid, follow_symlinks=False)
        if _kind(path) != "dir":
            raise _refuse(path, "not a directory")
        self.mounts.append((path, self.inside(path), True))

    def protect_gitdir(self, gitdir: str, depth: int = 0) -> None:
        self.protect_config(gitdir, "config")
        self.protect_config(gitdir, "config.worktree")
        self.protect_dir(os.path.join(gitdir, "hooks"))
        core = _core_settings(os.path.join(gitdir, "config"))
        hooks_path, worktree = core.get("core.hookspath", ""), core.get("core.worktree", "")
        if depth == 0:
            top = self.project.path
        elif worktree:
            top = os.path.normpath(os.path.join(gitdir, worktree))
        else:
            top = ""
        if hooks_path and top:
            self._protect_hooks_path(top, hooks_path)
        if depth and top and self._within(top):
            gitfile = os.path.join(top, ".git")
            if _kind(gitfile) == "file":  # the submodule checkout's pointer to its git dir
                self.mounts.append((gitfile, self.inside(gitfile), True))
        if _kind(os.path.join(gitdir, "commondir")) is not None and depth == 0:
            # A main repository has none; one here sends git to another config and hooks.
            raise ConfigError(f"{gitdir}/commondir exists: it points this repository's git "
                              "at another directory's config and hooks",
                              "look at what put it there and remove it (docs/security.md)")
        worktrees = os.path.join(gitdir, "worktrees")
        if _kind(worktrees) == "dir":
            # The host's linked worktrees read their commondir, gitdir and config.worktree
            # there: all of it read-only (the agent cannot add worktrees of its own).
            for root, dirs, files in os.walk(worktrees):
                for entry in [*dirs, *files]:
                    _kind(os.path.join(root, entry))  # refuses links anywhere in there
            self.mounts.append((worktrees, self.inside(worktrees), True))
        modules = os.path.join(gitdir, "modules")
        if depth < MAX_DEPTH and _kind(modules) == "dir":
            self._protect_modules(modules, depth)

    def _protect_modules(self, modules: str, depth: int) -> None:
        for root, dirs, files in os.walk(modules):
            for entry in [*dirs, *files]:
                _kind(os.path.join(root, entry))  # refuses links anywhere in there
            if "config" in files and "HEAD" in files:  # a submodule's git dir
                dirs.clear()
                self.protect_gitdir(root, depth + 1)

    def _protect_hooks_path(self, top: str, hooks_path: str) -> None:
        path = os.path.normpath(os.path.join(top, os.path.expanduser(hooks_path)))
        if self._within(path) and path != self.project.path:
            # Checked component by component: no link on the way (it could lead anywhere).
            rel = os.path.relpath(path, self.project.path).split(os.sep)
            for i in range(1, len(rel) + 1):
                _kind(os.path.join(self.project.path, *rel[:i]))
            self.protect_dir(path)

    def _within(self, path: str) -> bool:
        return path == self.project.path or path.startswith(self.project.path + "/")


def _core_settings(config_file: str) -> dict[str, str]:
    """``core.hookspath`` and ``core.worktree`` of a git config file, read by git itself
    (``--file`` without includes runs nothing the file names; from ``/``, so no repository
    around devenv's working directory is read); missing when unset or git is absent."""
    if _kind(config_file) != "file":
        return {}
    try:
        out = proc.run(["git", "config", "--file", config_file, "--get-regexp",
                        r"^core\.(hookspath|worktree)$"], timeout=10, check=False, cwd="/")
    except DevenvError:
        return {}
    found = {}
    for line in out.stdout.splitlines():
        key, _, value = line.partition(" ")
        found[key.lower()] = value
    return found


def mounts(project: ProjectPath, stubs: Path) -> list[Mount]:
    """The mounts that keep the project's git metadata read-only inside; the stub files are
    written to ``stubs`` (a private directory of devenv's, mounted read-only)."""
    dotgit = os.path.join(project.path, ".git")
    kind = _kind(dotgit)
    if kind is None:
        return []
    plan = _Plan(project, stubs)
    if kind == "file":  # a worktree or submodule checkout: its git dir is outside
        plan.mounts.append((dotgit, plan.inside(dotgit), True))
        return plan.mounts
    # .git itself first: a mount point cannot be renamed away (and docker mounts parents
    # before children).
    plan.mounts.append((dotgit, plan.inside(dotgit), False))
    plan.mounts.append((dotgit, VIEW_MOUNT, True))
    plan.protect_gitdir(dotgit)
    for name, content in plan.files.items():
        atomic_write(stubs / name, content, 0o644)
    return plan.mounts


def prepare(project: ProjectPath, name: str, cfg: Config) -> tuple[list[Mount], dict[str, str]]:
    """The mounts for environment ``name`` and the container label that records which file
    ``.git/config`` was (see :func:`devenv.envs.index.git_config_id`); nothing for a project
    the user trusts (``trust_git_config``). The stubs are made anew at every start."""
    if project.path in cfg.trust_git_config:
        print(f"devenv: note: {project.path}'s git config and hooks are writable in the "
              "environment (trust_git_config in the user config)", file=sys.stderr)
        return [], {}
    stubs = env_dir(name) / "git"
    shutil.rmtree(stubs, ignore_errors=True)
    found = mounts(project, ensure_private_dir(stubs))
    return found, {LABEL_GUARDED: git_config_id(project.path)}
