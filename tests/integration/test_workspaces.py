"""Workspaces on every kind of target (the project's environment, this machine, an SSH host
in a container), with real git: the data-loss matrix (delete refuses every kind of unsaved
work and leaves every byte; --force deletes; restore brings back every byte and commit),
two agents on one project, pull and diff, sync under concurrency and kill -9, hostile
names."""

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


def _docker_shell(container: str) -> Callable[[str, str], subprocess.CompletedProcess[str]]:
    def run(directory: str, script: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["docker", "exec", "-w", directory, container, "sh", "-c",
                               script], capture_output=True, text=True, timeout=120,
                              check=False)
    return run


def _local_shell(directory: str, script: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["sh", "-c", script], cwd=directory, capture_output=True, text=True,
                          timeout=120, check=False)


@pytest.fixture(scope="module")
def sshd_host(default_image: str, tmp_path_factory: pytest.TempPathFactory
              ) -> Iterator[Sshd]:
    server = make_sshd(tmp_path_factory.mktemp("ws-sshd"), default_image)
    yield server
    server.docker("rm", "-f", server.container, check=False)


@pytest.fixture(params=["env", "local", "ssh"])
def where(request: pytest.FixtureRequest, dv: Devenv, project: Path) -> Where:
    if request.param == "local":
        return Where("local", _local_shell, {})
    if request.param == "ssh":
        server: Sshd = request.getfixturevalue("sshd_host")
        return Where(server.alias, _docker_shell(server.container),
                     {"DEVENV_SSH_CONFIG": str(server.config)})
    info = dv.up(project)
    return Where("env", _docker_shell(f"devenv-{info['name']}"), {})


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

CASES = {
    "untracked": "echo fresh > new.txt; mkdir -p deep/er; printf 'x\\0y' > deep/er/bin.dat",
    "staged": "echo staged >> a.txt; git add a.txt",
    "modified": "printf 'changed\\n' > a.txt; chmod -x bin/run.sh",
    "commit": f"echo more >> a.txt; {GIT_ID} commit -qam 'unpushed work'",
    "stash": f"echo wip >> a.txt; {GIT_ID} stash -q; echo after > b.txt",
    "detached": f"git checkout -q --detach; echo d > d.txt; git add d.txt; "
                f"{GIT_ID} commit -qm 'detached work'",
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_delete_refuses_unsaved_work_and_restore_brings_it_back(
        dv: Devenv, project: Path, where: Where, case: str) -> None:
    name = f"m-{case}"
    dv.ok("workspace", "create", name, str(project), "--on", where.on, env=where.env)
    path = ws_path(dv, project, name, where)
    made = where.shell(path, CASES[case] + "\necho ignored > debug.log")
    assert made.returncode == 0, made.stderr
    before = where.shell(path, STATE)
    assert before.returncode == 0, before.stderr

    refused = dv.run("workspace", "delete", name, "-C", str(project), env=where.env)
    assert refused.returncode == 4, refused.stderr
    assert "unsaved work" in refused.stderr and "Traceback" not in refused.stderr
    assert where.shell(path, STATE).stdout == before.stdout  # every byte in place

    dv.ok("workspace", "delete", name, "-C", str(project), "--force", env=where.env)
    assert where.shell("/", f"test -e '{path}'").returncode != 0  # gone
    snaps = git(project, "for-each-ref", "--format=%(refname)", f"refs/devenv/snapshots/{name}/")
    assert len(snaps.split()) >= 1

    dv.ok("workspace", "restore", name, "-C", str(project), env=where.env)
    after = where.shell(ws_path(dv, project, name, where), STATE)
    # The ignored file was not part of the snapshot; everything else is back.
    expected = "\n".join(line for line in before.stdout.splitlines() if "debug.log" not in line)
    assert after.stdout.rstrip("\n") == expected.rstrip("\n")
    # The user's checkout never moved.
    assert git(project, "status", "--porcelain") == ""
    assert git(project, "symbolic-ref", "HEAD").strip() == "refs/heads/main"
