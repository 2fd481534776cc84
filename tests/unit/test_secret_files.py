"""Files holding secrets (the state database with every host key, its -wal and -shm, the
client key, atomic writes) are 0600 from creation, whatever the umask."""

from __future__ import annotations

import errno
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from devenv import paths, state
from devenv.lockfile import atomic_write
from devenv.ssh import keys

PROJECT = state.Project("/p/a", "a", 23001, "PRIVATE HOST KEY", "ssh-ed25519 PUB")

def mode(path: Path) -> int:
    return os.lstat(path).st_mode & 0o777


@pytest.fixture(params=[0o000, 0o022, 0o077])
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    old = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(old)


def test_state_db_wal_and_shm_are_0600(umask: int, devenv_home: Path) -> None:
    conn = state.connect()
    try:
        with state.transaction(conn):  # a start-like write: a project and its host key
            state.add_project(conn, PROJECT)
        db = paths.db_path()
        assert {p.name: mode(p) for p in db.parent.glob("state.db*")} == {
            "state.db": 0o600, "state.db-wal": 0o600, "state.db-shm": 0o600}
        assert mode(db.parent) == 0o700
        assert mode(devenv_home) == 0o700  # created by devenv: private too
    finally:
        conn.close()


def test_an_existing_open_database_is_closed(devenv_home: Path) -> None:
    conn = state.connect()
    with state.transaction(conn):
        state.add_project(conn, PROJECT)
    db = paths.db_path()
    # As an older devenv left them (0644), -wal and -shm included.
    for name in ("state.db", "state.db-wal", "state.db-shm"):
        os.chmod(db.parent / name, 0o644)
    other = state.connect()
    try:
        assert {p.name: mode(p) for p in db.parent.glob("state.db*")} == {
            "state.db": 0o600, "state.db-wal": 0o600, "state.db-shm": 0o600}
        assert state.project_by_name(other, "a") is not None
    finally:
        other.close()
        conn.close()


def test_a_linked_database_is_not_followed(devenv_home: Path, tmp_path: Path) -> None:
    paths.private_dir(paths.state_dir())
    elsewhere = tmp_path / "elsewhere.db"
    elsewhere.write_text("")
    elsewhere.chmod(0o644)
    paths.db_path().symlink_to(elsewhere)
    with pytest.raises(OSError) as info:  # the link is refused, not followed
        state.connect()
    assert info.value.errno == errno.ELOOP
    assert mode(elsewhere) == 0o644


@pytest.mark.skipif(shutil.which("ssh-keygen") is None, reason="needs ssh-keygen")
def test_client_key_is_0600_in_a_0700_dir(umask: int, devenv_home: Path) -> None:
    key = keys.client_key()
    assert mode(key) == 0o600
    assert mode(key.with_suffix(".pub")) == 0o644
    assert mode(key.parent) == 0o700
    assert key.read_text().startswith("-----BEGIN OPENSSH PRIVATE KEY-----")


def test_atomic_write_has_the_mode_whatever_the_umask(umask: int, tmp_path: Path) -> None:
    target = tmp_path / "f"
    atomic_write(target, "secret", 0o600)
    assert mode(target) == 0o600
    atomic_write(target, "public", 0o644)  # not narrowed by the umask either
    assert mode(target) == 0o644
    assert [p.name for p in tmp_path.iterdir()] == ["f"]


def test_atomic_write_never_writes_through_a_stale_temp_file(tmp_path: Path) -> None:
    target = tmp_path / "key"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.write_text("untouched")
    elsewhere.chmod(0o644)
    tmp = tmp_path / f".key.{os.getpid()}.tmp"
    tmp.symlink_to(elsewhere)  # left behind (or planted) where the temp file goes
    atomic_write(target, "secret", 0o600)
    assert target.read_text() == "secret" and mode(target) == 0o600
    assert not target.is_symlink()
    assert elsewhere.read_text() == "untouched" and mode(elsewhere) == 0o644
    assert not tmp.exists() and not tmp.is_symlink()
