"""The write grant's ACL walk on real files, with the real getfacl/setfacl as the oracle:
planted links to host directories and files, a fifo, hostile names, a directory swapped for
a link while the walk runs. Outside targets must stay byte-for-byte and ACL-unchanged."""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import subprocess
from pathlib import Path

import pytest

from devenv.envs import acl, acltree

UID = 1000

pytestmark = pytest.mark.skipif(shutil.which("getfacl") is None or shutil.which("setfacl")
                                is None, reason="getfacl/setfacl (package acl) not installed")


def getfacl(*paths: Path) -> str:
    return subprocess.run(["getfacl", "-R", "-p", "-n", "--absolute-names", *map(str, paths)],
                          capture_output=True, check=True, timeout=60).stdout.decode(
                              errors="surrogateescape")


def entries(path: Path) -> list[str]:
    out = subprocess.run(["getfacl", "-p", "-n", "-c", "-E", str(path)], capture_output=True,
                         check=True, timeout=30).stdout.decode(errors="surrogateescape")
    return [line for line in out.splitlines() if line]


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    host = tmp_path / "host"
    (host / "etc").mkdir(parents=True)
    (host / "etc" / "passwd").write_text("root:x:0:0\n")
    (host / "secret").write_text("do not touch\n")
    os.chmod(host / "secret", 0o600)
    return host


@pytest.fixture
def project(tmp_path: Path, outside: Path) -> Path:
    root = tmp_path / "project"
    (root / "src" / "deep").mkdir(parents=True)
    (root / "src" / "main.py").write_text("print()\n")
    (root / "run.sh").write_text("#!/bin/sh\n")
    os.chmod(root / "run.sh", 0o700)
    (root / "src" / "deep" / "data").write_bytes(b"x")
    os.chmod(root / "src" / "deep" / "data", 0o640)
    # Hostile names: a newline, bytes that are no UTF-8, a leading dash.
    (root / "new\nline").mkdir()
    (root / "new\nline" / "f").write_text("1")
    os.mkdir(os.path.join(os.fsencode(root), b"bad-\xff\xfe"))
    with open(os.path.join(os.fsencode(root), b"bad-\xff\xfe", b"\xe9t\xe9"), "w") as f:
        f.write("2")
    (root / "-rf").write_text("3")
    # Planted links to host places, a fifo and a socket.
    (root / "etc-link").symlink_to(outside / "etc")
    (root / "secret-link").symlink_to(outside / "secret")
    (root / "src" / "up").symlink_to("../..")
    os.mkfifo(root / "fifo")
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(root / "sock"))
    sock.close()
    return root


def test_grant_then_revoke_leaves_every_acl_as_it_was(project: Path, outside: Path) -> None:
    before, outside_before = getfacl(project), getfacl(outside)
    secret = digest(outside / "secret")
    counts = acltree.walk(str(project), UID, acl.grant)
    # project, src, src/deep, "new\nline", bad-..: 5 directories; main.py, run.sh, data, f,
    # été, -rf: 6 files. The links, the fifo and the socket are skipped.
    assert (counts.dirs, counts.files, counts.failed) == (5, 6, 0), counts
    assert "user:1000:rwx" in entries(project / "src")
    assert "default:user:1000:rwx" in entries(project / "src")
    assert "user:1000:rw-" in entries(project / "src" / "main.py")
    assert "user:1000:rwx" in entries(project / "run.sh")  # X: it was executable
    assert "user:1000:rw-" in entries(project / "new\nline" / "f")
    assert "user:1000:rw-" in entries(project / "-rf")
    assert getfacl(outside) == outside_before
    assert digest(outside / "secret") == secret
    assert "1000" not in entries(project / "fifo")
    again = acltree.walk(str(project), UID, acl.grant)
    assert again.changed == 0  # idempotent
    undone = acltree.walk(str(project), UID, acl.revoke)
    assert (undone.dirs, undone.files) == (5, 6)
    assert getfacl(project) == before
    assert getfacl(outside) == outside_before
    assert digest(outside / "secret") == secret


def test_files_the_host_makes_later_are_writable_for_the_user(project: Path) -> None:
    acltree.walk(str(project), UID, acl.grant)
    subprocess.run(["sh", "-c", "umask 077; echo new > src/deep/f; mkdir -p a/b; echo x > a/b/g;"
                    " sed -i s/print/pass/ src/main.py"], cwd=project, check=True, timeout=30)
    for path in ("src/deep/f", "a/b/g", "src/main.py"):
        lines = entries(project / path)
        assert any(line.startswith("user:1000:rw") and "#effective:r--" not in line
                   for line in lines), (path, lines)
        # The mask lets the named entry write.
        assert any(line.startswith("mask::rw") for line in lines), (path, lines)
    assert "default:user:1000:rwx" in entries(project / "a" / "b")
    # Revoked, a file made under the default ACL keeps what its group could do then (the
    # directory's group entry was limited by the mask): never more.
    acltree.walk(str(project), UID, acl.revoke)
    for path in ("src/deep/f", "a/b/g", "src/main.py"):
        assert "1000" not in "".join(entries(project / path))
        assert (project / path).stat().st_mode & 0o777 == 0o644, path
    assert "1000" not in getfacl(project).replace("owner: 1000", "")


def test_existing_acls_of_other_users_stay(project: Path) -> None:
    subprocess.run(["setfacl", "-m", "u:500:r-x,g:600:r--", str(project / "src")], check=True)
    subprocess.run(["setfacl", "-d", "-m", "u:501:rwx", str(project / "src")], check=True)
    subprocess.run(["setfacl", "-m", "u:502:r--", str(project / "src" / "main.py")], check=True)
    before = getfacl(project)
    acltree.walk(str(project), UID, acl.grant)
    assert "user:500:r-x" in entries(project / "src")
    assert "default:user:501:rwx" in entries(project / "src")
    acltree.walk(str(project), UID, acl.revoke)
    assert getfacl(project) == before


