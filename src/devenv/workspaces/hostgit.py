"""git on this machine, on the project's own repository, for the workspace commands.

A workspace's content comes from an agent, so devenv's git calls never let it steer this
machine: hooks are off unless the project is trusted (``devenv trust``), objects fetched
from a target are checked (``transfer.fsckObjects``), and no pager, editor or prompt runs
(docs/security.md)."""

from __future__ import annotations

import asyncio
import re

from devenv import proc
from devenv.errors import DevenvError, UsageError, safe_text

SHORT = 120.0  # seconds for one local git step
HOOKS_OFF = ("-c", "core.hooksPath=/dev/null")
# Nothing a repository below the project could name runs here: no file system monitor, no
# recursion into a (planted) submodule, no transport but ssh. '-c' reaches child gits too.
OVERRIDES = (("core.fsmonitor", "false"), ("submodule.recurse", "false"),
             ("fetch.recurseSubmodules", "false"), ("diff.ignoreSubmodules", "all"))
SAFE = ("-c", "transfer.fsckObjects=true", "-c", "core.pager=cat",
        *[w for key, value in OVERRIDES for w in ("-c", f"{key}={value}")])
# A fetch from a target: its refs only as asked, no tags, no FETCH_HEAD, no submodules.
FETCH = ("fetch", "--no-tags", "--no-write-fetch-head", "--quiet", "--recurse-submodules=no")
ENV = {"GIT_TERMINAL_PROMPT": "0", "GIT_EDITOR": "true", "GIT_PAGER": "cat",
       "GIT_ASKPASS": "true", "SSH_ASKPASS": "true", "GIT_ALLOW_PROTOCOL": "ssh"}
_SHA = re.compile(r"[0-9a-f]{40}([0-9a-f]{24})?\Z")


def target_env(trusted: bool) -> dict[str, str]:
    """The environment of devenv's git calls on a target: the overrides above (and hooks
    off unless trusted), local and ssh transports only, an identity for the commits devenv
    writes there (snapshots), and parallel checkout (a third faster for 2,000 files on two
    cores)."""
    env = {"GIT_AUTHOR_NAME": "devenv", "GIT_AUTHOR_EMAIL": "devenv@localhost",
           "GIT_COMMITTER_NAME": "devenv", "GIT_COMMITTER_EMAIL": "devenv@localhost",
           "GIT_ALLOW_PROTOCOL": "file:ssh"}
    settings = [*OVERRIDES, *([] if trusted else [("core.hooksPath", "/dev/null")]),
                ("checkout.workers", "0")]  # checkouts write files on every core
    env["GIT_CONFIG_COUNT"] = str(len(settings))
    for i, (key, value) in enumerate(settings):
        env[f"GIT_CONFIG_KEY_{i}"], env[f"GIT_CONFIG_VALUE_{i}"] = key, value
    return env


_GIT_DIRS: dict[str, dict[str, str]] = {}


def git_dirs(repo: str) -> dict[str, str]:
    """``GIT_DIR`` and ``GIT_WORK_TREE`` for the project's repository, given explicitly so
    that nothing in the work tree can send git elsewhere: its ``.git`` must be a directory
    (not a link), with no ``commondir`` (a main repository has none; one planted there
    would point git at another config). A project whose ``.git`` is a file (a linked
    worktree, a submodule) is used as git finds it."""
    import os
    import stat as st

    if repo in _GIT_DIRS:
        return _GIT_DIRS[repo]
    gitdir = os.path.join(repo, ".git")
    try:
        mode = os.lstat(gitdir).st_mode
    except OSError:
        mode = 0
    dirs: dict[str, str] = {}
    if st.S_ISDIR(mode):
        if os.path.lexists(os.path.join(gitdir, "commondir")):
            raise DevenvError(f"{gitdir}/commondir exists: it would point git at another "
                              "directory's config and hooks; devenv runs no git there",
                              "look at what put it there and remove it (docs/security.md)")
        dirs = {"GIT_DIR": gitdir, "GIT_WORK_TREE": repo}
    _GIT_DIRS[repo] = dirs
    return dirs


def argv(repo: str, *args: str, trusted: bool) -> list[str]:
    return ["git", "-C", repo, *SAFE, *(() if trusted else HOOKS_OFF), *args]


