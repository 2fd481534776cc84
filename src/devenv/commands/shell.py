"""``devenv [PATH]``: start the environment if needed, then attach a shell (replaces devenv)."""

from __future__ import annotations

import sys

from devenv import proc
from devenv.envs import fast, start


def run(path: str, *, port: int | None = None, name: str | None = None) -> int:
    target, env = start.target(path, port=port, name=name)
    if env is not None and env.started:
        print(f"devenv: started {env.name} (SSH port {env.port})", file=sys.stderr)
    tty = sys.stdin.isatty() and sys.stdout.isatty()
    proc.exec_replace(fast.exec_argv(target, ["bash", "-l"], tty=tty))
