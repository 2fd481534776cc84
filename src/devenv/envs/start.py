"""Start an environment once, or find it running: the path behind ``devenv .``, ``up``, ``exec``.

One container per project, named ``devenv-<name>``, started with ``docker run -d --rm --init``;
its main process is sshd (as the non-root container user), so the container lives until
``devenv stop``. Starts are serialised per name with a lock; a name conflict from Docker
(another devenv won a race) means "already running".
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import sqlite3
import sys
import time
from dataclasses import dataclass

from devenv import config, paths, state
from devenv.config import Config
from devenv.engine import docker
from devenv.envs import (
    chain,
    container,
    drift,
    gitguard,
    grant,
    hooks,
    identity,
    index,
    ports,
    profiles,
    registry,
    root,
    stopping,
    volumes,
)
from devenv.envs.identity import ProjectPath, container_name
from devenv.envs.index import Target
from devenv.errors import ConfigError, ConflictError, DevenvError, UsageError
from devenv.images import default
from devenv.lockfile import locked

TYPE_CHECKING = False
if TYPE_CHECKING:
    from devenv.images.catalogue import Tool

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
    container_id: str = ""
    tracked: bool = False  # its start hooks are tracked (see devenv.envs.hooks)

    @property
    def container(self) -> str:
        return container_name(self.name)


@dataclass(frozen=True)
class Located:
    """The project a PATH belongs to (:mod:`devenv.envs.root`): its directory, PATH
    relative to it, and the note to print when it is not PATH itself."""

    path: str
    inner: str = ""
    chosen: str = ""

    def say(self) -> None:
        if self.chosen:
            print(self.chosen, file=sys.stderr)


def locate(raw_path: str, *, here: bool = False) -> Located:
    """The project of the directory ``raw_path`` (``here``: the directory itself); a path
    that is no directory stays as it is (:func:`identity.project_path` says what is
    wrong with it)."""
    import os

    real = os.path.realpath(raw_path)
    if here or not raw_path or not root.walks(raw_path) or not os.path.isdir(real):
        return Located(raw_path)
    conn = state.connect()
    try:
        known = {p.path for p in state.all_projects(conn)}
    finally:
        conn.close()
    project, reason = root.find(real, known)
    if project == real:
        return Located(raw_path)
    return Located(project, root.inside(project, real), root.note(project, real, reason))


def target(raw_path: str, *, port: int | None = None, name: str | None = None,
           look_fast: bool = True, here: bool = False, grant_write: bool = False
           ) -> tuple[Target, Env | None]:
    """Where to ``docker exec`` for PATH (in the directory PATH is, inside its project),
    starting the environment first if needed; the second item is the environment when this
    call had to look it up (``None`` on the fast path). ``look_fast=False`` skips the index
    (its entry proved stale). ``grant_write``: see :func:`ensure_running`."""
    if port is None and name is None and look_fast and not here and not grant_write:
        hit = index.lookup(raw_path)
        if hit is not None:
            return hit, None
    where = locate(raw_path, here=here)
    env = ensure_running(where.path, port=port, name=name, grant_write=grant_write)
    from devenv.ssh.config import control_dir

    return Target(env.container, index.within(env.project.workspace, where.inner),
                  env.instance, name=env.name, port=env.port,
                  control=paths.env_control_socket(str(control_dir()), env.port),
                  chosen=where.chosen), env


@dataclass(frozen=True)
class Spec:
    """What a start needs to know: the project, its name, the port asked for, its config."""

    project: ProjectPath
    name: str
    requested: ports.PortChoice | None
    cfg: Config
    recreate: bool = False  # replace a running container (the volumes stay)
    rebuild: bool = False  # and rebuild its image layers without cache first
    force: bool = False  # recreate even though persistent sessions run (they end)
    bind: str = ports.LOOPBACK  # where sshd is published (ports.bind)
    grant_write: bool = False  # --grant-write (devenv.envs.grant)


def ensure_running(raw_path: str, *, port: int | None = None, name: str | None = None,
                   recreate: bool = False, rebuild: bool = False, force: bool = False,
                   grant_write: bool = False) -> Env:
    """Start the environment for ``raw_path`` unless it runs; return it.

    :param port: ``--port``; else ``DEVENV_SSH_PORT``, else ``ssh_port`` from config.
    :param name: ``--name``; else ``name`` from config, else the remembered or default name.
    :param recreate: replace a running environment's container (applies config changes;
        the volumes are kept, ``post_create`` runs again).
    :param rebuild: rebuild the image layers without cache first (implies ``recreate``).
    :param force: recreate even though persistent sessions run in it (they end).
    :param grant_write: give the container user write access to a root-owned project
        with ACLs when devenv runs as root (:mod:`devenv.envs.grant`), also when it runs.
    """
    project = identity.project_path(raw_path)
    cfg = config.load(project.path)
    requested = ports.requested_port(port, configured=cfg.ssh_port)
    bind = ports.bind(cfg.ssh_bind)  # a bad DEVENV_SSH_BIND fails before anything starts
    wanted = name if name is not None else cfg.name
    if wanted is not None:
        try:
            identity.check_name(wanted)
        except UsageError as e:
            if name is not None:
                raise
            raise ConfigError(f"{cfg.origin('name')}: {e.message}", e.hint) from None
    chain.check(project, cfg)  # bad config fails here: nothing built, nothing started
    conn = state.connect()
    # Two locks, always in this order: the project's (one start per project, whatever name
    # each caller asks for), then the name's (one container per name, whichever project).
    path_lock = "path-" + hashlib.sha256(project.path.encode()).hexdigest()[:16]
    try:
        with locked(path_lock, timeout=START_LOCK_TIMEOUT, what=f"starting {project.path}"):
            known = state.project_by_path(conn, project.path)
            env_name = wanted or (known.name if known else identity.default_name(project))
            if known is not None and known.name != env_name:
                _refuse_rename_while_running(known.name, env_name)
            with locked(f"env-{env_name}", timeout=START_LOCK_TIMEOUT,
                        what=f"starting {env_name}"):
                env = _ensure_locked(conn, Spec(project, env_name, requested, cfg,
                                                recreate or rebuild, rebuild, force, bind,
                                                grant_write))
    finally:
        conn.close()
    # Hooks run outside the locks: other terminals can attach (and ssh works) meanwhile.
    if env.started:
        from devenv.ssh import health

        # Failures recorded while it was down no longer apply: no backoff for the new one.
        health.reset(health.env_key(env.name))
    if env.started or env.tracked:  # an attach runs only what a killed start left due
        hooks.run_due_hooks(env.name, env.container_id, env.container,
                            env.project.workspace, cfg)
    return env


def _refuse_rename_while_running(old: str, new: str) -> None:
    found = docker.container(container_name(old))
    if found is not None and docker.is_running(found):
        raise ConflictError(f"this project's environment is running as '{old}'; "
                            f"it cannot become '{new}' while it runs",
                            f"stop it first: devenv stop {old}")


def _ensure_locked(conn: sqlite3.Connection, spec: Spec) -> Env:
    instance = state.instance_id(conn)
    # The base image's id is wanted either way (a start's image, a running one's config
    # drift): looked up while the container is.
    base = docker.started(_base_image_id)
    try:
        env = _existing(conn, spec, instance)
    finally:
        base()
    tag = None
    if spec.recreate:
        if env is not None and not spec.force:  # before a long build, not after it
            stopping.refuse_to_end_sessions([spec.name], "recreating")
        # Build before stopping anything: a failed rebuild leaves the environment running.
        tag = chain.image_for(spec.project, spec.name, spec.cfg, no_cache=spec.rebuild)
        if env is not None:
            stopping.stop([spec.name], force=True, conn=conn, tidy=True)
        hooks.forget_creation(spec.name)
        env = None
    if env is None:
        # Claim the name first: a collision is reported before any image is built.
        before = registry.claim(conn, spec.project, spec.name)
        made: list[str] = []  # the volumes this start made (devenv.envs.volumes)
        try:
            return _start(conn, spec, tag, instance, made)  # it wrote the files too
        except BaseException:
            container.discard_network(spec.name, instance)
            volumes.discard(made)
            registry.release(conn, spec.project, before)
            raise
    # Also when it was already running: repairs a deleted or stale ssh_config or index.
    registry.refresh_files(conn)
    if spec.grant_write:
        grant.decide(spec.project, flag=True, configured=spec.cfg.grant_write)
    return env


def _start(conn: sqlite3.Connection, spec: Spec, tag: str | None, instance: str,
           made: list[str]) -> Env:
    """Start the environment's container: its volumes and network are made while its
    image is found (or built) and its mounts are prepared, then it runs."""
    making = docker.started(
        lambda: volumes.ensure(spec.name, spec.project, instance, made),
        lambda: container.ensure_network(spec.name, spec.project, instance,
                                         host_access=spec.cfg.host_access))
    try:
        tag = tag or chain.image_for(spec.project, spec.name, spec.cfg)
        prepared = _prepare(conn, spec)
    except BaseException:
        with contextlib.suppress(BaseException):
            making()  # the image's error is the one to report; nothing is left running
        raise
    making()
    return _run(conn, spec, tag=tag, instance=instance, prepared=prepared)


def _base_image_id() -> None:
    with contextlib.suppress(DevenvError):  # asked again (and reported) where it is needed
        default.base_image_id()


def _existing(conn: sqlite3.Connection, spec: Spec, instance: str) -> Env | None:
    """The running environment for the spec's name if it is this project's; refuse anyone
    else's."""
    project, name, requested = spec.project, spec.name, spec.requested
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
            if (found.get("State") or {}).get("Paused"):
                raise DevenvError(f"environment {name} is paused",
                                  f"resume it with: docker unpause {cname}")
            port = int(labels.get(identity.LABEL_PORT, "0"))
            if (requested is not None and requested.source == "flag" and requested.port != port
                    and not spec.recreate):
                raise ConflictError(
                    f"{name} is already running with SSH port {port} (asked for {requested.port})",
                    f"stop it first: devenv stop {name}",
                )
            container.wait_ready(cname, port)
            registry.record_running(conn, project, name, port)
            if not spec.recreate:
                _note_drift(labels, spec)
            return Env(name, project, port, str(found["Config"]["Image"]), instance,
                       started=False, container_id=str(found.get("Id", "")),
                       tracked=labels.get(hooks.LABEL_TRACKED) == "1")
        # Stopped but not yet removed (--rm is asynchronous): wait for it to go.
        if time.monotonic() > deadline:
            docker.remove(cname)
        else:
            time.sleep(0.2)
    return None


