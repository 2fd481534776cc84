"""Incremental sync of the project to a remote target: ``git push`` over the pooled master
into the target's bare repository, the project's refs staged under ``refs/devenv/sync/``
(branches, tags, remote-tracking branches; pruned as they go), so only what the target
lacks travels. ``git-receive-pack`` runs under ``flock`` on the target's sync lock, so any
number of processes on any number of machines sync one after another; a failed attempt is
repaired (stale ref locks and push quarantines of a killed sync removed) and tried again
(docs/workspaces.md)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass

from devenv.errors import DevenvError, UsageError, safe_text
from devenv.workspaces import hostgit, scripts
from devenv.workspaces.targets import Target

SYNC_TIMEOUT = 1800.0  # seconds for one push (a first sync of a large project)
LOCK_WAIT = 300  # seconds a sync waits for another one on the same target
ATTEMPTS = 3
REFSPECS = ("+refs/heads/*:refs/devenv/sync/heads/*",
            "+refs/tags/*:refs/devenv/sync/tags/*",
            "+refs/remotes/*:refs/devenv/sync/remotes/*")
# git's and ssh's words for failures that trying again does not fix.
_PERMANENT = ("Permission denied", "Host key verification failed", "Could not resolve",
              "does not appear to be a git", "No space left", "Disk quota")
# ... and for a target where git-receive-pack cannot run: a bundle goes instead.
_NO_PUSH = ("git-receive-pack: not found", "git-receive-pack: command not found",
            "failed to execute git-receive-pack", "git-receive-pack: No such file")


@dataclass(frozen=True)
class Synced:
    updated: int  # refs created, moved or deleted on the target


class SyncError(DevenvError):
    pass


def _receive_pack(target: Target) -> str:
    from devenv.runtime import wire

    if not target.has_flock:
        return "git-receive-pack"
    lock = f"{target.root}/.devenv/sync.lock"
    return f"flock -w {LOCK_WAIT} {wire.quote(lock)} git-receive-pack"


def _updated(porcelain: str) -> int:
    flags = [line[0] for line in porcelain.splitlines() if "\t" in line and line[:1] in
             " +-*!="]
    return sum(1 for flag in flags if flag in " +-*")


class HistoryError(UsageError):
    """The project lacks history a target needs (a shallow or partial clone)."""


async def require_history(repo: str) -> None:
    """A remote target gets the project's whole history: a shallow or a partial clone has
    none to give (git would fetch what it lacks from elsewhere, or fail part way)."""
    shallow, partial = await asyncio.gather(
        hostgit.git(repo, "rev-parse", "--is-shallow-repository", trusted=False),
        hostgit.git(repo, "config", "--get-regexp",
                    r"^(extensions\.partialclone|remote\..*\.promisor)$", trusted=False,
                    check=False))
    promisor = any(line.split(" ", 1)[-1].lower() not in ("false", "no", "off", "0")
                   for line in partial.stdout.splitlines())
    kind = ("a shallow" if shallow.stdout.strip() == "true" else
            "a partial" if promisor else "")
    if kind:
        raise HistoryError(f"{repo} is {kind} clone: a target needs its whole history "
                           "(workspaces there borrow it)",
                           "git fetch --unshallow, or a full clone; a local workspace "
                           "(--on local) needs none")


async def sync(target: Target, *, trusted: bool, extra: tuple[str, ...] = ()) -> Synced:
    """Bring the target's copy of the project up to date (and push ``extra`` refspecs,
    e.g. a workspace's starting commit)."""
    await require_history(target.repo_path)
    _remove_stale(_seed_dir())
    await target.prepare()
    if target.empty:
        try:
            return await _seed(target, extra)
        except SeedError as e:  # then the way every later sync goes
            from devenv import proc

            if proc.debug_enabled():
                print(f"devenv: no seed, a push instead: {safe_text(str(e))[:300]}",
                      file=sys.stderr)
    said = ""
    for attempt in range(1, ATTEMPTS + 1):
        async with target.git_ssh() as (env, url):
            result = await hostgit.git(
                target.repo_path, "push", "--porcelain", "--prune", "--no-verify",
                f"--receive-pack={_receive_pack(target)}", url + target.repo,
                *REFSPECS, *extra, trusted=trusted, env=env, timeout=SYNC_TIMEOUT,
                check=False)
        if result.returncode == 0:
            return Synced(_updated(result.stdout))
        said = hostgit.last_words(result)
        if any(words in result.stderr for words in _NO_PUSH):
            return await _by_bundle(target, trusted=trusted, extra=extra)
        if attempt == ATTEMPTS or any(words in result.stderr for words in _PERMANENT):
            break
        # A killed or broken earlier sync may have left locks behind: clear them under the
        # lock, then go again a little later.
        await target.run(scripts.REPAIR, target.root, check=False)
        await asyncio.sleep(0.5 * attempt)
    raise SyncError(f"sync of {target.repo_path} to {target.label} failed: {said}",
                    "run it again; DEVENV_DEBUG=1 shows the git commands")


