"""Sync of a project to its targets: concurrent syncs, a sync killed with SIGKILL, the first
sync's seed and what happens when it cannot be used, targets where git push cannot run."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.integration.conftest import Devenv
from tests.integration.runtime_fixtures import Sshd, make_sshd
from tests.integration.workspace_fixtures import (  # noqa: F401 - fixtures
    Where,
    devenv_argv,
    docker_shell,
    git,
    project,
    remote,
    ssh_root,
    sshd_host,
    where_of,
    ws_path,
)


def test_parallel_syncs_and_a_killed_one(dv: Devenv, project: Path, sshd_host: Sshd) -> None:
    env = {"DEVENV_SSH_CONFIG": str(sshd_host.config)}
    for n in range(5):
        (project / f"f{n}.txt").write_text(f"{n}\n" * 1000)
        git(project, "add", "-A")
        git(project, "commit", "-qm", f"c{n}")
    git(project, "branch", "side")
    runs = [subprocess.Popen([*devenv_argv(), "workspace", "sync", str(project), "--on",
                              sshd_host.alias], env={**dv.env, **env}, text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            for _ in range(4)]
    for run in runs:
        _, err = run.communicate(timeout=300)
        assert run.returncode == 0, err
    repo = f"{ssh_root(sshd_host, project)}/.devenv/repo.git"
    shell = docker_shell(sshd_host.container)
    _synced_as_here(shell, repo, project)

    # A big commit, and a sync killed with SIGKILL while the target receives it.
    _big_commit(project)
    _sync_killed_once(dv, env, project, sshd_host.alias, shell=shell,
                      running="pgrep -f git-receive-pack")
    again = dv.run("workspace", "sync", str(project), "--on", sshd_host.alias, env=env)
    assert again.returncode == 0, again.stderr
    fsck = shell("/", f"git --git-dir={repo} fsck --strict --no-progress")
    assert fsck.returncode == 0, fsck.stderr
    head = shell("/", f"git --git-dir={repo} rev-parse refs/devenv/sync/heads/main").stdout
    assert head.strip() == git(project, "rev-parse", "main").strip()


def test_a_target_without_receive_pack_gets_bundles(dv: Devenv, project: Path,
                                                    default_image: str,
                                                    tmp_path: Path) -> None:
    server = make_sshd(tmp_path / "nopush", default_image)
    try:
        server.docker("exec", "-u", "root", server.container, "sh", "-c",
                      "mv /usr/bin/git-receive-pack /usr/bin/git-receive-pack.off")
        env = {"DEVENV_SSH_CONFIG": str(server.config)}
        dv.ok("workspace", "create", "one", str(project), "--on", server.alias, env=env)
        (project / "later.txt").write_text("later\n")
        git(project, "add", "later.txt")
        git(project, "commit", "-qm", "later")
        synced = dv.ok("workspace", "sync", str(project), "--on", server.alias,
                       env={**env, "DEVENV_DEBUG": "1"})
        assert "bundle create" in synced.stderr  # push could not run there
        dv.ok("workspace", "create", "two", str(project), "--on", server.alias, env=env)
        root = ssh_root(server, project)
        shell = docker_shell(server.container)
        assert shell(f"{root}/two", "cat later.txt").stdout == "later\n"
        refs = shell("/", f"git --git-dir={root}/.devenv/repo.git rev-parse "
                          "refs/devenv/sync/heads/main")
        assert refs.stdout.strip() == git(project, "rev-parse", "main").strip()
        assert shell("/", f"ls {root}/.devenv/tmp").stdout == ""  # no bundle left behind
    finally:
        server.docker("rm", "-f", server.container, check=False)


def _sync_killed_once(dv: Devenv, env: dict[str, str], project: Path, host: str, *,
                      shell: Callable[..., subprocess.CompletedProcess[str]],
                      running: str) -> None:
    """A sync to ``host``, killed with SIGKILL once ``running`` finds its work there."""
    victim = subprocess.Popen([*devenv_argv(), "workspace", "sync", str(project), "--on",
                               host], env={**dv.env, **env}, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 60
    while shell("/", running).returncode != 0:
        assert time.monotonic() < deadline, f"the sync never reached the target ({running})"
        assert victim.poll() is None, "the sync ended before it could be killed"
        time.sleep(0.02)
    os.killpg(victim.pid, signal.SIGKILL)
    victim.wait(timeout=30)


def _big_commit(project: Path) -> None:
    (project / "big.bin").write_bytes(os.urandom(60 << 20))
    git(project, "add", "big.bin")
    git(project, "commit", "-qm", "big")


def _synced_as_here(shell: Callable[..., subprocess.CompletedProcess[str]], repo: str,
                    project: Path) -> None:
    fsck = shell("/", f"git --git-dir={repo} fsck --strict --no-progress")
    assert fsck.returncode == 0, fsck.stderr
    theirs = shell("/", f"git --git-dir={repo} for-each-ref --format='%(objectname) "
                        "%(refname)' refs/devenv/sync/heads refs/devenv/sync/tags").stdout
    ours = git(project, "for-each-ref", "--format=%(objectname) %(refname)", "refs/heads",
               "refs/tags")
    assert theirs.replace("refs/devenv/sync/", "refs/") == ours


def test_a_first_sync_killed_while_seeding(dv: Devenv, project: Path,
                                           sshd_host: Sshd) -> None:
    """The first sync sends a ready-made pack (no push); killed while the target unpacks
    it, nothing is half-installed there or left here, and the next sync seeds again."""
    env = {"DEVENV_SSH_CONFIG": str(sshd_host.config)}
    _big_commit(project)
    root = ssh_root(sshd_host, project)
    shell = docker_shell(sshd_host.container)
    _sync_killed_once(dv, env, project, sshd_host.alias, shell=shell, running="pgrep -x tar")
    repo = f"{root}/.devenv/repo.git"
    deadline = time.monotonic() + 30  # the target's side ends when its input does
    while shell("/", f"ls -A {root}/.devenv/tmp").stdout:
        assert time.monotonic() < deadline, "the killed seed's files stayed on the target"
        time.sleep(0.1)
    assert shell("/", f"git --git-dir={repo} for-each-ref refs/devenv").stdout == ""
    assert list((dv.home / "cache" / "seed").iterdir()) != []  # the killed one's, here

    again = dv.run("workspace", "sync", str(project), "--on", sshd_host.alias,
                   env={**env, "DEVENV_DEBUG": "1"})
    assert again.returncode == 0, again.stderr
    assert "pack-objects" in again.stderr and "push --porcelain" not in again.stderr
    assert list((dv.home / "cache" / "seed").iterdir()) == []  # the dead one's went too
    _synced_as_here(shell, repo, project)
    assert shell("/", f"ls -A {root}/.devenv/tmp").stdout == ""


def test_a_seed_the_target_cannot_take_falls_back_to_push(dv: Devenv, project: Path,
                                                          default_image: str,
                                                          tmp_path: Path) -> None:
    server = make_sshd(tmp_path / "notar", default_image)
    try:  # a tar that takes the stream and unpacks nothing, and says all went well
        server.docker("exec", "-u", "root", server.container, "sh", "-c",
                      'printf "#!/bin/sh\\ncat >/dev/null\\n" > "$(command -v tar)"')
        env = {"DEVENV_SSH_CONFIG": str(server.config), "DEVENV_DEBUG": "1"}
        synced = dv.ok("workspace", "sync", str(project), "--on", server.alias, env=env)
        assert "pack-objects" in synced.stderr and "push --porcelain" in synced.stderr
        assert "no seed, a push instead: no pack in the seed" in synced.stderr
        root = ssh_root(server, project)
        shell = docker_shell(server.container)
        _synced_as_here(shell, f"{root}/.devenv/repo.git", project)
        assert shell("/", f"ls -A {root}/.devenv/tmp").stdout == ""
        assert list((dv.home / "cache" / "seed").iterdir()) == []
    finally:
        server.docker("rm", "-f", server.container, check=False)


def test_a_target_without_git_is_one_clear_error(dv: Devenv, project: Path,
                                                 default_image: str, tmp_path: Path) -> None:
    server = make_sshd(tmp_path / "nogit", default_image)
    try:
        server.docker("exec", "-u", "root", server.container, "sh", "-c",
                      "rm -f /usr/local/bin/git /usr/bin/git")
        env = {"DEVENV_SSH_CONFIG": str(server.config)}
        for args in (["create", "w", str(project), "--on", server.alias],
                     ["sync", str(project), "--on", server.alias]):
            got = dv.run("workspace", *args, env=env)
            assert got.returncode == 2, got.stderr
            assert "Traceback" not in got.stderr
            lines = got.stderr.strip().splitlines()
            assert len(lines) <= 2 and "git" in lines[0] and server.alias in lines[0], lines
            assert "install git" in got.stderr
        assert dv.ok("workspace", "list", str(project)).stdout.startswith("no workspaces")
    finally:
        server.docker("rm", "-f", server.container, check=False)


@pytest.mark.parametrize("clone", [["--depth", "1"], ["--filter=blob:none"]])
def test_a_shallow_or_partial_project_is_refused_for_remote_targets(
        dv: Devenv, project: Path, sshd_host: Sshd, make_project: Callable[..., Path],
        clone: list[str]) -> None:
    git(project, "commit", "-q", "--allow-empty", "-m", "second")
    git(project, "config", "uploadpack.allowFilter", "true")
    copy = make_project("copy")
    subprocess.run(["git", "clone", "-q", *clone, f"file://{project}", str(copy)],
                   check=True, capture_output=True, timeout=60)
    env = {"DEVENV_SSH_CONFIG": str(sshd_host.config)}
    kind = "shallow" if "--depth" in clone else "partial"
    for args in (["sync", str(copy)], ["create", "w", str(copy)]):
        got = dv.run("workspace", *args, "--on", sshd_host.alias, env=env)
        assert got.returncode == 2, got.stderr
        assert f"is a {kind} clone" in got.stderr and "--unshallow" in got.stderr
        assert "Traceback" not in got.stderr
    root = ssh_root(sshd_host, copy)
    assert docker_shell(sshd_host.container)("/", f"test -e {root}").returncode != 0
    dv.ok("workspace", "create", "w", str(copy), "--on", "local")  # a worktree needs none


def test_a_start_no_branch_reaches_is_sent_with_the_workspace(dv: Devenv, project: Path,
                                                              remote: Where) -> None:
    """A detached HEAD (mid-rebase, bisect) or --from SHA: the commit is on no branch or
    tag, so a plain sync would never send it."""
    where = remote
    git(project, "checkout", "-q", "--detach")
    (project / "b.txt").write_text("detached\n")
    git(project, "add", "-A")
    git(project, "commit", "-qm", "detached work")
    detached = git(project, "rev-parse", "HEAD").strip()
    dv.ok("workspace", "create", "w", str(project), "--on", where.on, env=where.env)
    git(project, "checkout", "-q", "main")
    dv.ok("workspace", "create", "w2", str(project), "--on", where.on, "--from", detached,
          env=where.env)
    for name in ("w", "w2"):
        got = where.shell(ws_path(dv, project, name, where), "git rev-parse HEAD; cat b.txt")
        assert got.stdout.split() == [detached, "detached"], got.stderr



@pytest.mark.parametrize("kind", ["env", "ssh"])
def test_a_sha256_project_works_on_remote_targets(dv: Devenv, kind: str,
                                                  request: pytest.FixtureRequest,
                                                  make_project: Callable[..., Path]) -> None:
    project = make_project("sha")
    git(project, "init", "-q", "--object-format=sha256", "-b", "main")
    (project / "a.txt").write_text("a\n")
    git(project, "add", "-A")
    git(project, "-c", "user.name=u", "-c", "user.email=u@e", "commit", "-qm", "start")
    where = where_of(kind, request, dv, project)
    dv.ok("workspace", "create", "w", str(project), "--on", where.on, env=where.env)
    path = ws_path(dv, project, "w", where)
    made = where.shell(path, "git rev-parse --show-object-format; echo mine > mine.txt")
    assert made.stdout == "sha256\n", made.stderr
    dv.ok("workspace", "delete", "w", "-C", str(project), "--force", env=where.env)
    dv.ok("workspace", "restore", "w", "-C", str(project), env=where.env)
    assert where.shell(path, "cat mine.txt").stdout == "mine\n"
