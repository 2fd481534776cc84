"""Which project owns which environment name, port and host key (devenv's state), and the
files derived from it: the per-environment key directory and devenv's ssh_config."""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
from dataclasses import replace
from pathlib import Path

from devenv import paths, proc, state
from devenv.engine import docker
from devenv.envs import drift, events, identity, index, ports
from devenv.envs.identity import ProjectPath, container_name
from devenv.errors import ConflictError, DevenvError
from devenv.images.default import USER_NAME, container_ids
from devenv.lockfile import atomic_write, locked
from devenv.paths import ensure_private_dir, env_dir
from devenv.ssh import config as ssh_config
from devenv.ssh import keys
from devenv.state import Project

STATUS_LOG = "init.log"


def collision(name: str, mine: str, theirs: str) -> ConflictError:
    return ConflictError(
        f"environment name '{name}' is already used by {theirs!r} (this project: {mine!r})",
        "give this project its own name with --name NAME",
    )


def name_for(project: ProjectPath, configured: str | None) -> str:
    """The environment name ``project`` uses: configured, else remembered, else default."""
    if configured is not None:
        return identity.check_name(configured)
    conn = state.connect()
    try:
        known = state.project_by_path(conn, project.path)
    finally:
        conn.close()
    return known.name if known is not None else identity.default_name(project)


def claim(conn: sqlite3.Connection, project: ProjectPath, name: str) -> list[Project]:
    """Register ``project`` under ``name``; return the rows it changed, as they were, for
    :func:`release`.

    A name held by another project whose directory still exists is a collision. A name
    held by a project whose directory is gone (moved or deleted) is taken over, with its
    port and host key.
    """
    with state.transaction(conn):
        mine = state.project_by_path(conn, project.path)
        holder = state.project_by_name(conn, name)
        before = list({row.path: row for row in (mine, holder) if row is not None}.values())
        if holder is not None and holder.path != project.path:
            if os.path.isdir(holder.path):
                raise collision(name, project.path, holder.path)
            if mine is None:
                state.set_path(conn, name, project.path)
                return before
            state.remove_project(conn, holder.path)
        if mine is None:
            private, public = keys.generate(f"devenv-{name}")
            state.add_project(conn, Project(project.path, name, None, private, public))
        elif mine.name != name:
            state.set_name(conn, project.path, name)
        return before


def release(conn: sqlite3.Connection, project: ProjectPath, before: list[Project]) -> None:
    """Undo :func:`claim` and any port change after a failed start: nothing half-created.

    If another project took one of the old names or ports meanwhile, the old rows cannot
    come back as they were; the current record is then left as it is (still consistent).
    """
    try:
        with state.transaction(conn):
            current = state.project_by_path(conn, project.path)
            for row in [current, *before]:
                if row is not None:
                    state.remove_project(conn, row.path)
            for row in before:
                taken = row.port is not None and state.project_by_port(conn, row.port)
                state.add_project(conn, replace(row, port=None) if taken else row)
    except sqlite3.IntegrityError:
        current = None  # rolled back: nothing was undone, so nothing is removed below
    if current is not None and current.name not in {row.name for row in before}:
        shutil.rmtree(env_dir(current.name), ignore_errors=True)
    with contextlib.suppress(DevenvError):  # never mask the error that made us release
        refresh_files(conn)


def record_running(conn: sqlite3.Connection, project: ProjectPath, name: str,
                   port: int) -> None:
    """Make state agree with a running container of this project (after an interrupted
    start, say): its name, its port, and the host key it actually serves."""
    mine = state.project_by_path(conn, project.path)
    if mine is not None and mine.name == name and mine.port == port:
        return
    served = env_dir(name) / "keys" / "ssh_host_ed25519_key"
    if mine is None and state.project_by_name(conn, name) is None and served.exists():
        private = served.read_text()
        public = proc.run(["ssh-keygen", "-y", "-f", str(served)], timeout=30).stdout.strip()
        with state.transaction(conn):
            state.add_project(conn, Project(project.path, name, None, private, public))
    else:
        claim(conn, project, name)
    with state.transaction(conn):
        other = state.project_by_port(conn, port)
        if other is not None and other.path != project.path:
            state.set_port(conn, other.path, None)
        state.set_port(conn, project.path, port)