def _note_drift(labels: dict[str, str], spec: Spec) -> None:
    try:
        changes = drift.report(labels, spec.project, spec.cfg)
    except DevenvError:
        return  # advisory only: never stands between the user and a running environment
    guarded = labels.get(gitguard.LABEL_GUARDED)
    if guarded and guarded != index.git_config_id(spec.project.path):
        print(f"devenv: warning: {spec.project.path}/.git/config was replaced (or a "
              f".git/commondir appeared) after {spec.name} started: the agent may be able "
              "to write this repository's git config; do not run git on the host in it "
              "before you checked .git (docs/security.md); restart the environment to "
              f"protect it again: devenv up --recreate {spec.project.path}", file=sys.stderr)
    if changes:
        print(f"devenv: note: {spec.name}'s config changed since it started: "
              f"{'; '.join(changes)}", file=sys.stderr)
        print(f"devenv: note: apply it with: devenv up --recreate {spec.project.path} "
              "(the volumes are kept)", file=sys.stderr)


@dataclass(frozen=True)
class _Prepared:
    """The host side of a start: the files the container mounts, its tools, its labels."""

    record: state.Project
    key_dir: str
    status_log: str
    tools: list[Tool]
    mounts: list[tuple[str, str, bool]]
    guard: dict[str, str]


