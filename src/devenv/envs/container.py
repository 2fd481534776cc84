"""The environment's container: its ``docker run`` arguments, its readiness, its clean-up."""

from __future__ import annotations

import contextlib
import os
import socket
import sys
import time
from pathlib import Path

from devenv.config import Config
from devenv.engine import docker
from devenv.envs import identity
from devenv.envs.identity import ProjectPath, container_name
from devenv.errors import ConfigError, ConflictError, DevenvError
from devenv.images.default import container_ids

SSH_CONTAINER_PORT = 2222
KEYS_MOUNT = "/run/devenv/keys"
STATUS_MOUNT = "/run/devenv/status"
HOME = "/home/dev"


def home_volume(name: str) -> str:
    """The environment's persistent home (shell history, agent state): kept across
    stop/start and ``--recreate``; removed only by ``devenv rm --volumes`` or ``gc``."""
    return f"devenv-home-{name}"


def ensure_home_volume(name: str, project: ProjectPath, instance: str) -> bool:
    """Create the home volume if missing (labelled with its project, so ``gc`` knows whose
    it is); return whether it was created now. A volume left by another project that still
    exists under the same name is refused: it holds that project's credentials."""
    volume = home_volume(name)
    found = docker.inspect("volume", [volume])
    if found:
        owner = (found[0].get("Labels") or {}).get(identity.LABEL_PATH, project.path)
        if owner != project.path and os.path.isdir(owner):
            raise ConflictError(f"the home volume {volume} belongs to {owner!r}",
                                f"remove it with 'devenv rm --volumes {owner}' or "
                                "'docker volume rm', or give this project another --name")
        return False
    docker.docker(["volume", "create", "--label", "devenv=true",
                   "--label", f"{identity.LABEL_NAME}={name}",
                   "--label", f"{identity.LABEL_PATH}={project.path}",
                   "--label", f"{identity.LABEL_INSTANCE}={instance}", volume], timeout=60)
    return True


def discard_volume(name: str) -> None:
    """Best-effort removal of a home volume a failed first start created."""
    with contextlib.suppress(DevenvError):
        docker.docker(["volume", "rm", home_volume(name)], timeout=60)
READY_TIMEOUT = 30.0


def config_mounts(project: ProjectPath, cfg: Config) -> list[str]:
    """``--mount`` values for the config's ``mounts`` (validated: sources exist, no Docker
    socket, nothing over the project's own mount)."""
    sockets = identity.docker_sockets()
    args = []
    for i, mount in enumerate(cfg.mounts):
        where = cfg.origin(f"mounts.{i}")
        try:
            source = Path(mount.source).expanduser()
            if not source.is_absolute():
                source = Path(project.path) / source
            real = os.path.realpath(source)
            exists = os.path.exists(real)
        except (RuntimeError, ValueError, OSError) as e:  # ~nobody, NUL bytes, ...
            raise ConfigError(f"{where}.source: cannot use {mount.source!r}: {e}") from None
        if not exists:
            raise ConfigError(f"{where}.source: {source} does not exist",
                              "create it, or fix the path (relative paths start at the project)")
        inside = real.rstrip("/") + "/"
        if any(s == real or s.startswith(inside) for s in sockets):
            raise ConfigError(f"{where}.source: {source} is or contains the Docker socket",
                              "devenv never hands a container the Docker engine")
        if where.scope == "project" and real != project.path and not real.startswith(
                project.path + "/"):
            # A cloned repository must not be able to mount the user's files.
            raise ConfigError(f"{where}.source: {source} is outside the project; the project "
                              "file may only mount paths inside the project",
                              "mounts of other host paths belong in the user config file")
        if mount.target.rstrip("/") in ("", project.workspace, KEYS_MOUNT, STATUS_MOUNT, HOME):
            raise ConfigError(f"{where}.target: {mount.target} is reserved",
                              f"mount somewhere else than / or {project.workspace}")
        args += ["--mount", docker.mount_arg(real, mount.target, readonly=mount.readonly)]
    return args


