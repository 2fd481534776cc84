"""devenv's state: one sqlite database (WAL, ``BEGIN IMMEDIATE``, ``user_version`` migrations).

It remembers every project devenv has started: its path, its environment name, its SSH port
and its SSH host key, so that ports and host keys survive stop/start and rebuilds.
"""

from __future__ import annotations

import os
import secrets
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from devenv import deadline
from devenv.errors import DevenvError
from devenv.paths import db_path, private_dir

BUSY_TIMEOUT = 30.0  # seconds another devenv may hold the database before we give up

# Migrations 6 and 7 both make it (a development build numbered them the other way).
_WORKSPACES_TABLE = """
    CREATE TABLE IF NOT EXISTS workspaces (
        project  TEXT NOT NULL,
        name     TEXT NOT NULL,
        target   TEXT NOT NULL,
        branch   TEXT NOT NULL,
        base     TEXT NOT NULL,
        created  REAL NOT NULL,
        deleted  REAL,
        PRIMARY KEY (project, name)
    )
"""

_MIGRATIONS = [
    # 1: projects and the instance id that labels this devenv's containers.
    """
    CREATE TABLE projects (
        path      TEXT PRIMARY KEY,
        name      TEXT NOT NULL UNIQUE,
        port      INTEGER UNIQUE,
        host_key  TEXT NOT NULL,
        host_pub  TEXT NOT NULL,
        created   REAL NOT NULL
    );
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    """,
    # 2: the tools of the environment's last start (space-separated), so integrations know
    # what the built image has without reading every project's config.
    """
    ALTER TABLE projects ADD COLUMN tools TEXT NOT NULL DEFAULT ''
    """,
    # 3: SSH targets' health, shared by every devenv process (the connection pool's backoff
    # must hold across processes: a dead host is probed a few times a minute, not per caller).
    """
    CREATE TABLE ssh_health (
        key           TEXT PRIMARY KEY,
        status        TEXT NOT NULL,
        last_success  REAL,
        last_failure  REAL,
        last_error    TEXT NOT NULL DEFAULT '',
        failures      INTEGER NOT NULL DEFAULT 0,
        backoff_until REAL NOT NULL DEFAULT 0,
        attempts      INTEGER NOT NULL DEFAULT 0
    )
    """,
    # 4: the health records moved to the runtime library's own store (files; see
    # devenv.ssh.health), so the library needs no database of devenv's.
    """
    DROP TABLE ssh_health
    """,
    # 5: the user's answer to "give the container user write access with ACLs?" per project
    # (devenv as root, a root-owned project: devenv.envs.grant), and the UID it was for.
    """
    CREATE TABLE write_grants (
        path     TEXT PRIMARY KEY,
        uid      INTEGER NOT NULL,
        granted  INTEGER NOT NULL,
        decided  REAL NOT NULL
    )
    """,
    # 6: workspaces (devenv.workspaces): where each is, its branch and the commit it started
    # from, as devenv made them (the target's own files are the agent's to change); a deleted
    # one is kept (deleted = when) so that restoring it goes back where it was.
    _WORKSPACES_TABLE,
    # 7: projects whose .devenv/init hook the user trusts, bound to the hook's content
    # (devenv.workspaces.trust): its sha256, or a marker for "trusted without a hook".
    _WORKSPACES_TABLE + """;
    CREATE TABLE IF NOT EXISTS trust (
        path         TEXT PRIMARY KEY,
        hook_sha256  TEXT NOT NULL,
        trusted      REAL NOT NULL
    )
    """,
]


@dataclass(frozen=True)
class Project:
    """A project devenv knows: where it is, its name, port and pinned host key."""

    path: str
    name: str
    port: int | None
    host_key: str
    host_pub: str
    tools: str = ""  # space-separated: the tools of the last start


def connect() -> sqlite3.Connection:
    """Open the database, creating or migrating it as needed.

    It holds every environment's private host key: the file is made 0600 before sqlite
    opens it, whatever the umask (sqlite gives its ``-wal`` and ``-shm`` files the
    database's mode), and files left more open by an older devenv are closed here."""
    path = db_path()
    private_dir(path.parent)
    for suffix in ("", "-wal", "-shm"):
        _private_file(f"{path}{suffix}", create=not suffix)
    # Another devenv may hold the database: wait up to BUSY_TIMEOUT, or less when the
    # call has a deadline (exec --timeout).
    busy = deadline.bound(BUSY_TIMEOUT)
    conn = sqlite3.connect(path, timeout=busy, isolation_level=None)
    conn.execute(f"PRAGMA busy_timeout = {int(busy * 1000)}")
    with _busy_is_an_error():
        (version,) = conn.execute("PRAGMA user_version").fetchone()
        if version < len(_MIGRATIONS):
            _migrate(conn)
    return conn


