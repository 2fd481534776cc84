"""Tool config profiles: the host's agent and tool configs, visible but never writable.

For every tool in a project's chain (and git, always), its profile says which host files
the tool reads and which it must write:

- a read-only directory (``~/.claude/agents/``) appears read-only under
  ``/run/devenv/host``; at start the container links its entries into the home volume, so
  the directory in the home stays writable for the tool's own state while the host's files
  cannot be written. Only its shareable entries are there at all: ``private`` entries and
  seeded files are left out of the view (each other entry is mounted on its own: a
  subdirectory stays current, a file is a copy made at start), so an agent cannot read them
  (docs/security.md);
- a read-only file (``~/.claude/settings.json``) is copied at every start into a read-only
  mount and linked (a copy, not a single-file bind mount: those go stale when the host
  replaces the file);
- ``~/.gitconfig`` is copied the same way, but the environment's own ``~/.gitconfig`` only
  includes it: ``git config --global`` works inside and never reaches the host;
- a seeded file (``~/.claude.json``, ``.credentials.json``) is copied once into the home
  volume, writable there, and never written back to the host; ``omit`` names top-level keys
  of a seeded JSON file left out (``~/.claude.json``'s ``projects``: every project's history).

Host files that do not exist are skipped silently; nothing outside the home directory is
ever followed into.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path

from devenv.envs.identity import docker_sockets
from devenv.images.default import container_ids
from devenv.lockfile import atomic_write
from devenv.paths import ensure_private_dir, env_dir, home_relative

TYPE_CHECKING = False
if TYPE_CHECKING:
    from devenv.images.catalogue import Tool

HOST_MOUNT = "/run/devenv/host"
FILES_MOUNT = "/run/devenv/ro"
SEED_MOUNT = "/run/devenv/seed"
VIEW_DIR = "view"
# git is in every image. Never ~/.config/git/credentials (git-credential-store's tokens).
GIT_READONLY = ["~/.config/git/config", "~/.config/git/ignore", "~/.config/git/attributes"]
GIT_INCLUDED = ".gitconfig"  # included by the environment's own ~/.gitconfig


def prepare(name: str, tools: list[Tool], key_dir: str, project_dir: str | None = None
            ) -> list[tuple[str, str, bool]]:
    """Stage the profile of ``tools`` for environment ``name``; return the mounts it needs
    as (host source, container target, read-only) and write ``profile.tsv`` in ``key_dir``
    for the container's init (readable by the container user of ``project_dir``)."""
    readonly, seeded, private = list(GIT_READONLY), [], []
    omit: dict[str, list[str]] = {}
    for tool in tools:
        profile = tool.manifest.profile
        readonly += profile.readonly
        seeded += profile.seeded
        private += profile.private
        for path, keys in profile.omit.items():
            rel = home_relative(path)
            if rel:
                omit.setdefault(rel, []).extend(keys)
    home = Path(os.path.realpath(os.path.expanduser("~")))
    staging = env_dir(name) / "profile"
    shutil.rmtree(staging, ignore_errors=True)
    files_dir = ensure_private_dir(staging / "ro")
    seed_dir = ensure_private_dir(staging / "seed")
    view_dir = ensure_private_dir(staging / VIEW_DIR)
    mounts: list[tuple[str, str, bool]] = [(str(files_dir), FILES_MOUNT, True),
                                           (str(seed_dir), SEED_MOUNT, True)]
    lines = []
    seeded_rels = {rel for rel in map(home_relative, seeded) if rel}
    gitconfig = _inside(home, GIT_INCLUDED)
    if gitconfig is not None and os.path.isfile(gitconfig):
        _copy(Path(gitconfig), files_dir / GIT_INCLUDED, 0o444)
        lines.append(f"include\t{FILES_MOUNT}/{GIT_INCLUDED}\t{GIT_INCLUDED}")
    for path in dict.fromkeys(readonly):
        rel = home_relative(path)
        host = _inside(home, rel)
        if rel is None or host is None:
            continue
        if path.endswith("/") and os.path.isdir(host):
            keep = {*private, *(s.rsplit("/", 1)[-1] for s in seeded_rels
                                if s.startswith(rel + "/"))}
            mounts += _view(home, host, rel, view_dir, keep)
            lines.append(f"link\t{HOST_MOUNT}/{rel}\t{rel}\t{','.join(sorted(keep))}")
        elif not path.endswith("/") and os.path.isfile(host):
            _copy(Path(host), files_dir / rel, 0o444)
            lines.append(f"file\t{FILES_MOUNT}/{rel}\t{rel}")
    lines += _seed(home, seed_dir, seeded_rels, omit)
    atomic_write(Path(key_dir) / "profile.tsv", "".join(line + "\n" for line in lines), 0o600)
    if os.getuid() == 0:  # the container user must read what devenv staged
        uid, gid = container_ids(project_dir)
        for item in [staging, *staging.rglob("*"), Path(key_dir) / "profile.tsv"]:
            os.chown(item, uid, gid, follow_symlinks=False)
    return mounts


