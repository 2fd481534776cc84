"""List and stop environments. Docker is the truth about what runs; devenv's state says which
projects it knows. Only containers of this devenv installation (its instance label) count, so
two users (or two ``DEVENV_HOME``s) sharing one engine never touch each other's."""

from __future__ import annotations

import difflib
import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from devenv import state
from devenv.engine import docker
from devenv.envs import fast, identity, quicklist, registry
from devenv.envs.identity import container_name
from devenv.errors import ConflictError, DevenvError, NotFoundError
from devenv.integrations import tmux

human_age = quicklist.human_age  # how an age is worded (sessions use it too)
STOP_GRACE = 5
REMOVE_TIMEOUT = 20.0


@dataclass(frozen=True)
class EnvInfo:
    """One row of ``devenv list``."""

    name: str
    container: str
    path: str
    project: str
    port: int | None
    status: str
    started_at: str | None  # ISO 8601, UTC
    image: str

    def age(self, now: datetime | None = None) -> str:
        if not self.started_at or self.started_at.startswith("0001-"):  # never started
            return "-"
        started = parse_time(self.started_at)
        return human_age((now or datetime.now(UTC)) - started)


def parse_time(value: str) -> datetime:
    """Docker's RFC 3339 times carry nanoseconds; Python takes microseconds."""
    head, _, frac = value.rstrip("Z").partition(".")
    micro = (frac + "000000")[:6] if frac else "000000"
    return datetime.fromisoformat(f"{head}.{micro}+00:00")


def instance() -> str:
    conn = state.connect()
    try:
        return state.instance_id(conn)
    finally:
        conn.close()


def _info(found: dict[str, Any]) -> EnvInfo:
    labels = docker.labels_of(found)
    st = found.get("State") or {}
    port = labels.get(identity.LABEL_PORT, "")
    return EnvInfo(
        name=labels.get(identity.LABEL_NAME, str(found.get("Name", "")).lstrip("/")),
        container=str(found.get("Name", "")).lstrip("/"),
        path=labels.get(identity.LABEL_PATH, ""),
        project=labels.get(identity.LABEL_PROJECT, ""),
        port=int(port) if port.isdecimal() else None,
        status=str(st.get("Status", "unknown")),
        started_at=str(st["StartedAt"]) if st.get("StartedAt") else None,
        image=str((found.get("Config") or {}).get("Image", "")),
    )


def list_envs(*, include_stopped: bool = False) -> list[EnvInfo]:
    """This installation's running environments; with ``include_stopped`` also containers
    in other states and every known project without a container."""
    found = docker.containers({identity.LABEL_INSTANCE: instance()})
    rows = [_info(c) for c in found if include_stopped or docker.is_running(c)]
    if include_stopped:
        conn = state.connect()
        try:
            seen = {r.name for r in rows}
            rows += [EnvInfo(p.name, container_name(p.name), p.path,
                             identity.ProjectPath(p.path).label, p.port, "stopped", None, "-")
                     for p in state.all_projects(conn) if p.name not in seen]
        finally:
            conn.close()
    return sorted(rows, key=lambda r: r.name)


def known_project(name: str) -> state.Project | None:
    """The project devenv knows under the environment name ``name``."""
    conn = state.connect()
    try:
        return state.project_by_name(conn, name)
    finally:
        conn.close()


def resolve_names(targets: list[str]) -> list[str]:
    """Map each PATH or NAME to the name of one of this installation's environments;
    anything else is a :class:`NotFoundError` naming close matches."""
    conn = state.connect()
    try:
        projects = state.all_projects(conn)
        containers = list_envs(include_stopped=True)
        return [_resolve_one(raw, projects, containers) for raw in targets]
    finally:
        conn.close()


