"""The environment's container: its ``docker run`` arguments, its readiness, its clean-up."""

from __future__ import annotations

import contextlib
import os
import posixpath
import socket
import stat
import time
from pathlib import Path
from typing import Any

from devenv import deadline as call_deadline
from devenv.config import Config
from devenv.engine import docker
from devenv.envs import identity, ports
from devenv.envs.identity import ProjectPath, container_name
from devenv.errors import ConfigError, ConflictError, DevenvError, safe_text
from devenv.images.default import container_ids

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Container

SSH_CONTAINER_PORT = 2222
KEYS_MOUNT = "/run/devenv/keys"
STATUS_MOUNT = "/run/devenv/status"
HOME = "/home/dev"
WORKSPACES = "/workspaces"  # one directory per workspace (a per-agent checkout) below it


def home_volume(name: str) -> str:
    """The environment's persistent home (shell history, agent state): kept across
    stop/start and ``--recreate``; removed only by ``devenv rm --volumes`` or ``gc``
    (made and removed by :mod:`devenv.envs.volumes`)."""
    return f"devenv-home-{name}"


def workspaces_volume(name: str) -> str:
    """The environment's workspaces, at :data:`WORKSPACES`: kept like its home."""
    return f"devenv-ws-{name}"


READY_TIMEOUT = 30.0
LAST_WORDS_BYTES = 4096  # read from the end of the status log
LAST_WORDS_SHOWN = 300  # characters of its last line shown in the error


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
        if where.scope == "project" and (real == project.path or "/.git" in
                                         ("/" + real[len(project.path):] + "/")):
            # A second, writable view of the project or of a git directory would bypass
            # the read-only git config and hooks (docs/security.md).
            raise ConfigError(f"{where}.source: {source} is the project itself or a git "
                              "directory; the project file may not mount those",
                              "the project is at its workspace already; git's own files "
                              "stay read-only there")
        if mount.target.rstrip("/") in ("", project.workspace, KEYS_MOUNT, STATUS_MOUNT, HOME):
            raise ConfigError(f"{where}.target: {mount.target} is reserved",
                              f"mount somewhere else than / or {project.workspace}")
        if _at_or_below(mount.target, WORKSPACES):
            # The workspaces volume is devenv's: a mount there would hide or replace the
            # checkouts devenv keeps in it.
            raise ConfigError(f"{where}.target: {mount.target} is reserved",
                              f"{WORKSPACES} holds the environment's workspaces; mount "
                              "somewhere else")
        args += ["--mount", docker.mount_arg(real, mount.target, readonly=mount.readonly)]
    return args


def _at_or_below(target: str, directory: str) -> bool:
    # Docker cleans a target path the same way ("/workspaces/../x" is /x, "//workspaces" is
    # /workspaces); normpath alone keeps two leading slashes.
    clean = "/" + posixpath.normpath(target).lstrip("/")
    return clean == directory or clean.startswith(directory + "/")


