"""The environments devenv knows: listing them (Docker is the truth about what runs; devenv's
state says which projects it knows) and resolving PATH or NAME to one. Only containers of
this devenv installation (its instance label) count, so two users (or two ``DEVENV_HOME``s)
sharing one engine never see each other's. A listing is one ``docker ps`` call
(:func:`devenv.engine.docker.listed`).
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from datetime import UTC, datetime

from devenv import state
from devenv.engine import docker
from devenv.envs import identity, quicklist, root
from devenv.errors import NotFoundError, UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    import sqlite3
    from collections.abc import Callable
    from typing import Any


human_age = quicklist.human_age  # how an age is worded (sessions use it too)
# The labels a listing reads (one docker ps call carries them).
LABELS = (identity.LABEL_NAME, identity.LABEL_PATH, identity.LABEL_PROJECT,
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


def brief(row: dict[str, Any]) -> EnvInfo:
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


def is_running(row: dict[str, Any]) -> bool:
    """Inspect's ``State.Running`` (true while paused or restarting too)."""
    return row["State"] in ("running", "paused", "restarting")


def ours(this: str, *, names: list[str] | None = None) -> list[dict[str, Any]]:
    return docker.listed({identity.LABEL_INSTANCE: this}, LABELS, names=names)


def _stopped_projects(conn: sqlite3.Connection, seen: set[str]) -> list[EnvInfo]:
    return [EnvInfo(p.name, identity.container_name(p.name), p.path,
                    identity.ProjectPath(p.path).label, p.port, "stopped", None, "-")
            for p in state.all_projects(conn) if p.name not in seen]


def connected(conn: sqlite3.Connection | None) -> tuple[sqlite3.Connection, bool]:
    """``conn``, or a new connection the caller closes (the second item says so)."""
    return (conn, False) if conn is not None else (state.connect(), True)


def list_envs(*, include_stopped: bool = False, exact: bool = True,
              conn: sqlite3.Connection | None = None) -> list[EnvInfo]:
    """This installation's running environments; with ``include_stopped`` also containers
    in other states and every known project without a container.

    ``exact=False`` is for callers that need names, paths and states only: one ``docker
    ps`` call, ``started_at`` left ``None`` and ``image`` as ps names it."""
    conn, close = connected(conn)
    try:
        this = state.instance_id(conn)
        if exact:
            rows = [_info(c) for c in docker.containers({identity.LABEL_INSTANCE: this})
                    if include_stopped or docker.is_running(c)]
        else:
            rows = [brief(r) for r in ours(this) if include_stopped or is_running(r)]
        if include_stopped:
            rows += _stopped_projects(conn, {r.name for r in rows})
    finally:
        if close:
            conn.close()
    return sorted(rows, key=lambda r: r.name)


def resolve_project(spec: str) -> tuple[str, state.Project | None]:
    """PATH or NAME ``spec``'s environment name and the project devenv knows under it, over
    one state connection (see :func:`resolve_names`)."""
    conn = state.connect()
    try:
        (name,) = resolve_names([spec], conn=conn)
        return name, state.project_by_name(conn, name)
    finally:
        conn.close()


def known_project(name: str) -> state.Project | None:
    """The project devenv knows under the environment name ``name``."""
    conn = state.connect()
    try:
        return state.project_by_name(conn, name)
    finally:
        conn.close()


def resolve_names(targets: list[str], *, conn: sqlite3.Connection | None = None,
                  say: bool = False) -> list[str]:
    """Map each PATH or NAME to the name of one of this installation's environments (a PATH
    means the project it is in: :mod:`devenv.envs.root`; ``say``: print which, when it is
    not PATH itself); anything else is a :class:`NotFoundError` naming close matches. The
    containers are listed only when devenv's state does not answer."""
    conn, close = connected(conn)
    try:
        projects = state.all_projects(conn)
        listed: list[EnvInfo] = []

        def containers() -> list[EnvInfo]:
            if not listed:
                listed.extend(list_envs(include_stopped=True, exact=False, conn=conn))
            return listed

        return [_resolve_one(raw, projects, containers, say) for raw in targets]
    finally:
        if close:
            conn.close()


def _resolve_one(raw: str, projects: list[state.Project],
                 containers: Callable[[], list[EnvInfo]], say: bool) -> str:
    # A path names its own project only (never a guessed name that may be another's): the
    # project it is in, or itself when it is gone already (rm -rf, then stop). The state's
    # projects come first.
    if not raw:
        raise UsageError("an empty PATH|NAME", "give a project path (e.g. .) or a name")
    real = os.path.realpath(raw)
    if os.path.isdir(real) and root.walks(raw):
        asked = real
        real, reason = root.find(asked, {p.path for p in projects})
        if say and root.note(real, asked, reason):
            print(root.note(real, asked, reason), file=sys.stderr)
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
