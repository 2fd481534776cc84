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

from devenv.runtime import private

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
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


# A project's own files, relative to its directory (read as hostile: devenv.hostile).
PROJECT_DIR = ".devenv"
PROJECT_FILE = ".devenv/devenv.toml"
PROJECT_DOCKERFILE = ".devenv/Dockerfile"
PROJECT_TOOLS = ".devenv/tools"
PROJECT_INIT = ".devenv/init"  # the workspace init hook (devenv.workspaces.trust)


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


def workspaces_marker(name: str) -> str:
    """Present while the environment ``name`` has workspaces: its stop then snapshots them,
    so the quick stop (which reads no database) leaves it to the full one."""
    return os.path.join(_root("state"), "envs", name, "workspaces")


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


def runtime_dir() -> Path:
    """The base of this user's runtime files, verified: ``$XDG_RUNTIME_DIR`` when set (it must
    be ours, no link, writable by nobody else), else ``/tmp/devenv-<uid>``, created 0700 and
    verified like every private directory (:func:`devenv.runtime.private.user_runtime_dir`)."""
    from pathlib import Path

    return Path(_checked(private.user_runtime_dir))


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


def private_dir(path: Path, *, shared: bool = False) -> Path:
    """Create ``path`` (mode 0700) and verify it and its parent, see
    :func:`devenv.runtime.private.private_dir`; one that fails the check raises
    :class:`~devenv.errors.ConflictError` naming the path and the problem: it is never used."""
    _checked(private.private_dir, str(path), shared=shared)
    return path


def ensure_private_dir(path: Path) -> Path:
    """:func:`private_dir` for a directory inside devenv's own state or cache, with one
    allowance: when devenv runs as root, the directory may belong to another user (devenv
    hands an environment's mount directories to the container user) as long as its parent
    is a private directory of ours, which no other user can enter to prepare anything."""
    if os.getuid() != 0:
        return private_dir(path)
    private_dir(path.parent)
    _checked(private.private_dir, str(path), any_owner=True)
    return path


def _checked(make: Callable[..., str], *args: str, **kwargs: bool) -> str:
    """``make(...)`` with the library's directory errors as devenv's (exit codes)."""
    from devenv.runtime.errors import PathError, UnsafeDirectory

    try:
        return make(*args, **kwargs)
    except UnsafeDirectory as e:
        from devenv.errors import ConflictError

        raise ConflictError(e.message, e.hint) from None
    except PathError as e:
        from devenv.errors import DevenvError

        raise DevenvError(e.message, e.hint) from None


def home_relative(path: str) -> str | None:
    """``path`` ("~/a/b" or "~/a/") relative to the home directory, or ``None`` when it is
    not a clean path inside it (absolute parts, "..", ".", empty parts)."""
    if not path.startswith("~/"):
        return None
    parts = path[2:].removesuffix("/").split("/")
    if any(part in ("", ".", "..") or "\x00" in part for part in parts):
        return None
    return "/".join(parts)
