"""devenv's runtime library: one asyncio API to run commands and move files on a local
directory, a git worktree, an SSH host or a devenv environment.

>>> import asyncio
>>> from devenv.runtime import LocalRuntime
>>> asyncio.run(LocalRuntime("/tmp").exec(["echo", "hi"])).stdout
b'hi\\n'

See :class:`Runtime` for the methods every runtime has, :mod:`devenv.ssh.pool` for how SSH
connections are pooled, and docs/runtime.md for the guarantees. The names below are loaded
on first use: ``devenv exec`` imports :mod:`devenv.runtime.wire` without paying for asyncio.
"""

from __future__ import annotations

_EXPORTS = {
    "Runtime": "base", "ShellRuntime": "base",
    "LocalRuntime": "local", "WorktreeRuntime": "local",
    "EnvRuntime": "devenv.envs.runtime", "SSHRuntime": "ssh", "SSHTarget": "ssh",
    "EXIT_ABORTED": "types", "EXIT_TIMEOUT": "types", "BackgroundInfo": "types",
    "DirEntry": "types", "ExecResult": "types", "FileStat": "types",
    "InvalidArgument": "types", "PathError": "types", "RuntimeError_": "types",
    "TransportError": "types",
}

__all__ = [  # noqa: RUF022 - grouped as in _EXPORTS
    "Runtime", "ShellRuntime", "LocalRuntime", "WorktreeRuntime", "EnvRuntime", "SSHRuntime",
    "SSHTarget", "EXIT_ABORTED", "EXIT_TIMEOUT", "BackgroundInfo", "DirEntry", "ExecResult",
    "FileStat", "InvalidArgument", "PathError", "RuntimeError_", "TransportError",
]

TYPE_CHECKING = False
if TYPE_CHECKING:
    from devenv.envs.runtime import EnvRuntime
    from devenv.runtime.base import Runtime, ShellRuntime
    from devenv.runtime.local import LocalRuntime, WorktreeRuntime
    from devenv.runtime.ssh import SSHRuntime, SSHTarget
    from devenv.runtime.types import (
        EXIT_ABORTED,
        EXIT_TIMEOUT,
        BackgroundInfo,
        DirEntry,
        ExecResult,
        FileStat,
        InvalidArgument,
        PathError,
        RuntimeError_,
        TransportError,
    )


def __getattr__(name: str) -> object:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'devenv.runtime' has no attribute {name!r}")
    # __import__, not importlib: this package is on devenv exec's fast path. EnvRuntime
    # lives with the environments it knows (devenv.envs); the rest here.
    path = module if "." in module else f"devenv.runtime.{module}"
    value = getattr(__import__(path, fromlist=[name]), name)
    globals()[name] = value
    return value
