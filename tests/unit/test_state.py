from __future__ import annotations

import multiprocessing
import os
from pathlib import Path

from devenv import state
from devenv.state import Project


def _project(i: int, port: int | None = None) -> Project:
    return Project(f"/p/{i}", f"n{i}", port, "PRIVATE", "ssh-ed25519 AAAA c")


def test_migrate_creates_schema_and_instance(devenv_home: Path) -> None:
    conn = state.connect()
    assert conn.execute("PRAGMA user_version").fetchone()[0] == len(state._MIGRATIONS)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    instance = state.instance_id(conn)
    conn.close()
    conn = state.connect()  # reopening keeps the instance id
    assert state.instance_id(conn) == instance
    assert oct(os.stat(devenv_home / "state").st_mode & 0o777) == "0o700"


def test_crud() -> None:
    conn = state.connect()
    with state.transaction(conn):
        state.add_project(conn, _project(1, 23000))
        state.add_project(conn, _project(2))
    assert state.project_by_path(conn, "/p/1") == _project(1, 23000)
    assert state.project_by_name(conn, "n2") == _project(2)
    assert state.project_by_port(conn, 23000) == _project(1, 23000)
    assert state.used_ports(conn) == {23000}
    with state.transaction(conn):
        state.set_port(conn, "/p/2", 23001)
        state.set_name(conn, "/p/2", "renamed")
        state.set_path(conn, "renamed", "/p/moved")
        state.set_tools(conn, "/p/moved", ["node", "claude-code"])
    assert state.project_by_path(conn, "/p/moved") == Project(
        "/p/moved", "renamed", 23001, "PRIVATE", "ssh-ed25519 AAAA c", "node claude-code")
    with state.transaction(conn):
        state.remove_project(conn, "/p/1")
    assert [p.name for p in state.all_projects(conn)] == ["renamed"]


def test_failed_transaction_rolls_back() -> None:
    conn = state.connect()
    try:
        with state.transaction(conn):
            state.add_project(conn, _project(1))
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    assert state.all_projects(conn) == []


def _worker(home: str, i: int) -> None:
    os.environ["DEVENV_HOME"] = home
    conn = state.connect()
    for j in range(20):
        with state.transaction(conn):
            port = max(state.used_ports(conn), default=30000) + 1
            state.add_project(conn, _project(i * 100 + j, port))


def test_parallel_writers_never_lose_or_duplicate(devenv_home: Path) -> None:
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_worker, args=(str(devenv_home), i)) for i in range(6)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    conn = state.connect()
    rows = state.all_projects(conn)
    assert len(rows) == 120
    assert len({r.port for r in rows}) == 120


def test_migration_from_version_1_keeps_projects(devenv_home: Path) -> None:
    import sqlite3

    from devenv.paths import db_path, ensure_private_dir

    ensure_private_dir(db_path().parent)
    old = sqlite3.connect(db_path(), isolation_level=None)
    old.executescript(state._MIGRATIONS[0])
    old.execute("INSERT INTO projects VALUES ('/p/a', 'a', 23005, 'K', 'P', 0)")
    old.execute("INSERT INTO meta VALUES ('instance', 'abc')")
    old.execute("PRAGMA user_version = 1")
    old.close()
    conn = state.connect()
    assert state.project_by_name(conn, "a") == Project("/p/a", "a", 23005, "K", "P", "")
    assert state.instance_id(conn) == "abc"
