"""``devenv [PATH|ENV] [--session NAME] [-- CMD...]``: start the environment if needed, then
attach a shell (or CMD), optionally inside a persistent tmux session; replaces devenv."""

from __future__ import annotations

import os
import sys

from devenv import proc
from devenv.envs import reach


def run(path: str, *, port: int | None = None, name: str | None = None,
        session: str | None = None, command: list[str] | None = None,
        here: bool = False, grant_write: bool = False, workspace: str | None = None) -> int:
    if session is not None:
        from devenv.envs import sessions as tmux

        tmux.check_name(session)  # before anything starts
    project = reach.project_of(path)  # PATH, or the project of the environment NAME
    directory = None
    if workspace is not None:
        from devenv.workspaces import attach as ws_attach

        # Made in the environment on first use; one elsewhere is entered there.
        directory = ws_attach.ensure(project, workspace, session=session,
                                     command=command or [])
    target, env = reach.target(project, port=port, name=name, here=here,
                               grant_write=grant_write)
    if directory is not None:
        target.workspace = directory
    reach.say_chosen(target)
    if env is not None and env.started:
        print(f"devenv: started {env.name} (SSH port {env.port})", file=sys.stderr)
    tty = sys.stdin.isatty() and sys.stdout.isatty()
    if session is None:
        reach.attach(target, command or ["bash", "-l"], tty=tty)
    from devenv.ssh.config import ssh_argv

    # Over ssh, not docker exec: see devenv.envs.sessions for why.
    remote = tmux.attach_script(target.workspace, session, command or [], tty=tty,
                                project=env.project.path if env is not None
                                else os.path.realpath(project))
    options = ["-t"] if tty else ["-T", "-n"]
    proc.exec_replace([*ssh_argv(target.container, *options), remote])
