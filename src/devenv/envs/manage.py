"""List and stop environments. Docker is the truth about what runs; devenv's state says which
projects it knows. Only containers of this devenv installation (its instance label) count, so
two users (or two ``DEVENV_HOME``s) sharing one engine never touch each other's.

``devenv list`` and ``devenv stop`` are quick commands: a listing is one ``docker ps`` call
(:func:`devenv.engine.docker.listed`), the docker calls of a stop that do not depend on each
other run at the same time, and the heavier modules are imported where they are needed.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from devenv import state
from devenv.engine import docker
from devenv.envs import identity, quicklist
from devenv.errors import ConflictError, DevenvError, NotFoundError

TYPE_CHECKING = False
if TYPE_CHECKING:
    import sqlite3
    from collections.abc import Callable
    from typing import Any

    from devenv.envs import sessions as tmux

human_age = quicklist.human_age  # how an age is worded (sessions use it too)
STOP_GRACE = 5
REMOVE_TIMEOUT = 20.0
# The labels a listing reads (one docker ps call carries them).
_KEYS = (identity.LABEL_NAME, identity.LABEL_PATH, identity.LABEL_PROJECT,
         identity.LABEL_PORT, identity.LABEL_INSTANCE)


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


def instance(conn: sqlite3.Connection | None = None) -> str:
    if conn is not None:
        return state.instance_id(conn)
    conn = state.connect()
    try:
        return state.instance_id(conn)
    finally:
        conn.close()


def _info(found: dict[str, Any]) -> EnvInfo:
    """A row from ``docker inspect``."""
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


def _brief(row: dict[str, Any]) -> EnvInfo:
    """A row from :func:`devenv.engine.docker.listed`: no start time, and the image as ps
    names it."""
    labels = row["Labels"]
    port = labels.get(identity.LABEL_PORT, "")
    return EnvInfo(
        name=labels.get(identity.LABEL_NAME, row["Name"]),
        container=row["Name"],
        path=labels.get(identity.LABEL_PATH, ""),
        project=labels.get(identity.LABEL_PROJECT, ""),
        port=int(port) if port.isdecimal() else None,
        status=row["State"],
        started_at=None,
        image=row["Image"],
    )


def _running(row: dict[str, Any]) -> bool:
    """Inspect's ``State.Running`` (true while paused or restarting too)."""
    return row["State"] in ("running", "paused", "restarting")


def _ours(this: str, *, names: list[str] | None = None) -> list[dict[str, Any]]:
    return docker.listed({identity.LABEL_INSTANCE: this}, _KEYS, names=names)


def _stopped_projects(conn: sqlite3.Connection, seen: set[str]) -> list[EnvInfo]:
    return [EnvInfo(p.name, identity.container_name(p.name), p.path,
                    identity.ProjectPath(p.path).label, p.port, "stopped", None, "-")
            for p in state.all_projects(conn) if p.name not in seen]


def _connected(conn: sqlite3.Connection | None) -> tuple[sqlite3.Connection, bool]:
    """``conn``, or a new connection the caller closes (the second item says so)."""
    return (conn, False) if conn is not None else (state.connect(), True)


def list_envs(*, include_stopped: bool = False, exact: bool = True,
              conn: sqlite3.Connection | None = None) -> list[EnvInfo]:
    """This installation's running environments; with ``include_stopped`` also containers
    in other states and every known project without a container.

    ``exact=False`` is for callers that need names, paths and states only: one ``docker
    ps`` call, ``started_at`` left ``None`` and ``image`` as ps names it."""
    conn, close = _connected(conn)
    try:
        this = state.instance_id(conn)
        if exact:
            rows = [_info(c) for c in docker.containers({identity.LABEL_INSTANCE: this})
                    if include_stopped or docker.is_running(c)]
        else:
            rows = [_brief(r) for r in _ours(this) if include_stopped or _running(r)]
        if include_stopped:
            rows += _stopped_projects(conn, {r.name for r in rows})
    finally:
        if close:
            conn.close()
    return sorted(rows, key=lambda r: r.name)


def known_project(name: str) -> state.Project | None:
    """The project devenv knows under the environment name ``name``."""
    conn = state.connect()
    try:
        return state.project_by_name(conn, name)
    finally:
        conn.close()


