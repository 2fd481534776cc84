"""Where devenv keeps things. One override, ``DEVENV_HOME``, moves all of it (tests use it).

Without the override devenv follows XDG: the user config file in ``$XDG_CONFIG_HOME/devenv``,
state (the database, keys, ssh_config) in ``$XDG_STATE_HOME/devenv``, cache (build and crash
logs) in ``$XDG_CACHE_HOME/devenv``.
Runtime files (ControlMaster sockets, machine-wide locks) live in ``$XDG_RUNTIME_DIR``, or
without it in ``/tmp/devenv-<uid>`` (not ``$TMPDIR``: macOS sets a long one, and a socket path
has ~100 bytes). Every private directory is created 0700 and verified before use
(:func:`private_dir`): one that another user owns or can write, or a symlink, is an error,
never used.
This module is on the exec fast path, so ``pathlib`` is imported only by the functions that
return a ``Path``.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pathlib import Path

_XDG = {"config": ("XDG_CONFIG_HOME", ".config"),
        "state": ("XDG_STATE_HOME", ".local/state"),
        "cache": ("XDG_CACHE_HOME", ".cache")}


def _root(kind: str) -> str:
    home = os.environ.get("DEVENV_HOME")
    if home:
        return os.path.join(os.path.abspath(home), kind)
    var, default = _XDG[kind]
    value = os.environ.get(var, "")
    base = value if os.path.isabs(value) else os.path.join(os.path.expanduser("~"), default)
    return os.path.join(base, "devenv")


def _path(kind: str, *parts: str) -> Path:
    from pathlib import Path

    return Path(_root(kind), *parts)


def config_file() -> Path:
    """The user config file (defaults for every project)."""
    return _path("config", "config.toml")


def config_file_str() -> str:
    """:func:`config_file` as a ``str``, for the fast path."""
    return os.path.join(_root("config"), "config.toml")


def index_file() -> str:
    """The project index derived from the database for the exec fast path (a ``str``: the
    fast path avoids pathlib)."""
    return os.path.join(_root("state"), "index")


def ssh_config_str() -> str:
    """devenv's ssh_config (a ``str``, for the exec fast path)."""
    return os.path.join(_root("state"), "ssh", "config")


def env_control_socket(control_dir: str, port: int) -> str:
    """The ControlMaster socket of the environment on ``port`` in ``control_dir``: shared by
    every ssh client using devenv's ssh_config, ``devenv exec`` and the runtime library."""
    return f"{control_dir}/e{port}"


def db_path() -> Path:
    return _path("state", "state.db")


def state_dir() -> Path:
    return _path("state")


def cache_dir() -> Path:
    return _path("cache")


def ssh_dir() -> Path:
    """devenv's own SSH files: client key, known_hosts, ssh_config."""
    return _path("state", "ssh")


def locks_dir() -> Path:
    return _path("state", "locks")


SHARED_TMP = "/tmp"  # noqa: S108 - the base's parent without XDG_RUNTIME_DIR (tests move it)


def runtime_dir() -> Path:
    """The base of this user's runtime files, verified: ``$XDG_RUNTIME_DIR`` when set (it must
    be ours, no link, writable by nobody else), else ``/tmp/devenv-<uid>``, created 0700 and
    verified like every private directory (in the sticky ``/tmp`` nobody else can swap it
    once it is ours)."""
    from pathlib import Path

    runtime = os.environ.get("XDG_RUNTIME_DIR", "")
    if os.path.isabs(runtime):
        return private_dir(Path(runtime), shared=True)
    return private_dir(Path(SHARED_TMP, f"devenv-{os.getuid()}"))


def machine_locks_dir() -> Path:
    """Locks shared by every devenv of this user on this machine (not moved by
    ``DEVENV_HOME``): they guard the Docker engine's images, which all of them share.
    Created and verified (:func:`private_dir`)."""
    base = runtime_dir()
    in_xdg = os.path.isabs(os.environ.get("XDG_RUNTIME_DIR", ""))
    return private_dir(base / ("devenv-locks" if in_xdg else "locks"))


def env_dir(name: str) -> Path:
    """Per-environment files, e.g. the host-key directory mounted into the container."""
    return _path("state", "envs", name)


def log_dir() -> Path:
    return _path("cache", "logs")


_S_IFMT, _S_IFDIR, _S_IFLNK = 0o170000, 0o040000, 0o120000


