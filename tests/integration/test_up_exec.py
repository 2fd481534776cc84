from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

from .conftest import Devenv, expected_uid


def test_up_prints_a_working_ssh_line(dv: Devenv, make_project: Any) -> None:
    project = make_project("api", parent="x")
    human = dv.ok("up", str(project))
    assert "started" in human.stderr
    assert f"project: {project}" in human.stdout
    ssh_line = next(line for line in human.stdout.splitlines() if line.startswith("ssh:"))
    # Run the printed line exactly as a user would paste it (plus a command).
    pasted = ssh_line.removeprefix("ssh:").strip() + " -o BatchMode=yes id -u"
    out = subprocess.run(pasted, shell=True,  # noqa: S602 - run the printed line as pasted
                         capture_output=True, text=True, timeout=60, check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == str(expected_uid())

    info = dv.up(project)
    assert info["started"] is False
    assert info["name"].endswith("-api") and info["container"] == "devenv-" + info["name"]
    assert info["project"].endswith("/api") and info["path"] == str(project)
    assert info["workspace"] == "/workspace/api"
    assert info["ssh_command"] == ["ssh", "-F", str(dv.ssh_config), info["container"]]
    assert dv.containers() == [info["container"]]


def test_exec_runs_in_the_project_and_passes_exit_codes(dv: Devenv, make_project: Any) -> None:
    project = make_project("hello")
    # exec starts the environment when it is not running.
    first = dv.run("exec", str(project), "--", "sh", "-c", "id -u; pwd; echo err >&2")
    assert first.returncode == 0, first.stderr
    assert first.stdout.split() == [str(expected_uid()), "/workspace/hello"]
    assert "err" in first.stderr
    assert dv.run("exec", str(project), "--", "sh", "-c", "exit 7").returncode == 7
    missing = dv.run("exec", str(project), "--", "no-such-cmd")
    # Docker's convention (126 on engine 20.10, 127 on newer ones), passed through as is.
    assert missing.returncode in (126, 127)
    assert "no-such-cmd" in missing.stdout + missing.stderr
    piped = dv.run("exec", str(project), "--", "tr", "a-z", "A-Z", input="hello\n")
    assert piped.stdout == "HELLO\n"
    spaced = dv.run("exec", str(project), "--", "printf", "%s|", "a b", "$(x)", "'q'")
    assert spaced.stdout == "a b|$(x)|'q'|"


def test_files_created_inside_belong_to_the_host_user(dv: Devenv, make_project: Any) -> None:
    project = make_project()
    dv.ok("exec", str(project), "--", "sh", "-c", "mkdir d && echo hi > d/f")
    created = project / "d" / "f"
    assert created.read_text() == "hi\n"
    assert created.stat().st_uid == expected_uid()
    assert (project / "d").stat().st_uid == expected_uid()


def test_installed_launcher_works(dv: Devenv, make_project: Any) -> None:
    launcher = Path(sys.executable).with_name("devenv")
    assert launcher.exists(), "scripts/venv.sh installs bin/devenv next to the interpreter"
    project = make_project()
    out = subprocess.run([str(launcher), "exec", str(project), "--", "echo", "ok"],
                         capture_output=True, text=True, timeout=300, env=dv.env, check=False)
    assert (out.returncode, out.stdout) == (0, "ok\n"), out.stderr
    version = subprocess.run([str(launcher), "--version"], capture_output=True, text=True,
                             check=True, env=dv.env)
    assert version.stdout.startswith("devenv ")


def test_shells_and_ssh_share_the_container(dv: Devenv, make_project: Any) -> None:
    project = make_project()
    info = dv.up(project)
    dv.ok("exec", str(project), "--", "sh", "-c", "echo from-exec > /tmp/shared")
    got = dv.ssh(info["container"], "cat", "/tmp/shared")
    assert got.stdout == "from-exec\n", got.stderr
    # Interactive SSH logins start in the project like `devenv .` does.
    login = dv.ssh(info["container"], "bash", "-lc", "pwd", extra=("-tt",))
    assert login.stdout.replace("\r", "").strip() == "/workspace/proj", login.stderr