def resolve_names(targets: list[str], *, conn: sqlite3.Connection | None = None) -> list[str]:
    """Map each PATH or NAME to the name of one of this installation's environments;
    anything else is a :class:`NotFoundError` naming close matches. The containers are
    listed only when devenv's state does not answer."""
    conn, close = _connected(conn)
    try:
        projects = state.all_projects(conn)
        listed: list[EnvInfo] = []

        def containers() -> list[EnvInfo]:
            if not listed:
                listed.extend(list_envs(include_stopped=True, exact=False, conn=conn))
            return listed

        return [_resolve_one(raw, projects, containers) for raw in targets]
    finally:
        if close:
            conn.close()


def _resolve_one(raw: str, projects: list[state.Project],
                 containers: Callable[[], list[EnvInfo]]) -> str:
    # A path names its own project only (never a guessed name that may be another's); it
    # may be gone already (rm -rf, then stop). The state's projects come first.
    real = os.path.realpath(raw)
    owners = [p.name for p in projects if p.path == real]
    if owners:
        return owners[0]
    owners = [c.name for c in containers() if c.path == real]
    if owners:
        return owners[0]
    if os.path.isdir(raw):
        raise NotFoundError(f"no devenv environment for {raw!r}",
                            f"start one with: devenv up {raw}")
    if raw in {p.name for p in projects}:
        return raw
    names = {p.name for p in projects} | {c.name for c in containers()}
    for candidate in (raw, raw.removeprefix(identity.CONTAINER_PREFIX)):
        if candidate in names:
            return candidate
    import difflib

    close = difflib.get_close_matches(raw.removeprefix(identity.CONTAINER_PREFIX), names, n=3)
    hint = ("did you mean: " + ", ".join(close)) if close else "see 'devenv list --all'"
    raise NotFoundError(f"no environment named {raw!r}", hint)


def exec_in(env: EnvInfo, argv: list[str], timeout: float = 30,
            this: str | None = None) -> str:
    """Run ``argv`` in the running ``env`` behind the installation guard; return stdout."""
    from devenv.envs import index

    target = index.Target(env.container, index.workspace_of(env.path), this or instance())
    docker_argv = index.exec_argv(target, argv, tty=False)
    return docker.docker(docker_argv[1:], timeout=timeout).stdout  # [1:]: the wrapper adds it


def sessions(env: EnvInfo, this: str | None = None) -> list[tmux.Session]:
    """The persistent (tmux) sessions in the running ``env``."""
    from devenv.envs import sessions as tmux

    return tmux.parse_sessions(exec_in(env, tmux.list_argv(), this=this))


def _busy(env: EnvInfo, this: str, top: str | None) -> str:
    """``NAME (session, ...)`` when the running ``env`` has persistent sessions, else "".

    ``top`` is what ``docker top`` listed in it (``None``: it did not answer). A tmux server
    is a process of its own, so a container that runs no more than its init and sshd has no
    session; only one running more is asked (``tmux list-sessions`` over ``docker exec``)."""
    if top is not None and len([line for line in top.splitlines()[1:] if line.strip()]) <= 2:
        return ""
    try:
        found = sessions(env, this)
    except DevenvError:
        return ""  # stopping already, say: nothing to protect
    return f"{env.name} ({', '.join(s.name for s in found)})" if found else ""


def _top(cname: str) -> str | None:
    """``docker top`` of a container (``None`` if it does not answer: not running, gone)."""
    try:
        return docker.docker(["top", cname], timeout=30).stdout
    except DevenvError:
        return None


def _refuse(envs: list[EnvInfo], this: str, doing: str, tops: dict[str, str | None]) -> None:
    found = [b for b in docker.concurrently(
        *(lambda e=e: _busy(e, this, tops.get(e.container)) for e in envs)) if b]
    if found:
        raise ConflictError(f"{doing} would end running sessions: {'; '.join(found)}",
                            "end them first (devenv sessions NAME --kill SESSION), or add "
                            "--force")


def refuse_to_end_sessions(names: list[str], doing: str) -> None:
    """A :class:`ConflictError` when any of the running ``names`` has persistent sessions:
    stopping an environment ends them, and with them the agents they keep alive."""
    this = instance()
    wanted = set(names)
    envs = [e for e in map(_brief, _ours(this)) if e.name in wanted and e.status in (
        "running", "paused", "restarting")]
    if envs:
        tops = docker.concurrently(*(lambda e=e: _top(e.container) for e in envs))
        _refuse(envs, this, doing, {e.container: t for e, t in zip(envs, tops, strict=True)})