def assign_port(conn: sqlite3.Connection, project: ProjectPath,
                requested: ports.PortChoice | None, avoid: set[int],
                configured_range: tuple[int, int] | None = None) -> ports.PortChoice:
    """Choose and record the project's port; serialised across devenv processes."""
    rng = ports.port_range(configured=configured_range)
    with locked("ports", timeout=60, what="choosing an SSH port"), state.transaction(conn):
        mine = state.project_by_path(conn, project.path)
        remembered = mine.port if mine else None
        reserved = state.used_ports(conn) - ({remembered} if remembered else set())
        choice = ports.choose(requested=requested, remembered=remembered, reserved=reserved,
                              avoid=avoid, rng=rng)
        state.set_port(conn, project.path, choice.port)
    return choice


def prepare_mounts(project: Project) -> tuple[str, str]:
    """Write the per-environment files the container mounts; return (keys dir, status log).

    ``keys`` (mounted read-only) holds the host key and devenv's client public key; the
    container user copies them with the modes sshd insists on. The status log is the one
    thing of the host's the container may write: a single file, made anew at every start,
    where its start-up errors land, so they can be reported even after ``--rm`` removed a
    container that died. The directory around it is devenv's own (never mounted), so nothing
    the container does can plant a link that devenv would follow (docs/security.md). When
    devenv runs as root the container user is another (images.default.container_ids), so
    the files are handed to it.
    """
    base = env_dir(project.name)
    keys_dir = ensure_private_dir(base / "keys")
    atomic_write(keys_dir / "ssh_host_ed25519_key", project.host_key, 0o600)
    atomic_write(keys_dir / "authorized_keys", keys.client_public_key() + "\n", 0o600)
    status_dir = base / "status"
    # Earlier versions mounted this directory writable: whatever is in it goes, unfollowed.
    if status_dir.is_symlink() or status_dir.is_file():
        status_dir.unlink()
    elif status_dir.exists():
        shutil.rmtree(status_dir)
    ensure_private_dir(status_dir)
    log = status_dir / STATUS_LOG
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                 0o600)
    try:
        if os.getuid() == 0:
            uid, gid = container_ids(project.path)
            os.fchown(fd, uid, gid)
            for path in (keys_dir, *keys_dir.iterdir()):
                os.chown(path, uid, gid, follow_symlinks=False)
    finally:
        os.close(fd)
    return str(keys_dir), str(log)


def refresh_files(conn: sqlite3.Connection, *, stopped: list[str] | None = None) -> str:
    """Regenerate the files derived from state; return the ssh_config path.

    devenv's ssh_config and known_hosts list every known project; the exec fast path's index
    (see :mod:`devenv.envs.index`) lists only the environments running right now, under this
    installation's instance id. Everything is read inside the lock, so a slower writer can
    never replace newer files with an older view. ``stopped``: the caller only stopped
    these, so the index keeps what it listed but them (no ``docker ps``).
    """
    with locked("derived-files", timeout=60, what="writing ssh_config and the index"):
        projects = state.all_projects(conn)
        instance = state.instance_id(conn)
        running = index.listed(instance) if stopped is not None else None
        if running is not None:
            for name in stopped or ():
                running.pop(name, None)
        else:
            try:
                running = docker.running_labels({identity.LABEL_INSTANCE: instance},
                                                identity.LABEL_NAME, drift.LABEL_STAMP)
            except DevenvError:
                running = {}  # an empty index is always safe: attach/exec take the full path
        lines = [f"{index.INDEX_HEADER}{instance}\n",
                 f"{index.CONTROL_HEADER}{ssh_config.control_dir()}\n"]
        lines += [f"{index.PROJECT_HEADER}{p.path}\n" for p in projects]
        lines += [f"{p.path}\t{p.name}\t{p.port}\t{running[p.name][0]}\t{running[p.name][1]}\n"
                  for p in projects if p.port is not None and p.name in running]
        atomic_write(Path(paths.index_file()), "".join(lines), 0o644)
        entries = [ssh_config.HostEntry(container_name(p.name), p.port, USER_NAME, p.host_pub)
                   for p in projects if p.port is not None]
        path = ssh_config.write(entries, keys.client_key())
        events.environments_changed(
            [events.KnownEnv(p.name, p.port, USER_NAME, tuple(p.tools.split()), p.host_pub)
             for p in projects if p.port is not None], keys.client_key())
        return str(path)

