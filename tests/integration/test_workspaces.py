"""Workspaces on every kind of target (the project's environment, this machine, an SSH host
in a container), with real git: the data-loss matrix (delete refuses every kind of unsaved
work and leaves every byte; --force deletes; restore brings back every byte and commit),
two agents on one project, pull and diff, snapshots on stop and rm."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

from tests.integration.conftest import Devenv
from tests.integration.workspace_fixtures import (  # noqa: F401 - fixtures
    GIT_ID,
    STATE,
    Where,
    docker_shell,
    git,
    project,
    remote,
    sshd_host,
    where,
    ws_path,
)

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


def test_rm_volumes_snapshots_first_and_restore_brings_it_back(dv: Devenv,
                                                               project: Path) -> None:
    info = dv.up(project)
    shell = docker_shell(f"devenv-{info['name']}")
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
    after = docker_shell(f"devenv-{fresh['name']}")("/workspaces/w", STATE).stdout
    assert after == before


def test_a_workspace_whose_git_went_is_never_removed_with_its_files(dv: Devenv,
                                                                    project: Path) -> None:
    info = dv.up(project)
    shell = docker_shell(f"devenv-{info['name']}")
    dv.ok("workspace", "create", "w", str(project))
    shell("/workspaces/w", "echo precious > work.txt && rm -rf .git")  # an agent's doing
    refused = dv.run("rm", "--volumes", "--force", str(project))
    assert refused.returncode != 0 and "has files but no .git" in refused.stderr, \
        refused.stderr
    assert "Traceback" not in refused.stderr
    assert shell("/workspaces/w", "cat work.txt").stdout == "precious\n"
    stopped = dv.ok("stop", str(project))  # a stop is never held hostage: it warns
    assert "has files but no .git" in stopped.stderr
    dv.up(project)
    assert shell("/workspaces/w", "cat work.txt").stdout == "precious\n"


def test_two_agents_in_their_own_workspaces(dv: Devenv, project: Path) -> None:
    info = dv.up(project)
    shell = docker_shell(f"devenv-{info['name']}")
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
    docker_shell(f"devenv-{info['name']}")("/workspaces/s", "echo kept > kept.txt")
    stopped = dv.ok("stop", str(project))  # the quick path leaves it to the full one
    assert "workspace s: snapshot" in stopped.stderr
    snaps = git(project, "for-each-ref", "--format=%(refname)", "refs/devenv/snapshots/s/")
    assert len(snaps.split()) == 1
    assert git(project, "show", f"{snaps.split()[0]}:kept.txt") == "kept\n"
    dv.up(project)
    dv.ok("stop", str(project))  # nothing changed: the newest snapshot stands for it
    assert git(project, "for-each-ref", "--format=%(refname)",
               "refs/devenv/snapshots/s/").split() == snaps.split()


def test_recreate_snapshots_first_and_the_workspace_stays(dv: Devenv, project: Path) -> None:
    info = dv.up(project)
    dv.ok("workspace", "create", "r", str(project))
    docker_shell(f"devenv-{info['name']}")("/workspaces/r", "echo mine > mine.txt")
    again = dv.run("up", "--recreate", str(project))
    assert again.returncode == 0 and "workspace r: snapshot" in again.stderr, again.stderr
    snaps = git(project, "for-each-ref", "--format=%(refname)", "refs/devenv/snapshots/r/")
    assert git(project, "show", f"{snaps.split()[0]}:mine.txt") == "mine\n"
    got = docker_shell(f"devenv-{info['name']}")("/workspaces/r", "cat mine.txt")
    assert got.stdout == "mine\n"  # the volume stayed


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


def test_list_says_what_each_workspace_holds_in_one_go(dv: Devenv, project: Path,
                                                       remote: Where) -> None:
    where = remote
    for name in ("a", "b", "c", "d", "e"):  # more than the four the target asks at once
        dv.ok("workspace", "create", name, str(project), "--on", where.on, env=where.env)
    where.shell(ws_path(dv, project, "b", where), "echo x > new.txt && echo y >> a.txt")
    gone = ws_path(dv, project, "d", where)
    where.shell("/", f"mv {gone} {gone}.moved")
    listed = json.loads(dv.ok("workspace", "list", "--json", str(project),
                              env=where.env).stdout)
    status = {w["name"]: w["status"] for w in listed}
    assert status["a"] == status["c"] == status["e"] == "clean"
    assert status["b"] == "1 modified, 1 untracked"
    assert status["d"].startswith("unreachable: ") and "d" in status["d"]
