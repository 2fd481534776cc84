"""Which project owns which environment name, port and host key (devenv's state), and the
files derived from it: the per-environment key directory and devenv's ssh_config."""

from __future__ import annotations

import os
import shutil
import sqlite3
from pathlib import Path

from devenv import paths, state
from devenv.envs import ports
from devenv.envs.identity import ProjectPath, container_name
from devenv.errors import ConflictError
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


def claim(conn: sqlite3.Connection, project: ProjectPath, name: str) -> Project | None:
    """Register ``project`` under ``name``; return its previous row (``None`` if new).

    A name held by another project whose directory still exists is a collision. A name
    held by a project whose directory is gone (moved or deleted) is taken over, with its
    port and host key.
    """
    with state.transaction(conn):
        mine = state.project_by_path(conn, project.path)
        holder = state.project_by_name(conn, name)
        if holder is not None and holder.path != project.path:
            if os.path.isdir(holder.path):
                raise collision(name, project.path, holder.path)
            if mine is None:
                state.set_path(conn, name, project.path)
                return None
            state.remove_project(conn, holder.path)
        if mine is None:
            private, public = keys.generate(f"devenv-{name}")
            state.add_project(conn, Project(project.path, name, None, private, public))
        elif mine.name != name:
            state.set_name(conn, project.path, name)
        return mine


def release(conn: sqlite3.Connection, project: ProjectPath, previous: Project | None) -> None:
    """Undo :func:`claim` and any port change after a failed start: nothing half-created."""
    with state.transaction(conn):
        current = state.project_by_path(conn, project.path)
        if previous is None:
            state.remove_project(conn, project.path)
            if current is not None:
                shutil.rmtree(env_dir(current.name), ignore_errors=True)
        elif current is not None:
            state.set_port(conn, project.path, None)
            state.set_name(conn, project.path, previous.name)
            if state.project_by_port(conn, previous.port or -1) is None:
                state.set_port(conn, project.path, previous.port)
    refresh_files(conn)


def assign_port(conn: sqlite3.Connection, project: ProjectPath,
                requested: ports.PortChoice | None, avoid: set[int]) -> ports.PortChoice:
    """Choose and record the project's port; serialised across devenv processes."""
    rng = ports.port_range()
    with locked("ports", timeout=60, what="choosing an SSH port"), state.transaction(conn):
        mine = state.project_by_path(conn, project.path)
        remembered = mine.port if mine else None
        reserved = state.used_ports(conn) - ({remembered} if remembered else set())
        choice = ports.choose(requested=requested, remembered=remembered, reserved=reserved,
                              avoid=avoid, rng=rng)
        state.set_port(conn, project.path, choice.port)
    return choice


def prepare_mounts(project: Project) -> tuple[str, str]:
    """Write the per-environment directories the container mounts; return (keys, status).

    ``keys`` (mounted read-only) holds the host key and devenv's client public key; the
    container user copies them with the modes sshd insists on. ``status`` (writable, and
    emptied here at every start) receives the container's start-up errors, so they can be
    reported even after ``--rm`` removed a container that died. When devenv runs as root the
    container user is UID 1000, so both are handed to that UID.
    """
    base = env_dir(project.name)
    keys_dir = ensure_private_dir(base / "keys")
    status_dir = ensure_private_dir(base / "status")
    atomic_write(keys_dir / "ssh_host_ed25519_key", project.host_key, 0o600)
    atomic_write(keys_dir / "authorized_keys", keys.client_public_key() + "\n", 0o600)
    atomic_write(status_dir / STATUS_LOG, "", 0o600)
    if os.getuid() == 0:
        uid, gid = container_ids()
        for path in (keys_dir, *keys_dir.iterdir(), status_dir, *status_dir.iterdir()):
            os.chown(path, uid, gid)
    return str(keys_dir), str(status_dir)


def refresh_files(conn: sqlite3.Connection) -> str:
    """Regenerate the files derived from state: devenv's ssh_config and known_hosts, and the
    exec fast path's index (see :mod:`devenv.envs.fast`). Returns the ssh_config path."""
    projects = state.all_projects(conn)
    entries = [ssh_config.HostEntry(container_name(p.name), p.port, USER_NAME, p.host_pub)
               for p in projects if p.port is not None]
    index = "".join(f"{p.path}\t{p.name}\t{p.port}\n" for p in projects if p.port is not None)
    with locked("index", timeout=30, what="writing the project index"):
        atomic_write(Path(paths.index_file()), index, 0o644)
    return str(ssh_config.write(entries, keys.client_key()))
