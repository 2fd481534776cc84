"""The import budget (docs/architecture.md, start-up): start-up paths import nothing heavy."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .greeter import Greeter

FORBIDDEN = {"rich", "asyncio", "msgspec", "docker", "pydantic", "requests", "paramiko",
             "asyncssh"}


def imported(argv: list[str], env: dict[str, str]) -> set[str]:
    """Top-level modules a fresh interpreter imports while running ``argv``."""
    proc = subprocess.run([sys.executable, "-X", "importtime", *argv], env=env,
                          capture_output=True, text=True, timeout=60, check=False)
    names = set()
    for line in proc.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            names.add(line.rsplit("|", 1)[1].strip().split(".")[0])
    assert names, proc.stderr
    return names


@pytest.fixture
def stub_docker(tmp_path: Path, devenv_home: Path) -> dict[str, str]:
    """A PATH whose `docker` only succeeds: the imports are the subject here, not Docker."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "docker").write_text("#!/bin/sh\nexit 0\n")
    (bin_dir / "docker").chmod(0o755)
    return dict(os.environ, PATH=f"{bin_dir}:{os.environ['PATH']}")


def test_version_imports_nothing_heavy(stub_docker: dict[str, str]) -> None:
    names = imported(["-m", "devenv", "--version"], stub_docker)
    assert not names & FORBIDDEN


def test_exec_fast_path_imports_almost_nothing(stub_docker: dict[str, str], tmp_path: Path,
                                               devenv_home: Path) -> None:
    project = tmp_path / "p"
    project.mkdir()
    server = Greeter(b"SSH-2.0-OpenSSH_9.2\r\n")  # the environment's published port
    port = server.port
    try:
        (devenv_home / "state").mkdir(parents=True)
        from devenv.envs.index import config_stamp

        stamp = config_stamp(str(project))
        (devenv_home / "state" / "index").write_text(
            f"instance\tabc\n{project}\tx-p\t{port}\t{stamp}\tid\n")
        for argv in (["exec", str(project), "--", "true"], [str(project)]):
            names = imported(["-m", "devenv", *argv], stub_docker)
            assert not names & FORBIDDEN
            # The fast path skips argparse, sqlite3, subprocess and pathlib altogether.
            assert not names & {"argparse", "sqlite3", "subprocess", "pathlib", "json",
                                "socket", "hashlib"}, argv
    finally:
        server.close()


def test_quick_stop_imports_almost_nothing(tmp_path: Path, devenv_home: Path) -> None:
    """devenv stop PATH of an idle environment (devenv.envs.quickstop): no argparse, sqlite3,
    subprocess or json; the docker it runs is a stub whose top shows init, the supervisor and
    sshd."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "docker").write_text(
        '#!/bin/sh\n[ "$1" = top ] && '
        'printf "PID COMMAND\\n1 docker-init\\n7 devenv-init\\n9 sshd\\n"\n'
        "exit 0\n")
    (bin_dir / "docker").chmod(0o755)
    env = dict(os.environ, PATH=f"{bin_dir}:{os.environ['PATH']}")
    project = tmp_path / "p"
    project.mkdir()
    (devenv_home / "state").mkdir(parents=True)
    from devenv.envs.index import config_stamp

    (devenv_home / "state" / "index").write_text(
        f"instance\tabc\n{project}\tx-p\t22200\t{config_stamp(str(project))}\t{'a' * 64}\n")
    names = imported(["-m", "devenv", "stop", str(project)], env)
    assert "devenv" in names and not names & FORBIDDEN
    assert not names & {"argparse", "sqlite3", "subprocess", "json"}
    assert "x-p" not in (devenv_home / "state" / "index").read_text()  # it did stop


def test_exec_slow_path_imports_nothing_heavy(stub_docker: dict[str, str],
                                              tmp_path: Path) -> None:
    names = imported(["-m", "devenv", "exec", str(tmp_path), "--", "true"], stub_docker)
    assert "devenv" in names and not names & FORBIDDEN
    # A project with a config file pays for msgspec (validation), and for nothing else.
    (tmp_path / ".devenv").mkdir()
    (tmp_path / ".devenv" / "devenv.toml").write_text('tools = ["node"]\n')
    names = imported(["-m", "devenv", "exec", str(tmp_path), "--", "true"], stub_docker)
    assert "msgspec" in names and not names & (FORBIDDEN - {"msgspec"})


def test_version_is_quick() -> None:
    # A gross-regression guard only; real figures come from bench/.
    start = time.monotonic()
    subprocess.run([sys.executable, "-m", "devenv", "--version"], check=True,
                   capture_output=True, timeout=30)
    assert time.monotonic() - start < 2.0
