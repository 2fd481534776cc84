"""Where devenv keeps things. One override, ``DEVENV_HOME``, moves all of it (tests use it).

Without the override devenv follows XDG: the user config file in ``$XDG_CONFIG_HOME/devenv``,
state (the database, keys, ssh_config) in ``$XDG_STATE_HOME/devenv``, cache (build and crash
logs) in ``$XDG_CACHE_HOME/devenv``.
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


def machine_locks_dir() -> Path:
    """Locks shared by every devenv of this user on this machine (not moved by
    ``DEVENV_HOME``): they guard the Docker engine's images, which all of them share."""
    from pathlib import Path

    runtime = os.environ.get("XDG_RUNTIME_DIR", "")
    base = runtime if os.path.isabs(runtime) else f"/tmp/devenv-{os.getuid()}"  # noqa: S108
    return Path(base, "devenv-locks") if base == runtime else Path(base, "locks")


def env_dir(name: str) -> Path:
    """Per-environment files, e.g. the host-key directory mounted into the container."""
    return _path("state", "envs", name)


def log_dir() -> Path:
    return _path("cache", "logs")


def ensure_private_dir(path: Path) -> Path:
    """Create ``path`` (and parents) with mode 0700 for the leaf; return it."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def home_relative(path: str) -> str | None:
    """``path`` ("~/a/b" or "~/a/") relative to the home directory, or ``None`` when it is
    not a clean path inside it (absolute parts, "..", ".", empty parts)."""
    if not path.startswith("~/"):
        return None
    parts = path[2:].removesuffix("/").split("/")
    if any(part in ("", ".", "..") or "\x00" in part for part in parts):
        return None
    return "/".join(parts)