def test_a_directory_swapped_for_a_link_during_the_walk_is_not_followed(
        project: Path, outside: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    outside_before = getfacl(outside)
    real_list = acltree._list
    swapped: list[bool] = []

    def racing(fd: int) -> list[str]:
        names = real_list(fd)
        if not swapped:  # the top directory: listed, then "src" becomes a link to /etc
            (project / "src").rename(project / "src.old")
            (project / "src").symlink_to(outside / "etc")
            swapped.append(True)
        return names

    monkeypatch.setattr(acltree, "_list", racing)
    for edit in (acl.grant, acl.revoke):
        acltree.walk(str(project), UID, edit)
        assert getfacl(outside) == outside_before


def test_other_file_systems_are_not_entered(project: Path) -> None:
    # /dev/shm is a tmpfs here; a bind mount would need privileges, a link is skipped anyway.
    real_fstat = os.fstat

    def other_device(fd: int) -> os.stat_result:
        st = real_fstat(fd)
        if os.path.basename(os.readlink(f"/proc/self/fd/{fd}")) == "deep":
            values = list(st)
            values[2] = st.st_dev + 1  # st_dev
            return os.stat_result(values)
        return st

    with pytest.MonkeyPatch.context() as m:
        m.setattr(acltree.os, "fstat", other_device)
        counts = acltree.walk(str(project), UID, acl.grant)
    assert "1000" not in "".join(entries(project / "src" / "deep"))
    assert "1000" not in "".join(entries(project / "src" / "deep" / "data"))
    assert counts.dirs == 4


def test_a_file_system_without_acls_is_refused_before_anything_changes() -> None:
    with pytest.raises(acltree.Unsupported) as caught:
        acltree.walk("/proc/self/fdinfo", UID, acl.grant)
    assert "does not support POSIX ACLs" in caught.value.message
    assert "chown" in (caught.value.hint or "")


def test_the_xattr_format_matches_setfacl(tmp_path: Path) -> None:
    f = tmp_path / "f"
    f.write_text("")
    subprocess.run(["setfacl", "-m", "u:1000:rw-,u:7:r--,g:9:-w-", str(f)], check=True)
    fd = os.open(f, os.O_RDONLY)
    try:
        raw = os.getxattr(fd, acl.ACCESS)
        parsed = acl.parse(raw)
        assert acl.encode(parsed) == raw
        assert (acl.USER, 6, 1000) in parsed and (acl.MASK, 6, acl.UNDEFINED_ID) in parsed
        assert acl.encode(acl.with_user(acl.without_user(parsed, 1000), 1000, 6)) == raw
    finally:
        os.close(fd)
    with pytest.raises(ValueError):
        acl.parse(b"\x01\x00\x00\x00")


def test_depth_is_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(acltree, "MAX_DEPTH", 3)
    deep = tmp_path / "p" / "a" / "b" / "c" / "d" / "e"
    deep.mkdir(parents=True)
    counts = acltree.walk(str(tmp_path / "p"), UID, acl.grant)
    assert counts.dirs == 5  # p, a, b, c (depth 3) and d: d is changed but not entered
    assert "1000" not in "".join(entries(deep))
    acltree.walk(str(tmp_path / "p"), UID, acl.revoke)


def test_work_is_bounded(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(acltree, "MAX_ENTRIES", 3)
    with pytest.raises(acltree.TooBig):
        acltree.walk(str(project), UID, acl.grant)


def test_grant_write_is_for_the_user_file_only(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    from devenv import config
    from devenv.errors import ConfigError

    project = tmp_path / "repo"
    (project / ".devenv").mkdir(parents=True)
    (project / ".devenv" / "devenv.toml").write_text("grant_write = true\n")
    with pytest.raises(ConfigError) as caught:
        config.load(str(project))
    assert "grant_write: belongs in the user file" in caught.value.message
    (project / ".devenv" / "devenv.toml").write_text("")
    config.user_file().parent.mkdir(parents=True, exist_ok=True)
    config.user_file().write_text("grant_write = true\n")
    assert config.load(str(project)).grant_write is True


@pytest.mark.skipif(os.getuid() != 0, reason="the grant is devenv's as root")
def test_consent_is_remembered_and_a_gone_project_revokes_quietly(
        project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from devenv import state
    from devenv.envs import grant
    from devenv.envs.identity import ProjectPath

    where = ProjectPath(str(project))
    before = getfacl(project)
    grant.decide(where, flag=False, configured=False)  # no terminal, no consent: a note
    assert "--grant-write" in capsys.readouterr().err and getfacl(project) == before
    conn = state.connect()
    assert state.write_grant(conn, str(project)) is None  # nothing was answered
    grant.decide(where, flag=True, configured=False)
    assert "u:1000:rwX added on 5 directories" in capsys.readouterr().err
    assert state.write_grant(conn, str(project)) == state.WriteGrant(str(project), 1000, True)
    grant.decide(where, flag=False, configured=False)  # a later start: nothing new to say
    assert capsys.readouterr().err == ""
    assert "write access revoked" in (grant.revoke(str(project)) or "")
    assert getfacl(project) == before and state.write_grant(conn, str(project)) is None
    state.set_write_grant(conn, state.WriteGrant(str(project / "gone"), 1000, True))
    assert grant.revoke(str(project / "gone"), force=True) is None
    assert state.write_grant(conn, str(project / "gone")) is None
    conn.close()