def _prepare(conn: sqlite3.Connection, spec: Spec) -> _Prepared:
    project, name = spec.project, spec.name
    record = state.project_by_path(conn, project.path)
    if record is None:  # the caller claimed it inside our lock; only state damage gets here
        raise DevenvError(f"devenv's state lost the record of {project.path}")
    key_dir, status_log = registry.prepare_mounts(record)
    tools = chain.tool_chain(project, spec.cfg)
    profile_mounts = profiles.prepare(name, tools, key_dir, project.path)
    git_mounts, guard = gitguard.prepare(project, name, spec.cfg)
    profile_mounts += git_mounts
    grant.decide(project, flag=spec.grant_write, configured=spec.cfg.grant_write)
    return _Prepared(record, key_dir, status_log, tools, profile_mounts, guard)


def _run(conn: sqlite3.Connection, spec: Spec, *, tag: str, instance: str,
         prepared: _Prepared) -> Env:
    project, name = spec.project, spec.name
    record, key_dir, status_log = prepared.record, prepared.key_dir, prepared.status_log
    tools, profile_mounts, guard = prepared.tools, prepared.mounts, prepared.guard
    cname = container_name(name)
    avoid: set[int] = set()
    for _ in range(PORT_RETRIES):
        choice = registry.assign_port(conn, project, spec.requested, avoid, spec.cfg.port_range)
        argv = container.run_argv(project, name, port=choice.port, image=tag,
                                  instance=instance, key_dir=key_dir, status_log=status_log,
                                  cfg=spec.cfg,
                                  extra_labels={**drift.labels(project, spec.cfg),
                                                hooks.LABEL_TRACKED: "1", **guard},
                                  extra_mounts=profile_mounts, bind=spec.bind)
        try:
            container_id = docker.docker(argv, timeout=120).stdout.strip()
            # devenv's files are written while sshd comes up: this start's tools, then
            # ssh_config, the index and WezTerm's domains (a failed start restores them).
            ready = docker.started(functools.partial(container.wait_ready, cname, choice.port,
                                                     status_log=status_log))
            try:
                with state.transaction(conn):
                    state.set_tools(conn, project.path, [tool.name for tool in tools])
                registry.refresh_files(conn)
            except BaseException:
                with contextlib.suppress(BaseException):
                    ready()
                raise
            ready()
        except docker.PortTaken:
            # Docker lost a race for the port to a non-devenv process: take another one.
            container.discard(cname)  # a "Created" leftover, if any
            if choice.user_chosen:
                raise ConflictError(f"port {choice.port} on 127.0.0.1 is busy",
                                    "choose another port, or leave --port out") from None
            avoid.add(choice.port)
            continue
        except docker.NameTaken:
            # Another devenv started it between our check and our run: attach to that one.
            env = _existing(conn, Spec(project, name, None, spec.cfg), instance)
            if env is None:
                raise
            registry.refresh_files(conn)
            return env
        except BaseException:
            # The daemon may have created the container before the failure (or Ctrl-C).
            container.discard(cname)
            raise
        if record.port is not None and choice.port != record.port:
            print(f"devenv: note: {name}'s SSH port {record.port} is taken; it now uses "
                  f"{choice.port} (devenv's ssh_config is updated; reload WezTerm's config)",
                  file=sys.stderr)
        if ports.exposed(spec.bind):
            print(f"devenv: warning: {name}'s SSH port {choice.port} is published on "
                  f"{spec.bind} ({ports.ENV_BIND} or ssh_bind): other machines can reach it "
                  "(devenv's key is the only way in)", file=sys.stderr)
        return Env(name, project, choice.port, tag, instance, started=True,
                   container_id=container_id, tracked=True)
    raise DevenvError(f"docker reported every SSH port tried as taken: {sorted(avoid)}",
                      f"free some ports or set {ports.ENV_RANGE}=LOW-HIGH")
