"""devenv's wiring of the runtime library (:mod:`devenv.runtime`): where its sockets, locks,
background output, worktrees and SSH health records live for devenv (under ``DEVENV_HOME``;
the sockets in devenv's control directory, shared with its ssh_config)."""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from devenv.runtime.dirs import RuntimeDirs
    from devenv.runtime.health import FileHealth


def store() -> FileHealth:
    """The health records every devenv process shares."""
    from devenv import paths
    from devenv.runtime.health import FileHealth

    return FileHealth(str(paths.state_dir() / "health"), str(paths.locks_dir()))


def runtime_dirs() -> RuntimeDirs:
    """The library's places for devenv's own runtimes (exec --host, cp, EnvRuntime)."""
    from devenv import paths
    from devenv.runtime.dirs import RuntimeDirs
    from devenv.ssh.config import control_dir

    return RuntimeDirs(str(control_dir()), str(paths.locks_dir()),
                       str(paths.cache_dir() / "bg"), str(paths.state_dir() / "worktrees"),
                       store())


def env_key(name: str) -> str:
    """The health key of the devenv environment ``name``."""
    return f"env:{name}"


def reset(key: str) -> None:
    """Forget ``key``'s record (a new container: its old failures say nothing)."""
    store().reset(key)