def _view(home: Path, host: str, rel: str, view_dir: Path,
          hidden: set[str]) -> list[tuple[str, str, bool]]:
    """Mounts that show the shareable part of the host directory ``host`` read-only at
    ``HOST_MOUNT/rel``. With nothing to hide it is mounted whole (and stays current); else a
    staged directory holds copies of its files and an empty mount point for each
    subdirectory, which is mounted on its own (and stays current). ``hidden`` entries, the
    Docker socket and links that leave the home directory are not there at all."""
    sockets = docker_sockets()
    target = f"{HOST_MOUNT}/{rel}"
    if any(s == host or s.startswith(host + "/") for s in sockets):
        return []  # never hand a container the Docker engine
    try:
        entries = sorted(os.listdir(host))
    except OSError:
        return []
    if not hidden & set(entries):
        return [(host, target, True)]
    staged = view_dir / rel
    staged.mkdir(parents=True, exist_ok=True, mode=0o700)
    mounts = [(str(staged), target, True)]
    for entry in entries:
        if entry in hidden:
            continue
        real = _inside(home, f"{rel}/{entry}")
        if real is None or any(s == real or s.startswith(real + "/") for s in sockets):
            continue  # leaves the home, or would hand a container the Docker engine
        if os.path.isdir(real):
            (staged / entry).mkdir(mode=0o700, exist_ok=True)
            mounts.append((real, f"{target}/{entry}", True))
        elif os.path.isfile(real):
            _copy(Path(real), staged / entry, 0o444)
    return mounts


def _inside(home: Path, rel: str | None) -> str | None:
    """The host path for ``rel``, resolved; ``None`` if it leaves the home directory (a
    symlink pointing elsewhere is not followed out)."""
    if rel is None:
        return None
    real = os.path.realpath(home / rel)
    return real if real.startswith(str(home) + "/") else None


def _seed(home: Path, seed_dir: Path, rels: set[str],
          omit: dict[str, list[str]]) -> list[str]:
    """Stage the seeded files (``omit``: top-level JSON keys left out); their tsv lines."""
    lines = []
    for rel in sorted(rels):
        host = _inside(home, rel)
        if host is None or not os.path.isfile(host):
            continue
        if rel in omit:
            if not _copy_json_without(Path(host), seed_dir / rel, omit[rel]):
                continue  # not JSON that can be filtered: not seeded at all
        else:
            _copy(Path(host), seed_dir / rel, 0o600)
        lines.append(f"seed\t{SEED_MOUNT}/{rel}\t{rel}")
    return lines


def _copy_json_without(source: Path, target: Path, keys: list[str]) -> bool:
    """Seed a JSON object without its top-level ``keys``; ``False`` if it is not one."""
    import json

    try:
        data = json.loads(source.read_bytes())
    except (OSError, ValueError):
        return False
    if not isinstance(data, dict):
        return False
    for key in keys:
        data.pop(key, None)
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    atomic_write(target, json.dumps(data, indent=2) + "\n", 0o600)
    return True


def _copy(source: Path, target: Path, mode: int) -> None:
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    with contextlib.suppress(OSError):  # an unreadable host file is skipped like a missing one
        atomic_write(target, source.read_bytes(), mode)
