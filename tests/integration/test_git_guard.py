"""An agent cannot make the host's git run its code (docs/security.md): the project's git
config and hooks, and those of its submodules, are read-only inside the environment and stay
current with the host's, while commits, branches and fetches work."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from .conftest import Devenv, expected_uid

# The host's git as the project's owner would run it (the tests may run as root on a project
# owned by the container user: safe.directory lets that root read the repository's config,
# exactly what an owner's git does).
HOST_GIT = ["git", "-c", "safe.directory=*", "-c", "protocol.file.allow=always",
            "-c", "user.name=Host",
            "-c", "user.email=host@example.com"]


def git(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*HOST_GIT, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=60, check=False)


def chown_tree(path: Path) -> None:
    uid = expected_uid()
    for root, dirs, files in os.walk(path):
        for name in [*dirs, *files]:
            os.lchown(os.path.join(root, name), uid, uid)
    os.lchown(path, uid, uid)


@pytest.fixture
def repo(make_project: Any, tmp_path: Path) -> Path:
    """A project repository with one commit and a submodule, owned by the container user (a
    workstation's normal case)."""
    upstream = tmp_path / "upstream"
    upstream.mkdir()
    assert git(upstream, "init", "-q", "-b", "main").returncode == 0
    assert git(upstream, "commit", "-q", "--allow-empty", "-m", "up").returncode == 0
    project: Path = make_project()
    assert git(project, "init", "-q", "-b", "main").returncode == 0
    (project / "README").write_text("hello\n")
    assert git(project, "add", "README").returncode == 0
    assert git(project, "submodule", "add", "-q", str(upstream), "sub").returncode == 0
    assert git(project, "commit", "-q", "-m", "first").returncode == 0
    # A bare remote inside the project, so the agent can fetch from it in the container.
    assert git(project, "clone", "-q", "--bare", ".", "remote.git").returncode == 0
    assert git(project, "remote", "add", "origin",
               f"/workspace/{project.name}/remote.git").returncode == 0
    chown_tree(project)
    return project


ATTACKS = r"""
try() { if "$@" >/dev/null 2>&1; then echo "ALLOWED: $*"; else echo "refused: $1"; fi; }
try git config core.fsmonitor 'touch /tmp/pwned-fsmonitor; false'
try sh -c 'printf "#!/bin/sh\ntouch /tmp/pwned-hook\n" > .git/hooks/pre-commit'
try sh -c 'printf "[core]\n\tfsmonitor = touch /tmp/pwned\n" > .git/config'
try mv .git/config .git/config.old
try mv .git/hooks .git/hooks.old
try mv .git .git-moved
try git -C sub config core.fsmonitor 'touch /tmp/pwned-sub; false'
try sh -c 'printf "#!/bin/sh\ntouch /tmp/pwned\n" > .git/modules/sub/hooks/post-checkout'
try sh -c 'echo "gitdir: ../evil" > sub/.git'
"""


def test_agent_cannot_plant_code_the_host_git_runs(dv: Devenv, repo: Path,
                                                   tmp_path: Path) -> None:
    info = dv.up(repo)
    got = dv.run("exec", str(repo), "--", "bash", "-c", ATTACKS)
    assert got.returncode == 0, got.stderr
    lines = got.stdout.splitlines()
    assert len(lines) == 9 and all(line.startswith("refused") for line in lines), got.stdout

    # The failing git config write says why, and where such settings go.
    write = dv.run("exec", str(repo), "--", "git", "config", "core.fsmonitor", "x")
    assert write.returncode == 4
    assert "read-only in the environment" in write.stderr
    assert "git config --global" in write.stderr

    # The agent works normally: its own global config, commits, branches, fetches.
    work = dv.run("exec", str(repo), "--", "bash", "-c", """set -e
        git config --global user.email agent@example.com
        git config --global user.name Agent
        git config --global core.fsmonitor 'touch /tmp/inside-only; false'
        echo change >> README
        git commit -qam 'from the agent'
        git switch -q -c agent-branch
        git commit -q --allow-empty -m 'on a branch'
        git fetch -q origin
        git rev-parse --verify -q origin/main >/dev/null && echo fetched
    """)
    assert work.returncode == 0, work.stderr
    assert work.stdout.strip() == "fetched"
    log = git(repo, "log", "--format=%s", "agent-branch")
    assert log.stdout.split("\n")[:2] == ["on a branch", "from the agent"]

    # The host's git, as the user: runs nothing the agent wrote.
    marker_dir = Path("/tmp")
    before = set(marker_dir.glob("pwned*"))
    status = git(repo, "status", "--short")
    assert status.returncode == 0, status.stderr
    assert git(repo, "commit", "-q", "--allow-empty", "-m", "host").returncode == 0
    assert set(marker_dir.glob("pwned*")) == before
    config = (repo / ".git" / "config").read_text()
    assert "fsmonitor" not in config and not (repo / ".git" / "hooks" / "pre-commit").exists()
    assert (repo / "sub" / ".git").read_text().startswith("gitdir: ../.git/modules/sub")

    # The host's git replaces .git/config by rename, which lifts the read-only mount over it
    # in the running environment (the kernel detaches a mount from a replaced file). devenv
    # notices and says so until a restart restores the protection (docs/security.md).
    assert git(repo, "config", "devenv.test", "from-the-host").returncode == 0
    warned = dv.run("exec", str(repo), "--", "git", "config", "devenv.test")
    assert warned.stdout == "from-the-host\n"
    assert ".git/config was replaced" in warned.stderr and "--recreate" in warned.stderr
    dv.ok("up", "--recreate", str(repo))
    again = dv.run("exec", str(repo), "--", "bash", "-c",
                   "git config devenv.test; git config core.fsmonitor y; echo rc=$?")
    assert again.stdout.split() == ["from-the-host", "rc=4"], again.stdout + again.stderr
    assert "was replaced" not in again.stderr
    assert "fsmonitor" not in (repo / ".git" / "config").read_text()
    assert info["container"]


def test_a_symlinked_git_piece_is_refused_before_anything_starts(
        dv: Devenv, repo: Path, tmp_path: Path) -> None:
    """A link could lead a read-only mount anywhere on the host, and the agent could replace
    it: devenv refuses to start instead of guessing."""
    elsewhere = tmp_path / "hooks-elsewhere"
    elsewhere.mkdir()
    hooks = repo / ".git" / "hooks"
    subprocess.run(["rm", "-rf", str(hooks)], check=True)
    hooks.symlink_to(elsewhere)
    got = dv.run("up", str(repo))
    assert got.returncode != 0 and "Traceback" not in got.stderr
    assert "symbolic link" in got.stderr and ".git/hooks" in got.stderr
    assert dv.containers() == []


def test_linked_worktrees_and_commondir(dv: Devenv, repo: Path, tmp_path: Path) -> None:
    """The host's linked worktrees read commondir and gitdir under .git/worktrees: read-only
    inside. A .git/commondir (which sends git to another config) cannot be prevented in a
    writable .git: devenv warns as soon as one appears and refuses to start with one."""
    worktree = tmp_path / "linked"
    assert git(repo, "worktree", "add", "-q", str(worktree)).returncode == 0
    chown_tree(repo)
    dv.up(repo)
    name = worktree.name
    got = dv.run("exec", str(repo), "--", "sh", "-c",
                 f"echo ../../evil > .git/worktrees/{name}/commondir && echo WROTE;"
                 "mkdir .git/worktrees/new 2>/dev/null && echo MADE; echo done")
    assert got.stdout == "done\n", got.stdout + got.stderr
    assert (repo / ".git" / "worktrees" / name / "commondir").read_text().strip() == "../.."
    planted = dv.run("exec", str(repo), "--", "sh", "-c", "echo ../evil > .git/commondir")
    assert planted.returncode == 0
    warned = dv.run("exec", str(repo), "--", "true")
    assert "commondir appeared" in warned.stderr, warned.stderr
    refused = dv.run("up", "--recreate", str(repo))
    assert refused.returncode == 7 and "commondir exists" in refused.stderr, refused.stderr
    (repo / ".git" / "commondir").unlink()
    dv.up(repo)