class StateBusy(DevenvError):
    """Another process held the state database for longer than devenv waits."""


@contextmanager
def _busy_is_an_error() -> Iterator[None]:
    try:
        yield
    except sqlite3.OperationalError as e:
        if "locked" not in str(e) and "busy" not in str(e):
            raise
        raise StateBusy(f"devenv's state database is locked: another devenv held it for "
                        f"longer than devenv waits ({BUSY_TIMEOUT:g} s at most)",
                        "wait for the other devenv to finish, then try again") from None


def _private_file(path: str, *, create: bool) -> None:
    """Make ``path`` 0600 (creating it empty with ``create``), through a descriptor: no
    link is followed. A missing file without ``create`` is left alone, and so is one that
    is not ours (only root could have put it in our private directory)."""
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | (os.O_CREAT if create else 0)
    try:
        fd = os.open(path, flags, 0o600)
    except FileNotFoundError:
        return
    try:
        st = os.fstat(fd)
        if st.st_mode & 0o777 != 0o600 and st.st_uid == os.getuid():
            os.fchmod(fd, 0o600)
    finally:
        os.close(fd)


def _migrate(conn: sqlite3.Connection) -> None:
    # WAL must be set outside a transaction; it persists in the file.
    conn.execute("PRAGMA journal_mode = WAL")
    with transaction(conn):
        # Re-check under the write lock: a parallel devenv may have migrated already.
        (version,) = conn.execute("PRAGMA user_version").fetchone()
        for number, script in enumerate(_MIGRATIONS[version:], start=version + 1):
            for statement in script.split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {number}")
        conn.execute(
            "INSERT OR IGNORE INTO meta(key, value) VALUES ('instance', ?)",
            (secrets.token_hex(6),),
        )


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """A write transaction taken up front (``BEGIN IMMEDIATE``): no upgrade deadlocks."""
    with _busy_is_an_error():
        conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def instance_id(conn: sqlite3.Connection) -> str:
    """The id of this devenv installation; its containers carry it as a label."""
    row = conn.execute("SELECT value FROM meta WHERE key = 'instance'").fetchone()
    return str(row[0])


# A constant column list and constant WHERE clauses, never user input (hence the S608 waivers).
_COLUMNS = "path, name, port, host_key, host_pub, tools"


def _select(conn: sqlite3.Connection, where: str, args: tuple[object, ...]) -> list[Project]:
    sql = f"SELECT {_COLUMNS} FROM projects {where}"  # noqa: S608
    return [Project(*row) for row in conn.execute(sql, args).fetchall()]


def project_by_path(conn: sqlite3.Connection, path: str) -> Project | None:
    return next(iter(_select(conn, "WHERE path = ?", (path,))), None)


def project_by_name(conn: sqlite3.Connection, name: str) -> Project | None:
    return next(iter(_select(conn, "WHERE name = ?", (name,))), None)


def project_by_port(conn: sqlite3.Connection, port: int) -> Project | None:
    return next(iter(_select(conn, "WHERE port = ?", (port,))), None)


def all_projects(conn: sqlite3.Connection) -> list[Project]:
    return _select(conn, "ORDER BY name", ())


def used_ports(conn: sqlite3.Connection) -> set[int]:
    return {row[0] for row in conn.execute("SELECT port FROM projects WHERE port IS NOT NULL")}


def add_project(conn: sqlite3.Connection, project: Project) -> None:
    conn.execute(
        f"INSERT INTO projects({_COLUMNS}, created) VALUES (?, ?, ?, ?, ?, ?, ?)",  # noqa: S608
        (project.path, project.name, project.port, project.host_key, project.host_pub,
         project.tools, time.time()),
    )


def set_name(conn: sqlite3.Connection, path: str, name: str) -> None:
    conn.execute("UPDATE projects SET name = ? WHERE path = ?", (name, path))


def set_path(conn: sqlite3.Connection, name: str, path: str) -> None:
    conn.execute("UPDATE projects SET path = ? WHERE name = ?", (path, name))


def set_port(conn: sqlite3.Connection, path: str, port: int | None) -> None:
    conn.execute("UPDATE projects SET port = ? WHERE path = ?", (port, path))


def set_tools(conn: sqlite3.Connection, path: str, tools: list[str]) -> None:
    conn.execute("UPDATE projects SET tools = ? WHERE path = ?", (" ".join(tools), path))