def _resolve_one(raw: str, projects: list[state.Project], containers: list[EnvInfo]) -> str:
    # A path names its own project only (never a guessed name that may be another's); it
    # may be gone already (rm -rf, then stop).
    real = os.path.realpath(raw)
    owners = [p.name for p in projects if p.path == real]
    owners += [c.name for c in containers if c.path == real]
    if owners:
        return owners[0]
    if os.path.isdir(raw):
        raise NotFoundError(f"no devenv environment for {raw!r}",
                            f"start one with: devenv up {raw}")
    names = {p.name for p in projects} | {c.name for c in containers}
    for candidate in (raw, raw.removeprefix(identity.CONTAINER_PREFIX)):
        if candidate in names:
            return candidate
    close = difflib.get_close_matches(raw.removeprefix(identity.CONTAINER_PREFIX), names, n=3)
    hint = ("did you mean: " + ", ".join(close)) if close else "see 'devenv list --all'"
    raise NotFoundError(f"no environment named {raw!r}", hint)


def exec_in(env: EnvInfo, argv: list[str], timeout: float = 30) -> str:
    """Run ``argv`` in the running ``env`` behind the installation guard; return stdout."""
    target = fast.Target(env.container, fast.workspace_of(env.path), instance())
    docker_argv = fast.exec_argv(target, argv, tty=False)
    return docker.docker(docker_argv[1:], timeout=timeout).stdout  # [1:]: the wrapper adds it


def sessions(env: EnvInfo) -> list[tmux.Session]:
    """The persistent (tmux) sessions in the running ``env``."""
    return tmux.parse_sessions(exec_in(env, tmux.list_argv()))


def refuse_to_end_sessions(names: list[str], doing: str) -> None:
    """A :class:`ConflictError` when any of the running ``names`` has persistent sessions:
    stopping an environment ends them, and with them the agents they keep alive."""
    from concurrent.futures import ThreadPoolExecutor

    wanted = set(names)
    envs = [e for e in list_envs() if e.name in wanted]

    def busy(env: EnvInfo) -> str:
        try:
            found = sessions(env)
        except DevenvError:
            return ""  # stopping already, say: nothing to protect
        return f"{env.name} ({', '.join(s.name for s in found)})" if found else ""

    with ThreadPoolExecutor(max_workers=max(1, min(8, len(envs)))) as pool:
        found = [b for b in pool.map(busy, envs) if b]
    if found:
        raise ConflictError(f"{doing} would end running sessions: {'; '.join(found)}",
                            "end them first (devenv sessions NAME --kill SESSION), or add "
                            "--force")


def stop(names: list[str], *, force: bool = False,
         doing: str = "stopping") -> list[tuple[str, bool]]:
    """Stop the named environments (in parallel) and remove their networks; return
    (name, was_running) pairs. Refuses (stopping nothing) while any of them has persistent
    sessions, unless ``force``. Networks this installation left behind (environments that
    ended without ``stop``) go too."""
    from concurrent.futures import ThreadPoolExecutor

    from devenv.envs import container

    if not force:
        refuse_to_end_sessions(names, doing)
    this = instance()
    try:
        with ThreadPoolExecutor(max_workers=max(1, min(8, len(names)))) as pool:
            return list(pool.map(lambda n: (n, _stop_one(n, this)), names))
    finally:
        container.sweep_networks(this)
        conn = state.connect()
        try:
            registry.refresh_files(conn)  # stopped environments leave the fast-path index
        finally:
            conn.close()


def _stop_one(name: str, instance: str) -> bool:
    from devenv.envs import container

    was_running = _stop_container(name, instance)
    container.discard_network(name, instance)  # also when the container was gone already
    return was_running


def _stop_container(name: str, instance: str) -> bool:
    cname = container_name(name)
    found = docker.container(cname)
    if found is None:
        return False
    if docker.labels_of(found).get(identity.LABEL_INSTANCE) != instance:
        raise DevenvError(f"{cname} belongs to another devenv installation; not stopping it")
    was_running = docker.is_running(found)
    try:
        docker.docker(["stop", "-t", str(STOP_GRACE), found["Id"]], timeout=STOP_GRACE + 30)
    except docker.NoSuchObject:
        return was_running
    # --rm removes it asynchronously; wait so that an immediate 'up' finds the name free.
    # By id: a new environment started meanwhile under the same name is not ours to remove.
    deadline = time.monotonic() + REMOVE_TIMEOUT
    while docker.container(found["Id"]) is not None:
        if time.monotonic() > deadline:
            docker.remove(found["Id"])
            break
        time.sleep(0.1)
    return was_running
