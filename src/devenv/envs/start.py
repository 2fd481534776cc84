"""Start an environment once, or find it running: the path behind ``devenv .``, ``up``, ``exec``.

One container per project, named ``devenv-<name>``, started with ``docker run -d --rm --init``;
its main process is sshd (as the non-root container user), so the container lives until
``devenv stop``. Starts are serialised per name with a lock; a name conflict from Docker
(another devenv won a race) means "already running".
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import socket
import sqlite3
import sys
import time
from dataclasses import dataclass

from devenv import state
from devenv.engine import docker
from devenv.envs import fast, identity, ports, registry
from devenv.envs.fast import Target
from devenv.envs.identity import ProjectPath, container_name
from devenv.errors import ConflictError, DevenvError
from devenv.images import default as images
from devenv.lockfile import locked

SSH_CONTAINER_PORT = 2222
KEYS_MOUNT = "/run/devenv/keys"
STATUS_MOUNT = "/run/devenv/status"
READY_TIMEOUT = 30.0
START_LOCK_TIMEOUT = 1800.0  # a first start may build the image
PORT_RETRIES = 5


@dataclass(frozen=True)
class Env:
    """A running environment."""

    name: str
    project: ProjectPath
    port: int
    image: str
    instance: str  # the devenv installation it belongs to
    started: bool  # this call started it

    @property
    def container(self) -> str:
        return container_name(self.name)


def target(raw_path: str, *, port: int | None = None,
           name: str | None = None) -> tuple[Target, Env | None]:
    """Where to ``docker exec`` for PATH, starting the environment first if needed; the
    second item is the environment when this call had to look it up (``None`` on the fast
    path)."""
    if port is None and name is None:
        hit = fast.lookup(raw_path)
        if hit is not None:
            return hit, None
    env = ensure_running(raw_path, port=port, name=name)
    return Target(env.container, env.project.workspace, env.instance), env


def ensure_running(raw_path: str, *, port: int | None = None, name: str | None = None) -> Env:
    """Start the environment for ``raw_path`` unless it runs; return it.

    :param port: ``--port``; ``DEVENV_SSH_PORT`` is read when this is ``None``.
    :param name: ``--name``; otherwise the remembered or default name.
    """
    project = identity.project_path(raw_path)
    requested = ports.requested_port(port)
    if name is not None:
        identity.check_name(name)
    conn = state.connect()
    # Two locks, always in this order: the project's (one start per project, whatever name
    # each caller asks for), then the name's (one container per name, whichever project).
    path_lock = "path-" + hashlib.sha256(project.path.encode()).hexdigest()[:16]
    try:
        with locked(path_lock, timeout=START_LOCK_TIMEOUT, what=f"starting {project.path}"):
            known = state.project_by_path(conn, project.path)
            env_name = name or (known.name if known else identity.default_name(project))
            if known is not None and known.name != env_name:
                _refuse_rename_while_running(known.name, env_name)
            with locked(f"env-{env_name}", timeout=START_LOCK_TIMEOUT,
                        what=f"starting {env_name}"):
                return _ensure_locked(conn, project, env_name, requested)
    finally:
        conn.close()


def _refuse_rename_while_running(old: str, new: str) -> None:
    found = docker.container(container_name(old))
    if found is not None and docker.is_running(found):
        raise ConflictError(f"this project's environment is running as '{old}'; "
                            f"it cannot become '{new}' while it runs",
                            f"stop it first: devenv stop {old}")


def _ensure_locked(conn: sqlite3.Connection, project: ProjectPath, name: str,
                   requested: ports.PortChoice | None) -> Env:
    instance = state.instance_id(conn)
    env = _existing(conn, project, name, instance, requested)
    if env is None:
        # Claim the name first: a collision is reported before any image is built.
        before = registry.claim(conn, project, name)
        try:
            image = _image_for(project, name)
            env = _run(conn, project, name, image=image, requested=requested,
                       instance=instance)
        except BaseException:
            registry.release(conn, project, before)
            raise
    # Also when it was already running: repairs a deleted or stale ssh_config or index.
    registry.refresh_files(conn)
    return env


def _existing(conn: sqlite3.Connection, project: ProjectPath, name: str, instance: str,
              requested: ports.PortChoice | None) -> Env | None:
    """The running environment for ``name`` if it is this project's; refuse anyone else's."""
    cname = container_name(name)
    deadline = time.monotonic() + 20
    while (found := docker.container(cname)) is not None:
        labels = docker.labels_of(found)
        if labels.get(identity.LABEL_PATH) != project.path:
            raise registry.collision(name, project.path,
                                     labels.get(identity.LABEL_PATH, "a non-devenv container"))
        if labels.get(identity.LABEL_INSTANCE) != instance:
            raise ConflictError(
                f"container {cname} for this project belongs to another devenv installation",
                "stop it with that devenv (its DEVENV_HOME), or use --name NAME",
            )
        if docker.is_running(found):
            port = int(labels.get(identity.LABEL_PORT, "0"))
            if requested is not None and requested.source == "flag" and requested.port != port:
                raise ConflictError(
                    f"{name} is already running with SSH port {port} (asked for {requested.port})",
                    f"stop it first: devenv stop {name}",
                )
            wait_ready(cname, port)
            registry.record_running(conn, project, name, port)
            return Env(name, project, port, str(found["Config"]["Image"]), instance,
                       started=False)
        # Stopped but not yet removed (--rm is asynchronous): wait for it to go.
        if time.monotonic() > deadline:
            docker.remove(cname)
        else:
            time.sleep(0.2)
    return None


def _image_for(project: ProjectPath, name: str) -> str:
    base = images.default_image()
    if images.project_dockerfile(project.path) is None:
        return base
    return images.project_image(project.path, identity.project_image(name), base)


def _run(conn: sqlite3.Connection, project: ProjectPath, name: str, *, image: str,
         requested: ports.PortChoice | None, instance: str) -> Env:
    record = state.project_by_path(conn, project.path)
    if record is None:  # the caller claimed it inside our lock; only state damage gets here
        raise DevenvError(f"devenv's state lost the record of {project.path}")
    key_dir, status_dir = registry.prepare_mounts(record)
    status_log = os.path.join(status_dir, registry.STATUS_LOG)
    uid, gid = images.container_ids()
    _warn_unwritable(project, uid)
    avoid: set[int] = set()
    for _ in range(PORT_RETRIES):
        choice = registry.assign_port(conn, project, requested, avoid)
        argv = ["run", "-d", "--rm", "--init",
                "--name", container_name(name), "--hostname", identity.hostname(name),
                "--user", f"{uid}:{gid}",
                "--cap-drop", "ALL", "--security-opt", "no-new-privileges",
                "-p", f"127.0.0.1:{choice.port}:{SSH_CONTAINER_PORT}",
                "--mount", docker.mount_arg(project.path, project.workspace),
                "--mount", docker.mount_arg(key_dir, KEYS_MOUNT, readonly=True),
                "--mount", docker.mount_arg(status_dir, STATUS_MOUNT),
                "-e", f"DEVENV_WORKSPACE={project.workspace}",
                "-e", f"DEVENV_NAME={name}",
                "-e", f"DEVENV_INSTANCE={instance}",
                "-w", project.workspace,
                "--entrypoint", "/usr/local/bin/devenv-init"]
        for key, value in identity.labels(project, name, choice.port, instance).items():
            argv += ["--label", f"{key}={value}"]
        argv.append(image)
        cname = container_name(name)
        try:
            docker.docker(argv, timeout=120)
            wait_ready(cname, choice.port, status_log=status_log)
        except docker.PortTaken:
            # Docker lost a race for the port to a non-devenv process: take another one.
            _discard(cname)  # a "Created" leftover, if any
            if choice.user_chosen:
                raise ConflictError(f"port {choice.port} on 127.0.0.1 is busy",
                                    "choose another port, or leave --port out") from None
            avoid.add(choice.port)
            continue
        except docker.NameTaken:
            # Another devenv started it between our check and our run: attach to that one.
            env = _existing(conn, project, name, instance, None)
            if env is None:
                raise
            return env
        except BaseException:
            # The daemon may have created the container before the failure (or Ctrl-C).
            _discard(cname)
            raise
        return Env(name, project, choice.port, image, instance, started=True)
    raise DevenvError(f"docker reported every SSH port tried as taken: {sorted(avoid)}",
                      f"free some ports or set {ports.ENV_RANGE}=LOW-HIGH")


def _discard(cname: str) -> None:
    """Best-effort removal of a container this start created; never masks the real error."""
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


def _warn_unwritable(project: ProjectPath, uid: int) -> None:
    """When devenv runs as root the container user (UID 1000) may not own the project."""
    if os.getuid() != 0:
        return
    st = os.stat(project.path)
    if st.st_uid != uid and not st.st_mode & 0o002:
        print(f"devenv: note: {project.path} belongs to UID {st.st_uid}; the container user "
              f"(UID {uid}) can read it but not write to it (chown it to {uid} to allow that)",
              file=sys.stderr)