def remove_project(conn: sqlite3.Connection, path: str) -> None:
    conn.execute("DELETE FROM projects WHERE path = ?", (path,))


@dataclass(frozen=True)
class WriteGrant:
    """The user's answer about ACL write access for a project's container user."""

    path: str
    uid: int
    granted: bool


def write_grant(conn: sqlite3.Connection, path: str) -> WriteGrant | None:
    row = conn.execute("SELECT path, uid, granted FROM write_grants WHERE path = ?",
                       (path,)).fetchone()
    return None if row is None else WriteGrant(str(row[0]), int(row[1]), bool(row[2]))


def set_write_grant(conn: sqlite3.Connection, grant: WriteGrant) -> None:
    conn.execute("INSERT OR REPLACE INTO write_grants(path, uid, granted, decided) "
                 "VALUES (?, ?, ?, ?)", (grant.path, grant.uid, int(grant.granted), time.time()))


def forget_write_grant(conn: sqlite3.Connection, path: str) -> None:
    conn.execute("DELETE FROM write_grants WHERE path = ?", (path,))


@dataclass(frozen=True)
class Workspace:
    """A workspace devenv made: its project, name, target (``env``, ``local`` or an SSH
    ``[user@]host[:port]``), branch (``""``: none) and the commit it started from."""

    project: str
    name: str
    target: str
    branch: str
    base: str
    created: float = 0.0


def workspaces(conn: sqlite3.Connection, project: str, *, deleted: bool = False
               ) -> list[Workspace]:
    """The project's workspaces (``deleted``: the deleted ones instead)."""
    rows = conn.execute("SELECT project, name, target, branch, base, created FROM workspaces "
                        "WHERE project = ? AND (deleted IS NOT NULL) = ? ORDER BY name",
                        (project, deleted)).fetchall()
    return [Workspace(str(r[0]), str(r[1]), str(r[2]), str(r[3]), str(r[4]), float(r[5]))
            for r in rows]


def workspace(conn: sqlite3.Connection, project: str, name: str, *, deleted: bool = False
              ) -> Workspace | None:
    return next((w for w in workspaces(conn, project, deleted=deleted) if w.name == name),
                None)


def add_workspace(conn: sqlite3.Connection, ws: Workspace) -> None:
    conn.execute("INSERT OR REPLACE INTO workspaces(project, name, target, branch, base, "
                 "created, deleted) VALUES (?, ?, ?, ?, ?, ?, NULL)",
                 (ws.project, ws.name, ws.target, ws.branch, ws.base, ws.created or time.time()))


def remove_workspace(conn: sqlite3.Connection, project: str, name: str) -> None:
    """Mark it deleted (its target and branch are remembered for a restore)."""
    conn.execute("UPDATE workspaces SET deleted = ? WHERE project = ? AND name = ?",
                 (time.time(), project, name))


def workspace_projects(conn: sqlite3.Connection) -> list[str]:
    """Every project that has or had workspaces (and so may hold snapshots)."""
    return [str(r[0]) for r in conn.execute(
        "SELECT DISTINCT project FROM workspaces ORDER BY project").fetchall()]


@dataclass(frozen=True)
class TrustRecord:
    """A project the user trusted for the init hook content whose sha256 is
    ``hook_sha256`` (or the marker of "no hook"), at ``trusted`` (epoch seconds)."""

    path: str
    hook_sha256: str
    trusted: float


def trust_record(conn: sqlite3.Connection, path: str) -> TrustRecord | None:
    row = conn.execute("SELECT path, hook_sha256, trusted FROM trust WHERE path = ?",
                       (path,)).fetchone()
    return None if row is None else TrustRecord(str(row[0]), str(row[1]), float(row[2]))


def all_trust_records(conn: sqlite3.Connection) -> list[TrustRecord]:
    rows = conn.execute("SELECT path, hook_sha256, trusted FROM trust ORDER BY path")
    return [TrustRecord(str(p), str(h), float(t)) for p, h, t in rows.fetchall()]


def set_trust(conn: sqlite3.Connection, path: str, hook_sha256: str) -> None:
    conn.execute("INSERT OR REPLACE INTO trust(path, hook_sha256, trusted) VALUES (?, ?, ?)",
                 (path, hook_sha256, time.time()))


def forget_trust(conn: sqlite3.Connection, path: str) -> bool:
    """Remove ``path``'s record; whether there was one."""
    return conn.execute("DELETE FROM trust WHERE path = ?", (path,)).rowcount > 0
