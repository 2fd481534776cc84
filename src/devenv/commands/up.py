"""``devenv up [PATH]``: start the environment if needed; print how to reach it."""

from __future__ import annotations

import json
import shlex
import sys

from devenv.envs import start
from devenv.ssh.config import config_path, ssh_argv


def run(path: str, *, port: int | None = None, name: str | None = None,
        as_json: bool = False, recreate: bool = False, rebuild: bool = False,
        force: bool = False, here: bool = False, grant_write: bool = False) -> int:
    where = start.locate(path, here=here)
    where.say()
    if recreate or rebuild:  # its processes end, as at a stop: its workspaces first
        from devenv.envs import reach
        from devenv.workspaces import guard

        found = reach.find(where.path, probe=False)
        if found is not None:
            guard.snapshot_before([found.name], doing="recreating", strict=False)
    env = start.ensure_running(where.path, port=port, name=name, recreate=recreate,
                               rebuild=rebuild, force=force, grant_write=grant_write)
    ssh = ssh_argv(env.container)
    info = {
        "name": env.name,
        "container": env.container,
        "path": env.project.path,
        "project": env.project.label,
        "workspace": env.project.workspace,
        "port": env.port,
        "image": env.image,
        "started": env.started,
        "ssh_host": env.container,
        "ssh_config": str(config_path()),
        "ssh_command": ssh,
    }
    if as_json:
        print(json.dumps(info, indent=2))
        return 0
    state = "started" if env.started else "already running"
    print(f"devenv: {env.name} {state}", file=sys.stderr)
    print(f"name:    {env.name}")
    print(f"project: {env.project.path}")
    print(f"port:    127.0.0.1:{env.port}")
    print(f"ssh:     {shlex.join(ssh)}")
    print(f"attach:  devenv {shlex.quote(env.project.path)}")
    return 0