class SeedError(Exception):
    pass


async def _seed(target: Target, extra: tuple[str, ...]) -> Synced:
    """The first sync: one pack of the project's refs made here *with its index*, streamed
    over and moved into place, and the refs set. A push would have the target index every
    object, then walk them all for connectivity: on a large repository this takes a fifth
    of the time (docs/benchmarks.md). Any failure leaves the way of every later sync."""
    import tempfile

    repo = target.repo_path
    listed = await hostgit.git(repo, "for-each-ref", "--format=%(objectname) %(refname)",
                               "refs/heads", "refs/tags", "refs/remotes", trusted=False)
    sets = [f"{oid} refs/devenv/sync/{ref[len('refs/'):]}"
            for oid, _, ref in (line.partition(" ") for line in listed.stdout.splitlines())]
    if not sets:  # nothing would mark the target synced: every sync would seed again
        raise SeedError("no branches or tags")
    sets += await _extra_sets(repo, extra)
    try:
        with tempfile.TemporaryDirectory(prefix=f"seed-{os.getpid()}-",
                                         dir=_seed_dir(make=True)) as tmp:
            made = await hostgit.git(
                repo, "-c", "pack.packSizeLimit=0", "-c", "pack.writeReverseIndex=false",
                "-c", "pack.indexVersion=2", "pack-objects", "--revs", "--delta-base-offset",
                "-q", os.path.join(tmp, "p"), trusted=False, check=False,
                input="".join(sorted({line.split()[0] + "\n" for line in sets})),
                timeout=SYNC_TIMEOUT)
            pack_id = made.stdout.strip()
            if made.returncode != 0 or not hostgit.is_sha(pack_id):
                raise SeedError(hostgit.last_words(made))
            refs = os.path.join(tmp, "refs")
            with open(refs, "w", encoding="utf-8", errors="surrogateescape") as f:
                f.writelines(f"update {ref} {oid}\n" for oid, _, ref in
                             (line.partition(" ") for line in sets))
            files = [("pack", os.path.join(tmp, f"p-{pack_id}.pack")),
                     ("idx", os.path.join(tmp, f"p-{pack_id}.idx")), ("refs", refs)]
            result = await target.runtime.exec(
                ["sh", "-c", scripts.SEED, "sh", target.root, pack_id], stdin=_tar(files),
                cwd="/", timeout=SYNC_TIMEOUT, env=target.git_env(trusted=False))
    except OSError as e:  # this machine's disk: a push needs no room here
        raise SeedError(str(e)) from None
    if not result.ok:
        raise SeedError(result.stderr.decode("utf-8", "replace"))
    target.empty = False
    return Synced(len(sets))


def _seed_dir(*, make: bool = False) -> str:
    """Where seeds are made: devenv's private ``cache/seed``."""
    from devenv import paths

    where = paths.cache_dir() / "seed"
    return str(paths.private_dir(where) if make else where)


