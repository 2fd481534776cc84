"""What the workspace tests share: a real repository, the kinds of target (the project's
environment, this machine, an SSH host in a container) and how to run shell code in a
workspace on each."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.integration.conftest import Devenv
from tests.integration.runtime_fixtures import Sshd, make_sshd

GIT_ID = "git -c user.name=Agent -c user.email=agent@example.com"


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True,
                          check=True, timeout=60).stdout


def make_repo(path: Path) -> Path:
    git(path, "init", "-q", "-b", "main")
    git(path, "config", "user.email", "user@example.com")
    git(path, "config", "user.name", "User")
    (path / "a.txt").write_text("one\ntwo\n")
    (path / "bin").mkdir()
    (path / "bin" / "run.sh").write_text("#!/bin/sh\necho run\n")
    (path / "bin" / "run.sh").chmod(0o755)
    (path / ".gitignore").write_text("*.log\n")
    git(path, "add", "-A")
    git(path, "commit", "-qm", "start")
    git(path, "tag", "v1")
    return path


@dataclass
class Where:
    """A target kind under test: its --on value and how to run shell code in a
    workspace directory there (as the user the workspace belongs to)."""

    on: str
    shell: Callable[[str, str], subprocess.CompletedProcess[str]]
    env: dict[str, str]


def docker_shell(container: str) -> Callable[[str, str], subprocess.CompletedProcess[str]]:
    def run(directory: str, script: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["docker", "exec", "-w", directory, container, "sh", "-c",
                               script], capture_output=True, text=True, timeout=120,
                              check=False)
    return run


def local_shell(directory: str, script: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["sh", "-c", script], cwd=directory, capture_output=True, text=True,
                          timeout=120, check=False)


@pytest.fixture(scope="module")
def sshd_host(default_image: str, tmp_path_factory: pytest.TempPathFactory
              ) -> Iterator[Sshd]:
    server = make_sshd(tmp_path_factory.mktemp("ws-sshd"), default_image)
    yield server
    server.docker("rm", "-f", server.container, check=False)


def where_of(kind: str, request: pytest.FixtureRequest, dv: Devenv, project: Path) -> Where:
    if kind == "local":
        return Where("local", local_shell, {})
    if kind == "ssh":
        server: Sshd = request.getfixturevalue("sshd_host")
        return Where(server.alias, docker_shell(server.container),
                     {"DEVENV_SSH_CONFIG": str(server.config)})
    info = dv.up(project)
    return Where("env", docker_shell(f"devenv-{info['name']}"), {})


@pytest.fixture(params=["env", "local", "ssh"])
def where(request: pytest.FixtureRequest, dv: Devenv, project: Path) -> Where:
    return where_of(request.param, request, dv, project)


@pytest.fixture(params=["env", "ssh"])
def remote(request: pytest.FixtureRequest, dv: Devenv, project: Path) -> Where:
    """A target where each workspace is a repository of its own."""
    return where_of(request.param, request, dv, project)


@pytest.fixture
def project(make_project: Callable[..., Path]) -> Path:
    return make_repo(make_project())


def ws_path(dv: Devenv, project: Path, name: str, where: Where) -> str:
    listed = json.loads(dv.ok("workspace", "list", "--json", str(project),
                              env=where.env).stdout)
    return next(str(w["path"]) for w in listed if w["name"] == name)


# Everything a workspace holds, to compare byte for byte: each file's checksum (ignored
# files too), HEAD, its branch, the index, the status and the stash.
STATE = r"""
find . -path ./.git -prune -o -type f -print | LC_ALL=C sort | while read -r f; do
  sha256sum "$f"; done
echo "HEAD $(git rev-parse HEAD)"
echo "BRANCH $(git symbolic-ref -q HEAD || echo detached)"
echo "INDEX $(git ls-files -s | sha256sum)"
git status --porcelain=v1 --untracked-files=all
git stash list --format='STASH %H'
"""

def ssh_root(server: Sshd, project: Path) -> str:
    from devenv.workspaces.targets import project_key

    return f"/home/dev/devenv/src/{project_key(str(project))}"


def devenv_argv() -> list[str]:
    from tests.integration.conftest import DEVENV

    return list(DEVENV)
