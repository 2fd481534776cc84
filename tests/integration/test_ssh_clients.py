"""Every SSH client reaches an environment through the Include line in ~/.ssh/config, with
strict host-key checking. ssh reads the real user's ~/.ssh/config (not $HOME), so this is
the one test that edits it: it restores the file byte for byte whatever happens."""

from __future__ import annotations

import fcntl
import os
import pwd
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from .conftest import Devenv


def run(*argv: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), capture_output=True, text=True, timeout=120,
                          cwd=cwd, check=False)


@pytest.fixture
def user_ssh_config() -> Any:
    # Tests that edit the real file take turns (xdist runs them in parallel otherwise).
    with open("/tmp/devenv-tests-ssh-config.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield from _keep_user_ssh_config()


def _keep_user_ssh_config() -> Any:
    path = Path(pwd.getpwuid(os.getuid()).pw_dir) / ".ssh" / "config"
    original = path.read_bytes() if path.exists() else None
    mode = path.stat().st_mode & 0o777 if path.exists() else None
    yield path
    if original is None:
        path.unlink(missing_ok=True)
    else:
        path.chmod(0o600)
        path.write_bytes(original)
        path.chmod(mode or 0o600)


@pytest.mark.skipif(shutil.which("rsync") is None, reason="rsync is not installed on the "
                    "host (scripts/test.sh installs it)")
def test_any_ssh_client_with_the_include(dv: Devenv, make_project: Any, tmp_path: Path,
                                         user_ssh_config: Path) -> None:
    project = make_project("repo")
    assert run("git", "init", "-q", "-b", "main", str(project)).returncode == 0
    (project / "f.txt").write_text("one\n")
    run("git", "-C", str(project), "add", "f.txt")
    run("git", "-C", str(project), "-c", "user.name=t", "-c", "user.email=t@t",
        "commit", "-qm", "one")
    run("chmod", "-R", "a+rwX", str(project))
    info = dv.up(project)
    host = info["container"]

    user_ssh_config.parent.mkdir(mode=0o700, exist_ok=True)
    user_ssh_config.write_text("Host example-user-entry\n  User someone\n")
    before = user_ssh_config.read_bytes()
    dv.ok("ssh-config", "--install")
    dv.ok("ssh-config", "--install")  # twice: still one line
    assert user_ssh_config.read_text().count("Include ") == 1
    assert user_ssh_config.read_bytes().endswith(before)

    def works() -> None:
        assert run("ssh", "-o", "BatchMode=yes", host, "true").returncode == 0
        clone = tmp_path / f"clone-{os.urandom(3).hex()}"
        got = run("git", "clone", "-q", f"{host}:/workspace/repo", str(clone))
        assert got.returncode == 0, got.stderr
        (clone / "g.txt").write_text("two\n")
        run("git", "-C", str(clone), "add", "g.txt")
        run("git", "-C", str(clone), "-c", "user.name=t", "-c", "user.email=t@t",
            "commit", "-qm", "two")
        branch = f"b{os.urandom(3).hex()}"
        got = run("git", "-C", str(clone), "push", "-q", "origin", f"HEAD:{branch}")
        assert got.returncode == 0, got.stderr
        assert run("git", "-C", str(project), "rev-parse", branch).returncode == 0
        down = tmp_path / f"down-{os.urandom(3).hex()}"
        got = run("rsync", "-a", "-e", "ssh", f"{host}:/workspace/repo/", str(down))
        assert got.returncode == 0, got.stderr
        assert (down / "f.txt").read_text() == "one\n"
        up = tmp_path / "up.txt"
        up.write_text("up\n")
        assert run("rsync", "-a", "-e", "ssh", str(up), f"{host}:/tmp/up.txt").returncode == 0
        assert run("scp", "-q", f"{host}:/tmp/up.txt", str(tmp_path / "scp.txt")).returncode == 0
        assert (tmp_path / "scp.txt").read_text() == "up\n"
        batch = tmp_path / "batch"
        batch.write_text("cd /workspace/repo\nls\n")
        got = run("sftp", "-q", "-b", str(batch), host)
        assert got.returncode == 0 and "f.txt" in got.stdout, got.stderr

    works()
    # After a stop and a start on another port: all of it still works, no known_hosts edits.
    dv.ok("stop", str(project))
    with __import__("socket").socket() as s:
        s.bind(("127.0.0.1", 0))
        other = s.getsockname()[1]
    assert dv.up(project, "--port", str(other))["port"] == other
    works()

    dv.ok("ssh-config", "--uninstall")
    assert user_ssh_config.read_bytes() == before  # byte for byte


def test_include_refuses_broken_or_read_only_files(dv: Devenv, user_ssh_config: Path) -> None:
    user_ssh_config.parent.mkdir(mode=0o700, exist_ok=True)
    user_ssh_config.write_text("Host x\n  NoSuchOption yes\n")
    before = user_ssh_config.read_bytes()
    got = dv.run("ssh-config", "--install")
    assert got.returncode == 1 and "is not a valid ssh config" in got.stderr
    assert user_ssh_config.read_bytes() == before
    user_ssh_config.write_text("Host x\n  User y\n")
    user_ssh_config.chmod(0o400)  # devenv honours the mode, even as root
    got = dv.run("ssh-config", "--install")
    assert got.returncode == 1 and "is read-only" in got.stderr
    assert user_ssh_config.read_text() == "Host x\n  User y\n"


def test_devenv_ssh_starts_a_stopped_environment_and_names_close_matches(
        dv: Devenv, make_project: Any) -> None:
    project = make_project("sshverb")
    name = dv.up(project)["name"]
    dv.ok("stop", name)
    assert dv.containers() == []
    # By NAME, stopped: started first; argv reaches the remote side exactly; code passes.
    got = dv.run("ssh", name, "--", "printf", "%s|", "a b", "$HOME", "it's", "--")
    assert got.returncode == 0, got.stderr
    assert got.stdout == "a b|$HOME|it's|--|"
    assert f"devenv: started {name}" in got.stderr
    assert len(dv.containers()) == 1
    assert dv.run("ssh", str(project), "--", "sh", "-c", "exit 7").returncode == 7
    # In the project directory, like devenv exec.
    assert dv.ok("ssh", name, "--", "pwd").stdout == "/workspace/sshverb\n"
    typo = dv.run("ssh", name[:-1] + "x")
    assert typo.returncode == 125
    assert f"no environment named '{name[:-1]}x'" in typo.stderr
    assert f"did you mean: {name}" in typo.stderr and "Traceback" not in typo.stderr
