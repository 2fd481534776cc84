"""``devenv ssh-config [--install | --uninstall | --print]``: devenv's ssh_config and the
``Include`` line that makes ``ssh devenv-<name>`` work for every SSH client."""

from __future__ import annotations

from devenv import state
from devenv.envs import registry
from devenv.ssh import include
from devenv.ssh.config import config_path


def run(*, install: bool = False, uninstall: bool = False) -> int:
    conn = state.connect()
    try:
        path = registry.refresh_files(conn)  # make sure the file exists and is current
    finally:
        conn.close()
    if install:
        changed = include.install(config_path())
        print(f"{include.user_config()}: {'added' if changed else 'already has'} "
              f"Include {path}")
        return 0
    if uninstall:
        changed = include.uninstall(config_path())
        print(f"{include.user_config()}: {'removed' if changed else 'had no'} devenv Include line")
        return 0
    with open(path) as f:
        print(f.read(), end="")
    return 0
