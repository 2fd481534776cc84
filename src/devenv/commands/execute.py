"""``devenv exec PATH -- CMD...``: run a command in the environment; its exit code passes
through."""

from __future__ import annotations

from devenv import proc
from devenv.envs import fast, start
from devenv.errors import UsageError


def run(path: str, command: list[str], *, name: str | None = None) -> int:
    if not command:
        raise UsageError("no command given", "write it after --, e.g. devenv exec . -- ls -la")
    target, _ = start.target(path, name=name)
    proc.exec_replace(fast.exec_argv(target, command, tty=False))