def run_argv(project: ProjectPath, name: str, *, port: int, image: str, instance: str,
             key_dir: str, status_log: str, cfg: Config, extra_labels: dict[str, str],
             extra_mounts: list[tuple[str, str, bool]], bind: str = ports.LOOPBACK
             ) -> list[str]:
    """``docker run`` arguments for the environment (locked down: DESIGN §4)."""
    uid, gid = container_ids(project.path)
    argv = ["run", "-d", "--rm", "--init",
            "--name", container_name(name), "--hostname", identity.hostname(name),
            "--user", f"{uid}:{gid}",
            "--cap-drop", "ALL", "--security-opt", "no-new-privileges",
            *ports.publish_args(bind, port, SSH_CONTAINER_PORT),
            # Its own network (made by ensure_network first) and its limits.
            "--network", network_name(name), *resource_args(cfg),
            "--mount", docker.mount_arg(project.path, project.workspace),
            "--mount", docker.mount_arg(key_dir, KEYS_MOUNT, readonly=True),
            "--mount", docker.mount_arg(status_log, f"{STATUS_MOUNT}/init.log"),
            "--mount", docker.volume_mount_arg(home_volume(name), HOME),
            "--mount", docker.volume_mount_arg(workspaces_volume(name), WORKSPACES),
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
    timeout = call_deadline.bound(timeout)  # never past the call's deadline (exec --timeout)
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
    """The last line the container wrote to its status log, if any.

    The container writes that file, so it is read as hostile: never through a link (it is
    devenv's own file in devenv's own directory, and a link there is refused anyway), only a
    regular file, only its last :data:`LAST_WORDS_BYTES`, control characters replaced.
    """
    if not status_log:
        return ""
    try:
        fd = os.open(status_log, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return ""
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            return ""
        os.lseek(fd, max(0, st.st_size - LAST_WORDS_BYTES), os.SEEK_SET)
        data = os.read(fd, LAST_WORDS_BYTES)
    except OSError:
        return ""
    finally:
        os.close(fd)
    lines = [line.strip() for line in data.decode(errors="replace").splitlines()]
    lines = [line for line in lines if line]
    if not lines:
        return ""
    last = safe_text(lines[-1])
    return ": " + (last[:LAST_WORDS_SHOWN] + "..." if len(last) > LAST_WORDS_SHOWN else last)


def _ssh_banner(port: int) -> bool:
    # A TCP connect alone is not enough: docker-proxy accepts before sshd listens.
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0) as sock:
            sock.settimeout(2.0)
            return sock.recv(64).startswith(b"SSH-")
    except OSError:
        return False


# --- The environment's own network, and its resource limits -------------------------------
# Every environment gets a bridge network of its own: Docker's isolation rules drop traffic
# between different bridges, so an environment cannot reach another's sshd (or anything else
# in it). Docker names networks engine-wide, so the network is labelled with the installation
# and project like the home volume, and a network someone else is using is never joined.

NETWORK_PREFIX = "devenv-net-"
BRIDGE_OPTION = "com.docker.network.bridge.name"
# The host-side bridge interface: "dv-…" without host access, "dvh-…" with it, so that one
# host firewall rule (iptables -I INPUT -i dv-+ -j REJECT) closes the host to every
# environment that did not ask for it. Linux allows 15 characters.
BRIDGE_PREFIX = "dv-"
HOST_BRIDGE_PREFIX = "dvh-"
HOST_GATEWAY = "host.docker.internal:host-gateway"
NETWORK_FREE_TIMEOUT = 5.0  # after the container is gone, its endpoint may linger briefly


def network_name(name: str) -> str:
    """The environment's own Docker network."""
    return f"{NETWORK_PREFIX}{name}"


def bridge_name(name: str, *, host_access: bool) -> str:
    """The network's bridge interface on the host (unique per network name)."""
    import hashlib

    prefix = HOST_BRIDGE_PREFIX if host_access else BRIDGE_PREFIX
    digest = hashlib.sha256(network_name(name).encode()).hexdigest()
    return prefix + digest[:15 - len(prefix)]


def resource_args(cfg: Config) -> list[str]:
    """``docker run`` arguments for the config's limits and host access."""
    # docker stop (devenv's, the engine's at shutdown) gives processes this long after
    # SIGTERM (docs/architecture.md, the supervisor).
    args = ["--pids-limit", str(cfg.pids), "--stop-timeout", str(cfg.stop_time)]
    memory = cfg.memory_bytes
    if memory is not None:
        # Swap equal to memory: the limit is not undone by swapping.
        args += ["--memory", str(memory), "--memory-swap", str(memory)]
    if cfg.cpus is not None:
        args += ["--cpus", str(cfg.cpus)]
    if cfg.host_access:
        args += ["--add-host", HOST_GATEWAY]
    return args


def ensure_network(name: str, project: ProjectPath, instance: str, *,
                   host_access: bool = False) -> str:
    """Create the environment's network (or reuse it when it is this installation's, unused
    and made for the same ``host_access``); return its name. A network in use, or one that is
    not devenv's, is refused: joining it would put this environment next to someone else's
    containers. An unused one of devenv's (left by an environment that ended without ``stop``,
    whichever installation's) holds nothing and is made anew."""
    net = network_name(name)
    bridge = bridge_name(name, host_access=host_access)
    labels = {"devenv": "true", identity.LABEL_NAME: name, identity.LABEL_PATH: project.path,
              identity.LABEL_INSTANCE: instance}
    for _ in range(3):
        # Made outright as a rule (stop removed it); an existing one is looked at.
        try:
            docker.create_network(net, labels=labels, options={BRIDGE_OPTION: bridge})
            return net
        except docker.NetworkExists:
            pass  # a leftover, or another devenv made it meanwhile
        found = docker.network(net)
        if found is None:
            continue  # removed meanwhile: make it
        ours = _claim_network(found, net, instance)
        if (ours and (found.get("Options") or {}).get(BRIDGE_OPTION) == bridge
                and (found.get("Labels") or {}).get(identity.LABEL_PATH) == project.path):
            return net
        # A leftover, or made for the other host_access or path: made anew. A container
        # that joined meanwhile keeps it: looking again refuses it.
        with contextlib.suppress(docker.NetworkInUse):
            docker.remove_network(str(found["Id"]))
    raise ConflictError(f"the Docker network {net} keeps changing under devenv",
                        "another devenv may be starting the same name; try again")


def _claim_network(found: dict[str, Any], net: str, instance: str) -> bool:
    """Whether an existing network is this installation's; raise when it may not be taken
    over (not devenv's, or in use)."""
    labels = found.get("Labels") or {}
    if labels.get("devenv") != "true":
        raise ConflictError(f"a Docker network named {net} exists and is not devenv's",
                            "remove or rename it, or give this project another --name")
    users = sorted(str(c.get("Name", "?")) for c in (found.get("Containers") or {}).values())
    if users:
        raise ConflictError(f"the Docker network {net} is in use by {', '.join(users)}",
                            "an environment's network is its own: disconnect them "
                            f"('docker network disconnect {net} CONTAINER')")
    return labels.get(identity.LABEL_INSTANCE) == instance


def discard_network(name: str, instance: str, *,
                    listed: list[dict[str, Any]] | None = None) -> None:
    """Best-effort removal of the environment's network if it is this installation's (after
    it stopped, or when a first start failed); never masks a real error. ``listed``: every
    network of this installation, inspected (the network is not looked up again)."""
    with contextlib.suppress(DevenvError):
        if listed is None:
            found = docker.network(network_name(name))
        else:
            found = next((n for n in listed if n.get("Name") == network_name(name)), None)
        if found is not None and (found.get("Labels") or {}).get(
                identity.LABEL_INSTANCE) == instance:
            _remove_network(str(found["Id"]))


def _remove_network(net_id: str) -> bool:
    """Remove by id (never a network made meanwhile under the same name), waiting a little
    for an endpoint of a just-removed container to go; whether it was removed."""
    deadline = time.monotonic() + NETWORK_FREE_TIMEOUT
    while True:
        try:
            docker.remove_network(net_id)
            return True
        except docker.NetworkInUse:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.1)


