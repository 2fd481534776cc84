"""The attach/exec fast path: one small file read, one local connect, then ``execvp``.

This module is imported on every ``devenv exec`` and ``devenv .``, so it imports only
``os`` and the C-level ``_socket`` (``socket`` would pull in ``enum`` and friends)
-- see ``tests/unit/test_imports.py``. Anything unusual returns ``None`` and the caller takes
the full path (``envs.start``), which validates, starts and reports errors properly.
"""

from __future__ import annotations

import _socket
import os

from devenv import paths

CONTAINER_PREFIX = "devenv-"


class Target:
    """Enough to ``docker exec`` into a running environment."""

    __slots__ = ("container", "workspace")

    def __init__(self, container: str, workspace: str) -> None:
        self.container = container
        self.workspace = workspace


def workspace_of(path: str) -> str:
    """Where the project at absolute ``path`` is mounted inside its container."""
    return "/workspace/" + (os.path.basename(path) or "root")


def port_open(port: int, timeout: float = 0.5) -> bool:
    """Whether something accepts connections on 127.0.0.1:``port``."""
    sock = _socket.socket(_socket.AF_INET, _socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        sock.connect(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        sock.close()


def lookup(raw_path: str) -> Target | None:
    """The running environment of the project at ``raw_path``, if devenv knows it and its
    port answers.

    Reads the index that :func:`devenv.envs.registry.refresh_files` derives from the state
    database (one ``path<TAB>name<TAB>port`` line per project; paths never hold control
    characters), which costs a file read instead of importing ``sqlite3``. The port is
    reserved for this project and only its container publishes it, so an open port means
    that container runs.
    """
    try:
        real = os.path.realpath(raw_path)  # fails when the current directory was deleted
        with open(paths.index_file(), encoding="utf-8") as f:
            lines = f.read().split("\n")
    except (OSError, ValueError):
        return None
    prefix = real + "\t"
    for line in lines:
        if line.startswith(prefix):
            fields = line.split("\t")
            if len(fields) == 3 and fields[2].isdigit() and port_open(int(fields[2])):
                return Target(CONTAINER_PREFIX + fields[1], workspace_of(real))
            return None
    return None


def exec_argv(target: Target, command: list[str], *, tty: bool) -> list[str]:
    """``docker exec`` argv that runs ``command`` in the project directory of ``target``."""
    argv = ["docker", "exec", "-i"]
    if tty:
        argv.append("-t")
        term = os.environ.get("TERM")
        if term:
            argv += ["-e", "TERM=" + term]
    return [*argv, "-w", target.workspace, target.container, *command]