async def _tar(files: list[tuple[str, str]]) -> AsyncIterator[bytes]:
    """A tar stream of ``files`` (name in the archive, path here), read as it is sent."""
    for name, path in files:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            yield tar_header(name, size)
            while chunk := f.read(1 << 20):
                yield chunk
        if size % 512:
            yield b"\0" * (512 - size % 512)
    yield b"\0" * 1024


def tar_header(name: str, size: int) -> bytes:
    """A read-only file's tar header, dated now; GNU's format, whose size field has no
    8 GiB limit (ustar's has)."""
    import tarfile
    import time

    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = size, 0o444, int(time.time())
    return info.tobuf(tarfile.GNU_FORMAT)


def _remove_stale(scratch: str) -> None:
    """Seeds of processes that died (killed part way: their pid is gone) go."""
    import shutil

    with contextlib.suppress(OSError), os.scandir(scratch) as entries:
        for entry in entries:
            pid = entry.name.split("-")[1:2]
            if not entry.name.startswith("seed-") or not pid or not pid[0].isdigit():
                continue
            try:
                os.kill(int(pid[0]), 0)
            except ProcessLookupError:
                shutil.rmtree(entry.path, ignore_errors=True)
            except (OSError, OverflowError):  # alive (EPERM: another user's), or no pid
                continue


async def _extra_sets(repo: str, extra: tuple[str, ...]) -> list[str]:
    """``ID REF`` for each ``extra`` refspec (its source resolved here)."""
    sets = []
    for spec in extra:
        source, _, dest = spec.lstrip("+").partition(":")
        commit = hostgit.sha((await hostgit.git(repo, "rev-parse", "--verify", source,
                                                trusted=False)).stdout)
        sets.append(f"{commit} {dest}")
    return sets


async def _by_bundle(target: Target, *, trusted: bool, extra: tuple[str, ...]) -> Synced:
    """Sync with a bundle of what the target lacks (built against the target's refs that
    this repository has), copied over with the runtime's file API and fetched there."""
    import tempfile
    import uuid

    repo = target.repo_path
    theirs = {line.split()[0] for line in
              (await target.run(scripts.SYNCED_REFS, target.root)).splitlines() if line}
    have = []
    if theirs:
        known = await hostgit.git(repo, "cat-file", "--batch-check", trusted=False,
                                  input="\n".join(sorted(theirs)) + "\n", check=False)
        have = [line.split()[0] for line in known.stdout.splitlines()
                if line.split()[1:2] in (["commit"], ["tag"])]
    sets = await _extra_sets(repo, extra)
    positive = ["--branches", "--tags", "--remotes", *(line.split()[0] for line in sets)]
    with tempfile.TemporaryDirectory(prefix="devenv-bundle-") as tmp:
        bundle = os.path.join(tmp, "sync.bundle")
        made = await hostgit.git(repo, "bundle", "create", "-q", bundle, *positive,
                                 *(["--not", *have] if have else []), trusted=False,
                                 check=False, timeout=SYNC_TIMEOUT)
        if made.returncode != 0 and have:  # nothing new ("empty bundle"): send the tips
            made = await hostgit.git(repo, "bundle", "create", "-q", bundle, *positive,
                                     "--not", *[f"{c}^@" for c in have], trusted=False,
                                     check=False, timeout=SYNC_TIMEOUT)
        if made.returncode != 0:
            raise SyncError(f"could not build a bundle of {repo}: {hostgit.last_words(made)}")
        remote = f"{target.root}/.devenv/tmp/sync-{uuid.uuid4().hex}.bundle"
        size = os.path.getsize(bundle)

        async def chunks() -> AsyncIterator[bytes]:
            with open(bundle, "rb") as f:
                while chunk := f.read(1 << 20):
                    yield chunk

        await target.runtime.write_file(remote, chunks(), size=size)
    await target.run(scripts.UNBUNDLE, target.root, remote, *sets, timeout=SYNC_TIMEOUT)
    return Synced(len(sets))