def unused_networks(instance: str, listed: list[dict[str, Any]] | None = None
                    ) -> list[dict[str, Any]]:
    """This installation's environment networks that no container uses (leftovers of
    environments that ended without ``devenv stop``: a crash, ``docker rm -f``, a reboot).
    ``listed``: every network of this installation, inspected (not listed again)."""
    found = listed if listed is not None else docker.networks(
        {"devenv": "true", identity.LABEL_INSTANCE: instance})
    return [n for n in found if not n.get("Containers")
            and (n.get("Labels") or {}).get("devenv") == "true"
            and (n.get("Labels") or {}).get(identity.LABEL_INSTANCE) == instance
            and str(n.get("Name", "")).startswith(NETWORK_PREFIX)]


def remove_unused_network(found: dict[str, Any]) -> bool:
    """Remove a network :func:`unused_networks` found, unless a start of its environment is
    under way (it holds the environment's start lock) or a container joined it since."""
    from devenv.lockfile import locked

    name = (found.get("Labels") or {}).get(identity.LABEL_NAME, "")
    if not identity.NAME_RE.match(name):
        return False  # not a name devenv gives (the lock file is named after it)
    try:
        with locked(f"env-{name}", timeout=0, what=f"removing the network of {name}"):
            current = docker.network(str(found["Id"]))
            if current is None:
                return True
            if current.get("Containers"):
                return False
            with contextlib.suppress(docker.NetworkInUse):
                docker.remove_network(str(found["Id"]))
                return True
            return False
    except DevenvError:
        return False  # being started, or Docker refused: left for later


def sweep_networks(instance: str, listed: list[dict[str, Any]] | None = None, *,
                   skip: Container[str] = ()) -> None:
    """Remove this installation's unused environment networks (but those named in
    ``skip``); best effort. ``listed``: every network of this installation, inspected."""
    with contextlib.suppress(DevenvError):
        for found in unused_networks(instance, listed):
            if found.get("Name") not in skip:
                remove_unused_network(found)