def dir_problem(path: str, *, shared: bool = False, any_owner: bool = False) -> str | None:
    """What makes ``path`` unfit as a private directory of this user, or ``None``: it must
    exist, be a directory (not a symlink to one), be owned by us and be closed to everyone
    else (mode ``& 0o077 == 0``); with ``shared`` (a base such as ``$XDG_RUNTIME_DIR``),
    others may read it but not write to it; ``any_owner`` skips the owner check. One
    ``lstat``: cheap enough for the exec fast path."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return "does not exist"
    except OSError as e:
        return f"cannot be checked ({e.strerror})"
    kind = st.st_mode & _S_IFMT
    if kind == _S_IFLNK:
        return "is a symbolic link, not a directory"
    if kind != _S_IFDIR:
        return "is not a directory"
    if st.st_uid != os.getuid() and not any_owner:
        return f"is owned by uid {st.st_uid}, not by you (uid {os.getuid()})"
    if st.st_mode & (0o022 if shared else 0o077):
        return f"is open to other users (mode {st.st_mode & 0o7777:04o})"
    return None


def private_dir(path: Path, *, shared: bool = False) -> Path:
    """Create ``path`` and its missing parents with mode 0700, then verify it and its
    parent (see :func:`dir_problem` and :func:`parent_problem`); return it.

    A directory of ours that nobody else can write to but others may read (made by an older
    devenv or a wide umask) is closed to 0700. Anything else that fails the check raises
    :class:`~devenv.errors.ConflictError` naming the path and the problem: it is never used.
    ``shared``: a base directory (``$XDG_RUNTIME_DIR``) checked with :func:`dir_problem`'s
    ``shared`` rule and left as it is.
    """
    _make(path)
    _check(path, shared=shared)
    return path


def ensure_private_dir(path: Path) -> Path:
    """:func:`private_dir` for a directory inside devenv's own state or cache, with one
    allowance: when devenv runs as root, the directory may belong to another user (devenv
    hands an environment's mount directories to the container user) as long as its parent
    is a private directory of ours, which no other user can enter to prepare anything."""
    if os.getuid() != 0:
        return private_dir(path)
    private_dir(path.parent)
    _make(path)
    _check(path, any_owner=True)
    return path


def _make(path: Path) -> None:
    """Create ``path`` and its missing parents, each with mode 0700."""
    missing = []
    probe = path
    while not os.path.lexists(probe) and probe != probe.parent:
        missing.append(probe)
        probe = probe.parent
    for directory in reversed(missing):
        try:
            os.mkdir(directory, 0o700)
        except FileExistsError:
            pass  # made by a parallel devenv: checked like any other
        except OSError as e:
            from devenv.errors import DevenvError

            raise DevenvError(f"cannot create {directory}: {e.strerror}") from None


def parent_problem(path: str) -> str | None:
    """What lets another user swap ``path`` through its parent, or ``None``: the parent
    (links followed: ``/tmp`` may be one) must belong to us or root and be writable by
    nobody else, unless it is sticky like ``/tmp`` (then nobody else can rename or remove
    what is ours). Group write is tolerated for our own primary group (user private groups
    with umask 002)."""
    parent = os.path.dirname(path)
    try:
        st = os.stat(parent)
    except OSError as e:
        return f"has a parent {parent} that cannot be checked ({e.strerror})"
    if st.st_uid not in (os.getuid(), 0):
        return f"has a parent {parent} owned by uid {st.st_uid}"
    group_write = st.st_mode & 0o020 and st.st_gid != os.getgid()
    if not st.st_mode & 0o1000 and (st.st_mode & 0o002 or group_write):
        return (f"has a parent {parent} that other users can write to "
                f"(mode {st.st_mode & 0o7777:04o})")
    return None


def _check(path: Path, *, shared: bool = False, any_owner: bool = False) -> None:
    problem = dir_problem(str(path), shared=shared, any_owner=any_owner)
    if problem is not None and not shared and _tighten(path, any_owner=any_owner):
        problem = None
    if problem is None:
        problem = parent_problem(str(path))
    if problem is None:
        return
    from devenv.errors import ConflictError

    if shared:
        raise ConflictError(f"unsafe runtime directory {path} (XDG_RUNTIME_DIR): it {problem}",
                            "unset XDG_RUNTIME_DIR or point it at your own runtime directory")
    raise ConflictError(f"unsafe private directory {path}: it {problem}",
                        "remove it and try again; another user may have created it to "
                        "intercept devenv")


def _tighten(path: Path, *, any_owner: bool) -> bool:
    """Close a directory of ours that nobody else can write to (mode ``& 0o022 == 0``) to
    0700, through a descriptor (no link is followed); whether it is private now."""
    if dir_problem(str(path), shared=True, any_owner=any_owner) is not None:
        return False
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except OSError:
        return False
    try:
        os.fchmod(fd, 0o700)
    finally:
        os.close(fd)
    return dir_problem(str(path), any_owner=any_owner) is None


def home_relative(path: str) -> str | None:
    """``path`` ("~/a/b" or "~/a/") relative to the home directory, or ``None`` when it is
    not a clean path inside it (absolute parts, "..", ".", empty parts)."""
    if not path.startswith("~/"):
        return None
    parts = path[2:].removesuffix("/").split("/")
    if any(part in ("", ".", "..") or "\x00" in part for part in parts):
        return None
    return "/".join(parts)
