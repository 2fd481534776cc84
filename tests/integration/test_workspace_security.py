"""An agent against the host: hostile workspace names, branches and revisions; the init hook
and trust; things planted for the host's git (submodules, commondir, worktree redirects,
snapshot refs)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.conftest import Devenv
from tests.integration.workspace_fixtures import (  # noqa: F401 - fixtures
    GIT_ID,
    Where,
    git,
    local_shell,
    project,
    remote,
    sshd_host,
    where,
    ws_path,
)

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
    path = Path(ws_path(dv, project, "w", Where("local", local_shell, {})))
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


def test_planted_snapshot_refs_are_not_taken_for_snapshots(dv: Devenv, project: Path) -> None:
    dv.ok("workspace", "create", "w", str(project), "--on", "local")
    path = ws_path(dv, project, "w", Where("local", local_shell, {}))
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