def stop(names: list[str], *, force: bool = False, doing: str = "stopping",
         conn: sqlite3.Connection | None = None) -> list[tuple[str, bool]]:
    """Stop the named environments (in parallel) and remove their networks; return
    (name, was_running) pairs. Refuses (stopping nothing) while any of them has persistent
    sessions, unless ``force``. Networks this installation left behind (environments that
    ended without ``stop``) go too.

    Docker calls that do not wait on each other's answers run at the same time: the
    containers and their processes are listed at once, this installation's networks while
    the containers stop; once they stopped, their removal is awaited and the networks go
    while devenv's files are written."""
    conn, close = _connected(conn)
    try:
        this = state.instance_id(conn)
        cnames = [identity.container_name(n) for n in names]
        looking = docker.started(
            lambda: {r["Name"]: r for r in docker.listed({}, _KEYS, names=cnames)},
            *([] if force else [lambda c=c: _top(c) for c in cnames]))
        from devenv.envs import container, registry  # imported while docker answers

        found, *tops = looking()
        if not force:
            # The sessions of the running ones of ours (the others are left to the checks
            # of each stop, as ever).
            ours = [_brief(r) for r in found.values()
                    if r["Labels"].get(identity.LABEL_INSTANCE) == this and _running(r)]
            _refuse(ours, this, doing, dict(zip(cnames, tops, strict=True)))
        # The networks are needed once the containers stopped: listed while they stop.
        listing = docker.started(lambda: _networks(this))
        try:
            outcomes = docker.concurrently(*(
                lambda n=n: _attempt(n, found.get(identity.container_name(n)), this)
                for n in names))
        finally:
            (networks,) = listing()
        # Once stopped: --rm removes them asynchronously, and their networks can go. Wait
        # for the removal (so that an immediate 'up' finds the name free) and remove the
        # networks while devenv's files are written (stopped environments leave the
        # fast-path index).
        tidy = [lambda n=n: container.discard_network(n, this, listed=networks)
                for n, (_, error) in zip(names, outcomes, strict=True) if error is None]
        waits = [lambda i=i: _await_removal(i) for (i, _), _e in outcomes if i]
        tidying = docker.started(*tidy, *waits, lambda: container.sweep_networks(
            this, networks, skip={container.network_name(n) for n in names}))
        try:
            registry.refresh_files(conn)
        finally:
            tidying()
    finally:
        if close:
            conn.close()
    for _, error in outcomes:
        if error is not None:
            raise error
    return [(n, was_running) for n, ((_, was_running), _) in zip(names, outcomes, strict=True)]


def _networks(this: str) -> list[dict[str, Any]] | None:
    """Every network of this installation, fully inspected; ``None`` if docker failed
    (each stop then looks for its network by name)."""
    try:
        return docker.networks({identity.LABEL_INSTANCE: this})
    except DevenvError:
        return None


def _attempt(name: str, found: dict[str, Any] | None, this: str
             ) -> tuple[tuple[str, bool], BaseException | None]:
    """:func:`_stop_container`, its exception returned (raised once all stops are done)."""
    try:
        return _stop_container(name, found, this), None
    except BaseException as e:  # noqa: BLE001 - raised by the caller
        return ("", False), e


def _stop_container(name: str, found: dict[str, Any] | None, instance: str) -> tuple[str, bool]:
    """Stop the container ``found`` (``devenv-NAME`` as ``docker ps`` listed it, ``None``:
    there is none); return its id ("" when there was nothing to stop) and whether it ran."""
    cname = identity.container_name(name)
    if found is None:
        return "", False
    if found["Labels"].get(identity.LABEL_INSTANCE) != instance:
        raise DevenvError(f"{cname} belongs to another devenv installation; not stopping it")
    was_running = _running(found)
    try:
        docker.docker(["stop", "-t", str(STOP_GRACE), found["Id"]], timeout=STOP_GRACE + 30)
    except docker.NoSuchObject:
        return "", was_running
    return str(found["Id"]), was_running


def _await_removal(container_id: str) -> None:
    """Wait until ``--rm`` removed the stopped container (by id: a new environment started
    meanwhile under the same name is not ours to remove); remove it after
    :data:`REMOVE_TIMEOUT`."""
    deadline = time.monotonic() + REMOVE_TIMEOUT
    while docker.container(container_id) is not None:
        if time.monotonic() > deadline:
            docker.remove(container_id)
            return
        time.sleep(0.02)
