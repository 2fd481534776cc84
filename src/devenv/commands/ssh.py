"""``devenv ssh [PATH|NAME] [-- CMD...]``: ssh into the environment (starting it if needed)
through devenv's ssh_config, in the project directory; replaces devenv, so the exit code
passes through."""

from __future__ import annotations

import shlex
import sys

from devenv import proc
from devenv.envs import index, reach, start
from devenv.ssh.config import ssh_argv


def run(target: str, command: list[str], *, here: bool = False,
        grant_write: bool = False) -> int:
    where = start.locate(reach.project_of(target), here=here)
    where.say()
    env = start.ensure_running(where.path, grant_write=grant_write)
    if env.started:
        print(f"devenv: started {env.name} (SSH port {env.port})", file=sys.stderr)
    argv = ssh_argv(env.container, *(["-t"] if not command and sys.stdin.isatty() else []))
    if command:
        # ssh joins its arguments with spaces for the remote shell: quote them here, once.
        # Commands run in the project directory, as with devenv exec and interactive logins.
        # A missing directory is devenv's failure (125), not the command's.
        workspace = index.within(env.project.workspace, where.inner)
        argv.append(f"cd {shlex.quote(workspace)} || exit 125; {shlex.join(command)}")
    proc.exec_replace(argv)
