"""``EnvRuntime``: the runtime library (:mod:`devenv.runtime`) on a devenv environment,
over SSH through devenv's own ssh_config (strict, pinned host key) and the environment's own
master, shared with ``devenv exec``, ``devenv ssh`` and any ssh client using the config."""

from __future__ import annotations

from devenv import paths
from devenv.envs import index
from devenv.envs.known import resolve_project
from devenv.runtime import pool as pool_mod
from devenv.runtime import wire
from devenv.runtime.errors import TransportError
from devenv.runtime.master import Endpoint
from devenv.runtime.pool import Pool
from devenv.runtime.ssh import CONNECT_TIMEOUT, SSHBase
from devenv.ssh import config as ssh_config
from devenv.ssh import health


class EnvRuntime(SSHBase):
    """Commands and files in a devenv environment (by project path or environment name).
    Relative paths and the default cwd are the project directory; commands get the
    environment docker exec would give them."""

    posix_login = True  # bash, in devenv's images
    preamble = wire.ENV_PREAMBLE  # the container's environment, as docker exec gives it
    bg_dir = "~/.cache/devenv/bg"

    def __init__(self, project: str, *, pool: Pool | None = None,
                 max_wait: float = pool_mod.DEFAULT_MAX_WAIT) -> None:
        super().__init__(pool, None if pool is not None else health.runtime_dirs())
        name, known = resolve_project(project)
        if known is None or known.port is None:
            raise TransportError(f"environment {name} has no SSH port yet",
                                 f"start it: devenv up {project}")
        self.name = name
        self.label = f"environment {name}"
        self.root = index.workspace_of(known.path)
        self.max_wait = max_wait
        # sshd in the image allows 64 sessions per connection: 60 leave room for devenv exec
        # and ssh clients on the shared first master; a session refused while slots free is
        # tried again after a probe. One master this full beats opening more (bench/run).
        self.endpoint = Endpoint(health.env_key(name), self.label,
                                 index.CONTAINER_PREFIX + name,
                                 ("-F", str(ssh_config.config_path()), "-o", "BatchMode=yes",
                                  "-o", f"ConnectTimeout={CONNECT_TIMEOUT}"),
                                 paths.env_control_socket(self.dirs.control_dir, known.port),
                                 max_channels=60, max_masters=4)
