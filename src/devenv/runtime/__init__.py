"""devenv's runtime library: one asyncio API to run commands and move files on a local
directory, a git worktree or an SSH host (devenv's environments add ``EnvRuntime``, in
:mod:`devenv.envs`). The library stands alone: it imports nothing else of devenv, and keeps
its sockets, locks and health records where the caller says (:class:`RuntimeDirs`).

>>> import asyncio
>>> from devenv.runtime import LocalRuntime
>>> asyncio.run(LocalRuntime("/tmp").exec(["echo", "hi"])).stdout
b'hi\\n'

See :class:`Runtime` for the methods every runtime has, :mod:`devenv.runtime.pool` for how SSH
connections are pooled, and docs/runtime.md for the guarantees. The names below are loaded
on first use: ``devenv exec`` imports :mod:`devenv.runtime.wire` without paying for asyncio.
"""

from __future__ import annotations

_EXPORTS = {
    "Runtime": "base", "ShellRuntime": "base",
    "LocalRuntime": "local", "WorktreeRuntime": "local",
    "SSHRuntime": "ssh", "SSHTarget": "ssh", "Pool": "pool", "RuntimeDirs": "dirs",
    "BackgroundInfo": "types", "DirEntry": "types", "ExecResult": "types", "FileStat": "types",
    "RuntimeFailure": "errors", "InvalidArgument": "errors", "PathError": "errors",
    "TransportError": "errors", "UnsafeDirectory": "errors", "LockTimeout": "errors",
}

__all__ = [  # noqa: RUF022 - grouped as in _EXPORTS
    "Runtime", "ShellRuntime", "LocalRuntime", "WorktreeRuntime", "SSHRuntime", "SSHTarget",
    "Pool", "RuntimeDirs", "BackgroundInfo", "DirEntry", "ExecResult", "FileStat",
    "RuntimeFailure", "InvalidArgument", "PathError", "TransportError", "UnsafeDirectory",
    "LockTimeout",
]

TYPE_CHECKING = False
if TYPE_CHECKING:
    from devenv.runtime.base import Runtime, ShellRuntime
    from devenv.runtime.dirs import RuntimeDirs
    from devenv.runtime.errors import (
        InvalidArgument,
        LockTimeout,
        PathError,
        RuntimeFailure,
        TransportError,
        UnsafeDirectory,
    )
    from devenv.runtime.local import LocalRuntime, WorktreeRuntime
    from devenv.runtime.pool import Pool
    from devenv.runtime.ssh import SSHRuntime, SSHTarget
    from devenv.runtime.types import BackgroundInfo, DirEntry, ExecResult, FileStat


def __getattr__(name: str) -> object:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'devenv.runtime' has no attribute {name!r}")
    # __import__, not importlib: this package is on devenv exec's fast path.
    value = getattr(__import__(f"devenv.runtime.{module}", fromlist=[name]), name)
    globals()[name] = value
    return value
