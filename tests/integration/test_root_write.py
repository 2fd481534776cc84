"""devenv as root (issue 12): the container user is the project owner's UID, and a
root-owned project becomes writable for UID 1000 only with consent, through POSIX ACLs that
``devenv rm --revoke-write`` takes back. Real Docker, real files, getfacl as the oracle."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from .conftest import DEVENV, Devenv

pytestmark = [
    pytest.mark.skipif(os.getuid() != 0, reason="these behaviours are devenv's as root"),
    pytest.mark.skipif(shutil.which("getfacl") is None, reason="getfacl (package acl) missing"),
]


def acls(path: Path) -> dict[str, list[str]]:
    """``getfacl -R`` (absolute, numeric) by file."""
    out = subprocess.run(["getfacl", "-R", "-p", "-n", "--absolute-names", str(path)],
                         capture_output=True, check=True, timeout=60).stdout.decode(
                             errors="surrogateescape")
    blocks = [b.strip().splitlines() for b in out.split("\n\n") if b.strip()]
    return {b[0]: b[1:] for b in blocks}


def root_project(make_project: Any) -> Path:
    path: Path = make_project()
    path.chmod(0o755)
    subprocess.run(["git", "init", "-q", str(path)], check=True, timeout=30)
    (path / "README").write_text("hello\n")
    (path / "src").mkdir()
    (path / "src" / "main.py").write_text("print()\n")
    for cmd in (["add", "-A"], ["-c", "user.email=a@b", "-c", "user.name=h", "commit", "-qm",
                                "init"]):
        subprocess.run(["git", "-C", str(path), *cmd], check=True, timeout=30)
    return path


def test_without_consent_nothing_changes(dv: Devenv, make_project: Any) -> None:
    project = root_project(make_project)
    before = acls(project)
    started = dv.ok("up", str(project), input="")
    assert "--grant-write" in started.stderr and "can read it but not write" in started.stderr
    denied = dv.run("exec", str(project), "--", "touch", "x")
    assert denied.returncode != 0 and "Permission denied" in denied.stderr
    assert acls(project) == before


def test_grant_write_then_revoke(dv: Devenv, make_project: Any) -> None:
    project = root_project(make_project)
    before = acls(project)
    granted = dv.ok("up", "--grant-write", str(project))
    assert "gave the container user (UID 1000) write access" in granted.stderr
    assert "devenv rm --revoke-write" in granted.stderr
    inside = dv.run("exec", str(project), "--", "sh", "-c",
                    "touch t && mkdir -p d && echo x > d/f && git add t && "
                    "git -c user.email=a@b -c user.name=agent commit -qm agent && echo ok")
    assert inside.returncode == 0 and inside.stdout.strip() == "ok", inside.stderr
    # Made on the host after the grant: a new file, and one sed -i rewrote.
    (project / "f").write_text("host\n")
    subprocess.run(["sed", "-i", "s/hello/bye/", str(project / "README")], check=True)
    writes = dv.run("exec", str(project), "--", "sh", "-c",
                    "echo in >> f && echo in >> README && echo ok")
    assert writes.returncode == 0 and writes.stdout.strip() == "ok", writes.stderr
    # A start again asks nothing and reports nothing new.
    dv.ok("stop", str(project))
    again = dv.ok("up", str(project), input="")
    assert "can read it but not write" not in again.stderr
    removed = dv.ok("rm", "--revoke-write", str(project))
    assert "write access revoked" in removed.stdout
    after = acls(project)
    # Every file that was there before is as it was (README too, which sed -i replaced),
    # but what the agent's commit replaced (now the agent's own); nothing anywhere names
    # UID 1000 any more.
    replaced = {f"# file: {project}/.git/index", f"# file: {project}/.git/refs/heads/master",
                f"# file: {project}/.git/refs/heads/main"}
    for name, lines in before.items():
        if name not in replaced:
            assert after.get(name) == lines, name
    assert not [n for n, lines in after.items() if any(":1000:" in x for x in lines)]


def test_the_container_user_is_the_project_owner(dv: Devenv, make_project: Any) -> None:
    project: Path = make_project()
    project.chmod(0o755)
    os.chown(project, 1234, 1234)
    made = dv.run("exec", str(project), "--", "sh", "-c", "id -u && touch made")
    assert made.returncode == 0, made.stderr
    assert made.stdout.split()[0] == "1234"
    st = (project / "made").stat()
    assert (st.st_uid, st.st_gid) == (1234, 1234)
    assert "can read it but not write" not in made.stderr


def test_a_file_system_without_acls_is_a_clear_error(dv: Devenv, tmp_path: Path) -> None:
    mnt = tmp_path / "ramfs"  # ramfs keeps no extended attributes, so no ACLs
    mnt.mkdir()
    mounted = subprocess.run(["mount", "-t", "ramfs", "none", str(mnt)], capture_output=True,
                             check=False, timeout=30)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a ramfs here: {mounted.stderr.decode().strip()}")
    try:
        project = mnt / "proj"
        project.mkdir()
        (project / "a").write_text("x\n")
        before = [(p.name, p.stat().st_mode, p.stat().st_uid) for p in (project, project / "a")]
        failed = dv.run("up", "--grant-write", str(project))
        assert failed.returncode == 1, failed.stderr
        lines = failed.stderr.strip().splitlines()
        assert lines[0] == (f"devenv: error: the file system of {project} does not support "
                            "POSIX ACLs"), failed.stderr
        assert "chown" in lines[1] and "Traceback" not in failed.stderr
        assert [(p.name, p.stat().st_mode, p.stat().st_uid)
                for p in (project, project / "a")] == before
        assert dv.containers() == []
    finally:
        subprocess.run(["umount", str(mnt)], check=False, timeout=30)


def test_asked_once_on_a_terminal(dv: Devenv, make_project: Any) -> None:
    from .test_attach import Session

    project = root_project(make_project)
    before = acls(project)
    # "n": nothing changes, and the answer is kept (the next start does not ask).
    first = Session([*DEVENV, "up", str(project)], dv.env)
    first.expect("[y/N]")
    first.send("n\n")
    out = first.expect("attach:")
    assert first.close() == 0 and "--grant-write" in out
    assert acls(project) == before
    dv.ok("stop", str(project))
    second = Session([*DEVENV, "up", str(project)], dv.env)
    out = second.expect("attach:")
    assert second.close() == 0 and "[y/N]" not in out and acls(project) == before
    # After rm (which forgets the answer), a "y" grants.
    dv.ok("rm", str(project))
    third = Session([*DEVENV, "up", str(project)], dv.env)
    third.expect("[y/N]")
    third.send("y\n")
    out = third.expect("attach:")
    assert third.close() == 0 and "write access to" in out
    assert any(":1000:" in line for line in acls(project)[f"# file: {project}"])
    dv.ok("rm", str(project))
    assert acls(project) == before