def run_argv(project: ProjectPath, name: str, *, port: int, image: str, instance: str,
             key_dir: str, status_dir: str, cfg: Config, extra_labels: dict[str, str],
             extra_mounts: list[tuple[str, str, bool]]) -> list[str]:
    """``docker run`` arguments for the environment (locked down: DESIGN §4)."""
    uid, gid = container_ids()
    argv = ["run", "-d", "--rm", "--init",
            "--name", container_name(name), "--hostname", identity.hostname(name),
            "--user", f"{uid}:{gid}",
            "--cap-drop", "ALL", "--security-opt", "no-new-privileges",
            "-p", f"127.0.0.1:{port}:{SSH_CONTAINER_PORT}",
            "--mount", docker.mount_arg(project.path, project.workspace),
            "--mount", docker.mount_arg(key_dir, KEYS_MOUNT, readonly=True),
            "--mount", docker.mount_arg(status_dir, STATUS_MOUNT),
            "--mount", docker.volume_mount_arg(home_volume(name), HOME),
            *config_mounts(project, cfg)]
    for source, target, readonly in extra_mounts:
        argv += ["--mount", docker.mount_arg(source, target, readonly=readonly)]
    for key, value in cfg.env.items():
        argv += ["-e", f"{key}={value}"]
    argv += ["-e", f"DEVENV_WORKSPACE={project.workspace}",
             "-e", f"DEVENV_NAME={name}",
             "-e", f"DEVENV_INSTANCE={instance}",
             "-w", project.workspace,
             "--entrypoint", "/usr/local/bin/devenv-init"]
    labels = {**identity.labels(project, name, port, instance), **extra_labels}
    for key, value in labels.items():
        argv += ["--label", f"{key}={value}"]
    return [*argv, image]


def discard(cname: str) -> None:
    """Best-effort removal of a container a start created; never masks the real error."""
    with contextlib.suppress(DevenvError):
        docker.remove(cname)


def wait_ready(cname: str, port: int, timeout: float = READY_TIMEOUT,
               status_log: str | None = None) -> None:
    """Wait until sshd greets on 127.0.0.1:``port``; fail clearly if the container dies
    (quoting the last line it wrote to ``status_log``)."""
    deadline = time.monotonic() + timeout
    next_check = time.monotonic() + 1.0
    while True:
        if _ssh_banner(port):
            return
        now = time.monotonic()
        if now >= next_check:
            found = docker.container(cname)
            if found is None or not docker.is_running(found):
                raise DevenvError(f"the container {cname} exited while starting"
                                  f"{_last_words(status_log)}",
                                  "if the project has a .devenv/Dockerfile, check that it "
                                  "keeps sshd and the devenv user working")
            next_check = now + 1.0
        if now >= deadline:
            raise DevenvError(f"sshd in {cname} did not answer on port {port} within "
                              f"{timeout:g}s", f"see 'docker logs {cname}'")
        time.sleep(0.02)


def _last_words(status_log: str | None) -> str:
    """The last line the container wrote to its status log, if any."""
    try:
        with open(status_log or "", errors="replace") as f:
            lines = [line.strip() for line in f if line.strip()]
    except OSError:
        return ""
    return f": {lines[-1]}" if lines else ""


def _ssh_banner(port: int) -> bool:
    # A TCP connect alone is not enough: docker-proxy accepts before sshd listens.
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0) as sock:
            sock.settimeout(2.0)
            return sock.recv(64).startswith(b"SSH-")
    except OSError:
        return False


def warn_unwritable(project: ProjectPath) -> None:
    """When devenv runs as root the container user (UID 1000) may not own the project."""
    uid, _ = container_ids()
    if os.getuid() != 0:
        return
    st = os.stat(project.path)
    if st.st_uid != uid and not st.st_mode & 0o002:
        print(f"devenv: note: {project.path} belongs to UID {st.st_uid}; the container user "
              f"(UID {uid}) can read it but not write to it (chown it to {uid} to allow that)",
              file=sys.stderr)