async def git(repo: str, *args: str, trusted: bool, env: dict[str, str] | None = None,
              timeout: float = SHORT, check: bool = True, input: str | None = None
              ) -> proc.Result:
    """Run git on ``repo`` (in a thread: the asyncio loop keeps serving the pool)."""
    return await asyncio.to_thread(proc.run, argv(repo, *args, trusted=trusted),
                                   timeout=timeout, env={**ENV, **git_dirs(repo), **(env or {})},
                                   check=check, input=input)


def last_words(result: proc.Result) -> str:
    lines = [ln.strip() for ln in (result.stderr or result.stdout).splitlines() if ln.strip()]
    return safe_text(lines[-1])[:300] if lines else f"exit {result.returncode}"


def is_sha(text: str) -> bool:
    return bool(_SHA.match(text))


def sha(text: str) -> str:
    """A commit id as git printed it (validated: it came from a target)."""
    text = text.strip()
    if not is_sha(text):
        raise DevenvError(f"expected a commit id, got {safe_text(text[:80])!r}")
    return text


async def object_format(repo: str) -> str:
    """The project's object format: ``sha1`` or ``sha256``."""
    result = await git(repo, "rev-parse", "--show-object-format", trusted=False, check=False)
    return "sha256" if result.stdout.strip() == "sha256" else "sha1"


async def top(path: str) -> str:
    """The top of the git work tree ``path`` is in."""
    result = await asyncio.to_thread(proc.run, argv(path, "rev-parse", "--show-toplevel",
                                                    trusted=False),
                                     timeout=SHORT, env=ENV, check=False)
    if result.returncode != 0:
        raise UsageError(f"{path} is not in a git repository; workspaces are git checkouts",
                         "make it one: git init && git add -A && git commit -m start")
    return result.stdout.strip()


async def commit_of(repo: str, ref: str) -> str:
    """The commit ``ref`` names in ``repo`` (``--from``)."""
    if not ref or ref.startswith("-") or "\0" in ref:
        raise UsageError(f"invalid revision {ref!r}", "give a branch, tag or commit")
    result = await git(repo, "rev-parse", "--verify", "--quiet", "--end-of-options",
                       f"{ref}^{{commit}}", trusted=False, check=False)
    if result.returncode != 0:
        if ref == "HEAD":
            raise UsageError(f"{repo} has no commit yet; a workspace starts from one",
                             "commit something first: git add -A && git commit -m start")
        raise UsageError(f"{ref!r} names no commit in {repo}",
                         "give a branch, tag or commit of the project (--from)")
    return sha(result.stdout)


async def worktree_commit(repo: str, base: str) -> str | None:
    """The project's uncommitted and untracked (not ignored) changes as a commit on ``base``
    (``--include-uncommitted``), written through a copy of the index so that the user's
    index is untouched; ``None`` when there are none."""
    import os
    import tempfile

    index = (await git(repo, "rev-parse", "--path-format=absolute", "--git-path", "index",
                       trusted=False)).stdout.strip()
    with tempfile.TemporaryDirectory(prefix="devenv-index-") as tmp:
        copy = os.path.join(tmp, "index")
        _copy_index(index, copy)
        env = {"GIT_INDEX_FILE": copy}
        await git(repo, "add", "-A", ".", trusted=False, env=env)
        tree = (await git(repo, "write-tree", trusted=False, env=env)).stdout.strip()
    if tree == (await git(repo, "rev-parse", f"{base}^{{tree}}", trusted=False)).stdout.strip():
        return None
    made = await git(repo, "commit-tree", tree, "-p", base, "-m",
                     "devenv: uncommitted changes of the project", trusted=False,
                     env={"GIT_AUTHOR_NAME": "devenv", "GIT_AUTHOR_EMAIL": "devenv@localhost",
                          "GIT_COMMITTER_NAME": "devenv",
                          "GIT_COMMITTER_EMAIL": "devenv@localhost"})
    return sha(made.stdout)


MAX_INDEX = 1 << 30


def _copy_index(index: str, copy: str) -> None:
    """Copy the index (an environment can write it): a regular file only, never through a
    link, at most :data:`MAX_INDEX` bytes; its times kept (git's racy-entry check)."""
    import os
    import stat

    try:
        fd = os.open(index, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        return
    except OSError as e:
        raise DevenvError(f"{index} cannot be read: {e.strerror}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_INDEX:
            raise DevenvError(f"{index} is not a plain index file; not read",
                              "look at what put it there")
        with open(copy, "wb") as out:
            while chunk := os.read(fd, 1 << 20):
                out.write(chunk)
        os.utime(copy, ns=(info.st_atime_ns, info.st_mtime_ns))
    finally:
        os.close(fd)
