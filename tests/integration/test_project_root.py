"""Every verb that takes PATH acts on the project PATH is in (devenv.envs.root), on the real
engine: from P/src, devenv ., exec, ssh, sessions and stop reach P's environment, and the
shell and exec start in /workspace/P/src; --here makes PATH a project of its own."""

from __future__ import annotations

import json
import subprocess
from typing import Any

from .conftest import DEVENV, Devenv


def test_a_subdirectory_reaches_its_projects_environment(dv: Devenv,
                                                         make_project: Any) -> None:
    project = make_project("p")
    (project / ".devenv").mkdir()
    src = project / "src"
    src.mkdir()
    src.chmod(0o777)
    up = dv.run("up", "--json", str(src))
    assert up.returncode == 0, up.stderr
    info = json.loads(up.stdout)
    assert info["path"] == str(project)
    assert f"devenv: project {project} (the nearest with .devenv/)" in up.stderr
    inner = "/workspace/p/src"
    # exec: the fast path (the index), and the full one (--timeout goes through the library)
    assert dv.ok("exec", str(src), "--", "pwd").stdout == f"{inner}\n"
    assert dv.ok("exec", "--timeout", "60", str(src), "--", "pwd").stdout == f"{inner}\n"
    assert dv.ok("exec", "--timeout", "60", "--cwd", "..", str(src), "--",
                 "pwd").stdout == "/workspace/p\n"
    # the shell (devenv PATH -- CMD, no terminal: docker exec) and ssh
    shell = dv.ok(str(src), "--", "pwd")
    assert shell.stdout == f"{inner}\n" and f"devenv: project {project}" in shell.stderr
    assert dv.ok("ssh", str(src), "--", "pwd").stdout == f"{inner}\n"
    assert json.loads(dv.ok("sessions", "--json", str(src)).stdout) == []
    assert dv.containers() == [info["container"]]  # nothing else was started
    # stop from the subdirectory stops the project's environment
    assert dv.ok("stop", str(src)).stdout == f"stopped {info['name']}\n"
    assert dv.containers() == []
    # --here: the directory as it is, an environment of its own, which then is a project
    # devenv knows (so src reaches it from now on)
    here = json.loads(dv.ok("up", "--json", "--here", str(src)).stdout)
    assert here["path"] == str(src) and here["name"] != info["name"]
    assert dv.ok("exec", str(src), "--", "pwd").stdout == "/workspace/src\n"
    assert dv.ok("exec", str(project), "--", "pwd").stdout == "/workspace/p\n"
    assert sorted(dv.containers()) == sorted([info["container"], here["container"]])


def test_without_devenv_dir_the_top_of_the_git_work_tree(dv: Devenv, make_project: Any) -> None:
    project = make_project("g")
    subprocess.run(["git", "init", "-q", str(project)], check=True, timeout=60)
    deep = project / "a" / "b"
    deep.mkdir(parents=True)
    got = dv.ok("exec", str(deep), "--", "pwd")
    assert got.stdout == "/workspace/g/a/b\n"
    listed = json.loads(dv.ok("list", "--json").stdout)
    assert [row["path"] for row in listed] == [str(project)]


def test_what_the_agent_plants_never_redirects_a_command(dv: Devenv, make_project: Any) -> None:
    """Planted by the environment in its project: a directory named like another
    environment, and a .devenv/ in a subdirectory. Neither steers the user's next command
    to another environment; an empty PATH|NAME is a usage error."""
    import os

    project = make_project("p")
    other = make_project("other")
    info, theirs = dv.up(project), dv.up(other)
    os.mkdir(project / theirs["name"])  # a word that is a directory here and a name
    planted = project / "src" / ".devenv"
    planted.mkdir(parents=True)
    (planted / "devenv.toml").write_text('[env]\nPLANTED = "yes"\n')

    def run_in(cwd: Any, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*DEVENV, *args], cwd=cwd, env=dv.env, capture_output=True,
                              text=True, timeout=300, check=False)

    by_name = run_in(project, "exec", theirs["name"], "--", "hostname")
    assert by_name.returncode != 0 or by_name.stdout.strip() != info["name"], by_name
    stop = run_in(project, "stop", theirs["name"])
    assert f"stopped {info['name']}" not in stop.stdout
    # (the word is the planted directory, not a project: nothing of info's was stopped)
    assert info["container"] in dv.containers()
    got = run_in(project / "src", "exec", ".", "--", "sh", "-c", 'echo "$PLANTED" "$PWD"')
    assert got.returncode == 0 and got.stdout == " /workspace/p/src\n", got
    # no third environment was started from the planted config
    assert set(dv.containers()) <= {info["container"], theirs["container"]}
    empty = run_in(project / "src", "stop", "")
    assert empty.returncode == 2 and "empty" in empty.stderr
    assert info["container"] in dv.containers()
