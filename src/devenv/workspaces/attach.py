"""``devenv [PATH] --workspace NAME [--session S] [-- CMD]``: the workspace's directory in
the environment (the workspace made there on first use), or a hand-over to the workspace on
this machine or an SSH host."""

from __future__ import annotations

import asyncio
import sys
from typing import NoReturn

from devenv import proc, state
from devenv.workspaces import names, ops
from devenv.workspaces.targets import ENV, ENV_ROOT, LOCAL


def ensure(project_path: str, name: str, *, session: str | None,
           command: list[str]) -> str:
    """The directory of workspace ``name`` in the environment, made there if it does not
    exist. A workspace on another target is entered there instead (no return)."""
    names.check(name)
    p = asyncio.run(ops.project(project_path))
    conn = state.connect()
    try:
        ws = state.workspace(conn, p.path, name)
    finally:
        conn.close()
    if ws is None:
        ws = asyncio.run(ops.create(p, name))
        print(f"devenv: created workspace {name} (branch {ws.branch} from {ws.base[:12]})",
              file=sys.stderr)
    if ws.target == ENV:
        return f"{ENV_ROOT}/{name}"
    _enter_elsewhere(p, ws, session=session, command=command)


def _enter_elsewhere(p: ops.Project, ws: state.Workspace, *, session: str | None,
                     command: list[str]) -> NoReturn:
    from devenv.envs import sessions as tmux
    from devenv.runtime import wire
    from devenv.runtime.ssh import SSHBase
    from devenv.workspaces.targets import open_target

    target = open_target(p.path, p.repo, ws.target)
    asyncio.run(target.prepare())
    directory = target.dir(ws.name)
    tty = sys.stdin.isatty() and sys.stdout.isatty()
    if session is not None:
        script = tmux.attach_script(directory, session, command, tty=tty, project=p.path)
    else:
        script = (f"cd {wire.quote(directory)} || exit 125; exec "
                  + (wire.join(command) if command else '"${SHELL:-/bin/sh}" -l'))
    if ws.target == LOCAL:
        proc.exec_replace(["sh", "-c", script])
    rt = target.runtime
    assert isinstance(rt, SSHBase)  # noqa: S101  an SSH host's runtime
    # The runtime's own options (config file, port, user, bounds), as for its commands.
    proc.exec_replace(wire.ssh_argv([*rt.endpoint.options, "-t" if tty else "-T"],
                                    rt.endpoint.host, script))
