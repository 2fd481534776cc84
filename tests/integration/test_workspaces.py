"""Workspaces on every kind of target (the project's environment, this machine, an SSH host
in a container), with real git: the data-loss matrix (delete refuses every kind of unsaved
work and leaves every byte; --force deletes; restore brings back every byte and commit),
two agents on one project, pull and diff, sync under concurrency and kill -9, hostile
names."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
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


def _where(kind: str, request: pytest.FixtureRequest, dv: Devenv, project: Path) -> Where:
    if kind == "local":
        return Where("local", _local_shell, {})
    if kind == "ssh":
        server: Sshd = request.getfixturevalue("sshd_host")
        return Where(server.alias, _docker_shell(server.container),
                     {"DEVENV_SSH_CONFIG": str(server.config)})
    info = dv.up(project)
    return Where("env", _docker_shell(f"devenv-{info['name']}"), {})


@pytest.fixture(params=["env", "local", "ssh"])
def where(request: pytest.FixtureRequest, dv: Devenv, project: Path) -> Where:
    return _where(request.param, request, dv, project)


@pytest.fixture(params=["env", "ssh"])
def remote(request: pytest.FixtureRequest, dv: Devenv, project: Path) -> Where:
    """A target where each workspace is a repository of its own."""
    return _where(request.param, request, dv, project)


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


def _ssh_root(server: Sshd, project: Path) -> str:
    from devenv.workspaces.targets import project_key

    return f"/home/dev/devenv/src/{project_key(str(project))}"


def test_parallel_syncs_and_a_killed_one(dv: Devenv, project: Path, sshd_host: Sshd) -> None:
    env = {"DEVENV_SSH_CONFIG": str(sshd_host.config)}
    for n in range(5):
        (project / f"f{n}.txt").write_text(f"{n}\n" * 1000)
        git(project, "add", "-A")
        git(project, "commit", "-qm", f"c{n}")
    git(project, "branch", "side")
    runs = [subprocess.Popen([*_devenv(), "workspace", "sync", str(project), "--on",
                              sshd_host.alias], env={**dv.env, **env}, text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            for _ in range(4)]
    for run in runs:
        _, err = run.communicate(timeout=300)
        assert run.returncode == 0, err
    repo = f"{_ssh_root(sshd_host, project)}/.devenv/repo.git"
    shell = _docker_shell(sshd_host.container)
    fsck = shell("/", f"git --git-dir={repo} fsck --strict --no-progress")
    assert fsck.returncode == 0, fsck.stderr
    theirs = shell("/", f"git --git-dir={repo} for-each-ref --format='%(objectname) "
                        "%(refname)' refs/devenv/sync/heads refs/devenv/sync/tags").stdout
    ours = git(project, "for-each-ref", "--format=%(objectname) %(refname)", "refs/heads",
               "refs/tags")
    assert theirs.replace("refs/devenv/sync/", "refs/") == ours

    # A big commit, and a sync killed with SIGKILL while the target receives it.
    (project / "big.bin").write_bytes(os.urandom(60 << 20))
    git(project, "add", "big.bin")
    git(project, "commit", "-qm", "big")
    victim = subprocess.Popen([*_devenv(), "workspace", "sync", str(project), "--on",
                               sshd_host.alias], env={**dv.env, **env},
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)
    deadline = time.monotonic() + 60
    while shell("/", "pgrep -f git-receive-pack").returncode != 0:
        assert time.monotonic() < deadline, "the sync never reached the target"
        assert victim.poll() is None, "the sync ended before it could be killed"
        time.sleep(0.02)
    os.killpg(victim.pid, signal.SIGKILL)
    victim.wait(timeout=30)
    again = dv.run("workspace", "sync", str(project), "--on", sshd_host.alias, env=env)
    assert again.returncode == 0, again.stderr
    fsck = shell("/", f"git --git-dir={repo} fsck --strict --no-progress")
    assert fsck.returncode == 0, fsck.stderr
    head = shell("/", f"git --git-dir={repo} rev-parse refs/devenv/sync/heads/main").stdout
    assert head.strip() == git(project, "rev-parse", "main").strip()


def _devenv() -> list[str]:
    from tests.integration.conftest import DEVENV

    return list(DEVENV)


HOSTILE = ["../x", "-f", "a b", "HEAD", "x" * 300, "ünïcode", "a/b", ".hidden", "x.lock",
           "a..b", "stash", "$(touch pwned)", "a\nb"]


@pytest.mark.parametrize("bad", HOSTILE)
def test_hostile_workspace_names_are_refused(dv: Devenv, project: Path, bad: str,
                                             tmp_path: Path) -> None:
    before = sorted(p.name for p in tmp_path.iterdir())
    proc = dv.run("workspace", "create", "--on", "local", "--", bad, str(project))
    assert proc.returncode == 2, (bad, proc.stderr)
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) <= 2
    worktrees = dv.home / "state" / "worktrees"
    assert not worktrees.exists() or not any(worktrees.rglob("*"))
    assert git(project, "for-each-ref", "refs/devenv", "refs/heads/devenv") == ""
    assert git(project, "worktree", "list").count("\n") == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    assert not (project / "pwned").exists() and not Path("pwned").exists()


@pytest.mark.parametrize("args", [["--branch", "../../x"], ["--branch", "-f"],
                                  ["--branch", "refs/heads/x"], ["--from", "--upload-pack=x"],
                                  ["--from", "no-such-ref"]])
def test_hostile_branch_and_from_are_refused(dv: Devenv, project: Path,
                                             args: list[str]) -> None:
    proc = dv.run("workspace", "create", "w", str(project), "--on", "local", *args)
    assert proc.returncode == 2, (args, proc.stderr)
    assert "Traceback" not in proc.stderr
    assert git(project, "for-each-ref", "refs/heads/devenv", "refs/devenv") == ""


def test_rm_volumes_snapshots_first_and_restore_brings_it_back(dv: Devenv,
                                                               project: Path) -> None:
    info = dv.up(project)
    shell = _docker_shell(f"devenv-{info['name']}")
    dv.ok("workspace", "create", "w", str(project))
    made = shell("/workspaces/w", "printf 'mine\\n' >> a.txt; mkdir -p new/dir; "
                                  "head -c 100000 /dev/urandom > new/dir/blob; echo u > u.txt")
    assert made.returncode == 0, made.stderr
    before = shell("/workspaces/w", STATE).stdout

    removed = dv.ok("rm", "--volumes", str(project))
    assert "snapshot" in removed.stderr and "devenv-ws-" in removed.stdout
    assert subprocess.run(["docker", "volume", "inspect", f"devenv-ws-{info['name']}"],
                          capture_output=True, check=False).returncode != 0

    fresh = dv.up(project)  # a fresh environment, its volumes new
    dv.ok("workspace", "restore", "w", "-C", str(project))
    after = _docker_shell(f"devenv-{fresh['name']}")("/workspaces/w", STATE).stdout
    assert after == before


def test_two_agents_in_their_own_workspaces(dv: Devenv, project: Path) -> None:
    info = dv.up(project)
    shell = _docker_shell(f"devenv-{info['name']}")
    head = git(project, "rev-parse", "HEAD")

    def agent(ws: str) -> None:
        script = (f"sleep 0.5; echo 'line from {ws}' >> a.txt; {GIT_ID} commit -qam "
                  f"'agent {ws}'; echo 'unsaved {ws}' > notes-{ws}.txt; touch /tmp/done-{ws}; "
                  "exec sleep 600")
        dv.ok(str(project), "--workspace", ws, "--session", f"s-{ws}", "--", "sh", "-c",
              script)

    agent("a")
    agent("b")
    for ws in ("a", "b"):
        deadline = time.monotonic() + 60
        while shell("/", f"test -e /tmp/done-{ws}").returncode != 0:
            assert time.monotonic() < deadline, f"agent {ws} did not finish"
            time.sleep(0.2)
    a_txt = {ws: shell(f"/workspaces/{ws}", "cat a.txt").stdout for ws in ("a", "b")}
    assert "line from a" in a_txt["a"] and "line from b" not in a_txt["a"]
    assert "line from b" in a_txt["b"] and "line from a" not in a_txt["b"]

    sessions = dv.ok("sessions", str(project)).stdout
    assert any(line.split()[:1] == ["s-a"] and " a " in line for line in sessions.splitlines())

    for ws, other in (("a", "b"), ("b", "a")):
        shown = dv.ok("workspace", "diff", ws, "-C", str(project)).stdout
        assert f"agent {ws}" in shown and f"+line from {ws}" in shown
        assert f"notes-{ws}.txt" in shown and f"line from {other}" not in shown
        pulled = dv.ok("workspace", "pull", ws, "-C", str(project))
        assert f"notes-{ws}.txt" not in pulled.stdout and "untracked" in pulled.stderr
        assert git(project, "log", "-1", "--format=%s", f"devenv/{ws}").strip() == f"agent {ws}"
        assert f"line from {ws}" in git(project, "show", f"devenv/{ws}:a.txt")
    # The user's own checkout never moved.
    assert git(project, "rev-parse", "HEAD") == head
    assert git(project, "status", "--porcelain") == ""
    assert git(project, "symbolic-ref", "HEAD").strip() == "refs/heads/main"


def test_include_uncommitted_ships_the_working_tree(dv: Devenv, project: Path,
                                                    where: Where) -> None:
    (project / "a.txt").write_text("one\nedited\n")
    (project / "untracked.txt").write_text("fresh\n")
    (project / "bin" / "run.sh").unlink()
    status = git(project, "status", "--porcelain")
    dv.ok("workspace", "create", "u", str(project), "--on", where.on, "--include-uncommitted",
          env=where.env)
    path = ws_path(dv, project, "u", where)
    there = where.shell(path, "git status --porcelain; cat a.txt untracked.txt")
    assert there.stdout == status + "one\nedited\nfresh\n"
    assert git(project, "status", "--porcelain") == status  # the project's index untouched


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
        root = _ssh_root(server, project)
        shell = _docker_shell(server.container)
        assert shell(f"{root}/two", "cat later.txt").stdout == "later\n"
        refs = shell("/", f"git --git-dir={root}/.devenv/repo.git rev-parse "
                          "refs/devenv/sync/heads/main")
        assert refs.stdout.strip() == git(project, "rev-parse", "main").strip()
        assert shell("/", f"ls {root}/.devenv/tmp").stdout == ""  # no bundle left behind
    finally:
        server.docker("rm", "-f", server.container, check=False)


def test_init_hook_runs_only_when_trusted_and_copy_ignored(dv: Devenv, project: Path,
                                                           where: Where) -> None:
    devenv_dir = project / ".devenv"
    devenv_dir.mkdir()
    hook = devenv_dir / "init"
    hook.write_text('#!/bin/sh\necho "$DEVENV_WORKSPACE $DEVENV_TARGET $(pwd)" > init-ran\n'
                    'echo hello from init\n')
    hook.chmod(0o755)
    (devenv_dir / "devenv.toml").write_text('copy_ignored = [".env", "missing", "a.txt"]\n')
    (project / ".gitignore").write_text("*.log\n.env\n")
    (project / ".env").write_text("SECRET=1\n")
    (project / ".env").chmod(0o600)
    marker = project.parent / "post-checkout-ran"
    git_hook = project / ".git" / "hooks" / "post-checkout"
    git_hook.write_text(f"#!/bin/sh\ntouch {marker}\n")
    git_hook.chmod(0o755)

    made = dv.ok("workspace", "create", "w1", str(project), "--on", where.on, env=where.env)
    assert ".devenv/init was not run in w1" in made.stderr and "devenv trust" in made.stderr
    assert "a.txt is not an ignored file" in made.stderr
    path = ws_path(dv, project, "w1", where)
    there = where.shell(path, "test -e init-ran && echo ran; cat .env; stat -c %a .env")
    assert there.stdout == "SECRET=1\n600\n"
    assert not marker.exists()  # git hooks are off in devenv's git steps when untrusted

    dv.ok("trust", str(project))
    made = dv.ok("workspace", "create", "w2", str(project), "--on", where.on, env=where.env)
    assert "hello from init" in made.stderr
    path = ws_path(dv, project, "w2", where)
    assert where.shell(path, "cat init-ran").stdout == f"w2 {where.on} {path}\n"

    hook.write_text("#!/bin/sh\necho changed > init-ran\nexit 3\n")  # an agent's edit
    made = dv.ok("workspace", "create", "w3", str(project), "--on", where.on, env=where.env)
    assert "hook changed since you trusted it" in made.stderr
    assert where.shell(ws_path(dv, project, "w3", where), "test -e init-ran").returncode != 0

    dv.ok("trust", str(project))
    made = dv.ok("workspace", "create", "w4", str(project), "--on", where.on, env=where.env)
    assert ".devenv/init exited 3; the workspace w4 is usable" in made.stderr
    assert where.shell(ws_path(dv, project, "w4", where), "cat init-ran").stdout == "changed\n"


# -- an agent that plants things for the host's git ------------------------------------------

def _planted_submodule(project: Path, marker: Path) -> None:
    """What an agent in the environment can write into the mounted project: a nested
    repository whose remote is a command, an untracked .gitmodules naming it, and its gitlink
    in the index (a host git that recursed into it would run the command)."""
    nested = project / "nested"
    nested.mkdir()
    git(nested, "init", "-q")
    (nested / "f").write_text("x\n")
    git(nested, "add", "f")
    git(nested, "-c", "user.name=a", "-c", "user.email=a@b", "commit", "-qm", "n")
    git(nested, "config", "remote.origin.url", f"ext::sh -c touch% {marker}")
    git(nested, "config", "protocol.ext.allow", "always")
    (project / ".gitmodules").write_text('[submodule "nested"]\n\tpath = nested\n'
                                         "\turl = ./nested\n")
    git(project, "update-index", "--add", "--cacheinfo",
        f"160000,{git(nested, 'rev-parse', 'HEAD').strip()},nested")


def test_host_git_never_recurses_into_a_planted_submodule(dv: Devenv, project: Path,
                                                          where: Where) -> None:
    marker = project.parent / "pwned"
    dv.ok("workspace", "create", "w", str(project), "--on", where.on, env=where.env)
    _planted_submodule(project, marker)
    path = ws_path(dv, project, "w", where)
    moved = where.shell(path, f"git update-index --add --cacheinfo 160000,{'1' * 40},nested"
                              f" && {GIT_ID} commit -qm 'moves the gitlink'")
    assert moved.returncode == 0, moved.stderr
    dv.ok("workspace", "snapshot", "w", "-C", str(project), env=where.env)
    dv.run("workspace", "pull", "w", "-C", str(project), env=where.env)
    dv.ok("workspace", "create", "w2", str(project), "--on", where.on, "--include-uncommitted",
          env=where.env)
    dv.ok("workspace", "delete", "w", "-C", str(project), "--force", env=where.env)
    assert not marker.exists()


def test_a_planted_commondir_stops_devenv_git(dv: Devenv, project: Path) -> None:
    marker = project.parent / "pwned"
    evil = project / ".git" / "evil"
    git(project, "init", "-q", "--bare", str(evil))
    with open(evil / "config", "a") as f:
        f.write(f"[core]\n\tfsmonitor = touch {marker}\n")
    (project / ".git" / "commondir").write_text("evil\n")
    made = dv.run("workspace", "create", "w", str(project), "--on", "local",
                  "--include-uncommitted")
    assert made.returncode == 1 and "commondir exists" in made.stderr, made.stderr
    assert not marker.exists()


def test_a_local_worktree_cannot_choose_the_git_dir(dv: Devenv, project: Path) -> None:
    marker = project.parent / "pwned"
    dv.ok("workspace", "create", "w", str(project), "--on", "local")
    path = Path(ws_path(dv, project, "w", Where("local", _local_shell, {})))
    evil = path / ".evil"
    git(project, "init", "-q", "--bare", str(evil))
    with open(evil / "config", "a") as f:
        f.write(f"[core]\n\tbare = false\n\tfsmonitor = touch {marker}\n")
    (path / ".git").write_text("gitdir: .evil\n")  # the agent's redirect
    (path / "new.txt").write_text("work\n")
    dv.ok("workspace", "list", str(project))
    ref = dv.ok("workspace", "snapshot", "w", "-C", str(project)).stdout.split()[4]
    dv.ok("workspace", "diff", "w", "-C", str(project))
    assert not marker.exists()
    # Its own git directory, found from the project: the snapshot stands on the workspace's
    # real HEAD and holds the new file (through .evil it would stand on nothing).
    assert git(project, "rev-parse", f"{ref}^1").strip() == git(project, "rev-parse",
                                                                  "HEAD").strip()
    assert git(project, "show", f"{ref}:new.txt") == "work\n"


def test_other_branches_and_tags_count_and_come_back(dv: Devenv, project: Path,
                                                     remote: Where) -> None:
    where = remote
    dv.ok("workspace", "create", "x", str(project), "--on", where.on, env=where.env)
    path = ws_path(dv, project, "x", where)
    made = where.shell(path, f"git checkout -q -b experiment && echo e > e.txt && git add e.txt"
                             f" && {GIT_ID} commit -qm 'on a branch of its own' && "
                             f"git tag t1 && git checkout -q devenv/x")
    assert made.returncode == 0, made.stderr
    refused = dv.run("workspace", "delete", "x", "-C", str(project), env=where.env)
    assert refused.returncode == 4 and "1 commit(s)" in refused.stderr, refused.stderr

    where.shell(path, "git checkout -q experiment && echo wip >> e.txt")  # HEAD elsewhere
    refs = "git for-each-ref --format='%(objectname) %(refname)' refs/heads refs/tags"
    before = where.shell(path, STATE + refs).stdout
    dv.ok("workspace", "delete", "x", "-C", str(project), "--force", env=where.env)
    dv.ok("workspace", "restore", "x", "-C", str(project), env=where.env)
    assert where.shell(path, STATE + refs).stdout == before


def test_planted_snapshot_refs_are_not_taken_for_snapshots(dv: Devenv, project: Path) -> None:
    dv.ok("workspace", "create", "w", str(project), "--on", "local")
    path = ws_path(dv, project, "w", Where("local", _local_shell, {}))
    (Path(path) / "mine.txt").write_text("real\n")
    taken = dv.ok("workspace", "snapshot", "w", "-C", str(project)).stdout.split()[1]
    head = git(project, "rev-parse", "HEAD").strip()
    for planted in ("zzz", "x-y", "99999999T999999Z-zz"):  # an agent's, in the project's refs
        git(project, "update-ref", f"refs/devenv/snapshots/w/{planted}", head)
    listed = dv.ok("workspace", "snapshots", "w", "-C", str(project)).stdout
    assert taken in listed and "zzz" not in listed and "x-y" not in listed
    dv.ok("workspace", "delete", "w", "-C", str(project), "--force")
    dv.ok("workspace", "restore", "w", "-C", str(project))
    assert (Path(path) / "mine.txt").read_text() == "real\n"


def test_a_nested_repository_is_named_and_the_rest_is_snapshotted(dv: Devenv, project: Path,
                                                                   where: Where) -> None:
    dv.ok("workspace", "create", "n", str(project), "--on", where.on, env=where.env)
    path = ws_path(dv, project, "n", where)
    made = where.shell(path, "mkdir -p 'app one' && git -C 'app one' init -q && "
                             "echo x > 'app one/x' && echo mine > mine.txt")
    assert made.returncode == 0, made.stderr
    taken = dv.ok("workspace", "snapshot", "n", "-C", str(project), env=where.env)
    assert "app one is a repository of its own" in taken.stderr
    ref = taken.stdout.split()[4]
    assert git(project, "show", f"{ref}:mine.txt") == "mine\n"


def test_stop_snapshots_the_environments_workspaces_once_per_change(dv: Devenv,
                                                                    project: Path) -> None:
    info = dv.up(project)
    dv.ok("workspace", "create", "s", str(project))
    _docker_shell(f"devenv-{info['name']}")("/workspaces/s", "echo kept > kept.txt")
    stopped = dv.ok("stop", str(project))  # the quick path leaves it to the full one
    assert "workspace s: snapshot" in stopped.stderr
    snaps = git(project, "for-each-ref", "--format=%(refname)", "refs/devenv/snapshots/s/")
    assert len(snaps.split()) == 1
    assert git(project, "show", f"{snaps.split()[0]}:kept.txt") == "kept\n"
    dv.up(project)
    dv.ok("stop", str(project))  # nothing changed: the newest snapshot stands for it
    assert git(project, "for-each-ref", "--format=%(refname)",
               "refs/devenv/snapshots/s/").split() == snaps.split()


def test_delete_refuses_while_processes_work_in_the_workspace(dv: Devenv,
                                                              project: Path) -> None:
    dv.up(project)
    dv.ok(str(project), "--workspace", "busy", "--session", "agent", "--", "sleep", "600")
    refused = dv.run("workspace", "delete", "busy", "-C", str(project))
    assert refused.returncode == 4 and "processes work in it: sleep (" in refused.stderr, \
        refused.stderr
    assert "tmux" not in refused.stderr  # the server started there serves every session
    dv.ok("workspace", "delete", "busy", "-C", str(project), "--force")


def test_attach_runs_in_the_workspace_wherever_it_is(dv: Devenv, project: Path,
                                                     where: Where) -> None:
    dv.ok("workspace", "create", "e", str(project), "--on", where.on, env=where.env)
    ran = dv.ok(str(project), "--workspace", "e", "--", "sh", "-c",
                "pwd; git branch --show-current", env=where.env)
    assert ran.stdout == f"{ws_path(dv, project, 'e', where)}\ndevenv/e\n"
