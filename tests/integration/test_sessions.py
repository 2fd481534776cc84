"""Persistent sessions (`devenv PATH --session NAME`, `devenv sessions`) against a real
environment: the session outlives a killed client and a closed terminal, and re-attaching
finds its command still running."""

from __future__ import annotations

import json
import os
import re
import signal
import time
from pathlib import Path
from typing import Any

from .conftest import DEVENV, Devenv
from .test_attach import Session

TICKER = ["sh", "-c", "i=0; while :; do i=$((i+1)); echo tick-$i; sleep 0.2; done"]


def sessions(dv: Devenv, project: Path) -> dict[str, dict[str, Any]]:
    rows = json.loads(dv.ok("sessions", str(project), "--json").stdout)
    return {row["name"]: row for row in rows}


def wait_state(dv: Devenv, project: Path, name: str, state: str) -> dict[str, Any]:
    deadline = time.monotonic() + 20
    while True:
        row = sessions(dv, project).get(name)
        if row is not None and row["state"] == state:
            return row
        assert time.monotonic() < deadline, f"{name} never {state}: {row}"
        time.sleep(0.2)


def last_tick(output: str) -> int:
    ticks = re.findall(r"tick-(\d+)", output)
    assert ticks, output[-500:]
    return int(ticks[-1])


def test_session_survives_a_killed_client_and_a_closed_terminal(dv: Devenv,
                                                               make_project: Any) -> None:
    project = make_project("agentproj")
    env = {**dv.env, "TERM": "xterm-256color"}
    dv.up(project)

    first = Session([*DEVENV, str(project), "--session", "agent", "--", *TICKER], env)
    first.expect("tick-3")
    row = wait_state(dv, project, "agent", "attached")
    assert row["command"].startswith("sh -c ") and "tick-" in row["command"]
    # The client dies (kill -9 of everything in the terminal): the session detaches and
    # its command keeps running.
    os.killpg(first.proc.pid, signal.SIGKILL)
    first.proc.wait(10)
    os.close(first.master)
    row = wait_state(dv, project, "agent", "detached")
    assert row["running"] in ("sh", "sleep")
    listing = dv.ok("sessions", str(project)).stdout
    assert re.search(r"^agent\s+detached\s+.*sh -c", listing, re.M), listing

    # Re-attaching finds it still running: the ticks went on meanwhile.
    time.sleep(1)
    second = Session([*DEVENV, str(project), "--session", "agent"], env)
    before = last_tick(second.expect("tick-"))
    time.sleep(1)
    assert last_tick(second.expect(f"tick-{before + 2}")) > before
    wait_state(dv, project, "agent", "attached")
    # Closing the terminal (the pty goes away, the client gets a hang-up) detaches it too.
    os.close(second.master)
    second.proc.wait(10)
    wait_state(dv, project, "agent", "detached")

    # A third attach, from a terminal the image has no terminfo for, detaches with tmux's
    # own key (C-b d) and exits 0.
    third = Session([*DEVENV, str(project), "--session", "agent"],
                    {**env, "TERM": "xterm-no-such-terminal"})
    third.expect("tick-")
    wait_state(dv, project, "agent", "attached")
    third.send("\x02d")
    assert third.close() == 0
    wait_state(dv, project, "agent", "detached")


def test_sessions_without_a_terminal_listing_and_kill(dv: Devenv, make_project: Any) -> None:
    project = make_project("jobs")
    # No terminal: the session is started detached (starting the environment first).
    got = dv.run(str(project), "--session", "build", "--", "sleep", "600")
    assert got.returncode == 0, got.stderr
    assert f"session build started, detached; attach: devenv {project} --session build" \
        in got.stderr
    again = dv.run(str(project), "--session", "build", "--", "touch", "ran")
    assert again.returncode == 4 and "the command was not run" in again.stderr
    assert dv.run(str(project), "--session", "build").returncode == 0  # ensure it runs
    assert not (project / "ran").exists()
    dv.ok(str(project), "--session", "shell")  # no command: a login shell

    rows = sessions(dv, project)
    assert set(rows) == {"build", "shell"}
    assert rows["build"]["command"] == "sleep 600" and rows["build"]["running"] == "sleep"
    assert rows["shell"]["command"] == "" and rows["shell"]["running"] == "bash"
    table = dv.ok("sessions", str(project)).stdout.splitlines()
    assert table[0].split() == ["SESSION", "STATE", "CREATED", "WORKSPACE", "RUNNING",
                                "COMMAND"]
    assert "(login shell)" in table[2] and rows["shell"]["workspace"] == ""

    # The command runs in the project directory, with the environment's own variables.
    dv.ok(str(project), "--session", "probe", "--", "sh", "-c",
          'echo "$PWD $DEVENV_NAME $XDG_RUNTIME_DIR" > probe.txt')
    deadline = time.monotonic() + 10
    while not (project / "probe.txt").exists():
        assert time.monotonic() < deadline
        time.sleep(0.1)
    pwd, name, runtime = (project / "probe.txt").read_text().split()
    assert pwd == f"/workspace/{project.name}" and name and runtime.startswith("/run/user/")

    bad = dv.run("sessions", str(project), "--kill", "nope")
    assert bad.returncode == 5 and "no session 'nope'" in bad.stderr
    assert "build" in bad.stderr  # the hint lists the sessions there are
    dv.ok("sessions", str(project), "--kill", "build")
    assert set(sessions(dv, project)) == {"shell"}

    assert dv.run(str(project), "--session", "a:b").returncode == 125
    # Sessions keep agents alive: nothing ends them without --force.
    other = make_project("bystander")
    dv.up(other)
    # (stop of one environment: the quick stop sees more than init and sshd, and leaves it
    # to the full path, which asks tmux)
    for argv in (["stop", str(project)], ["stop", str(project), str(other)], ["stop", "--all"],
                 ["rm", str(project)], ["up", "--recreate", str(project)]):
        refused = dv.run(*argv)
        assert refused.returncode == 4, (argv, refused.stderr)
        assert "would end running sessions" in refused.stderr and "(shell)" in refused.stderr
        assert "--force" in refused.stderr
        assert len(dv.containers()) == 2  # nothing was stopped, not even the bystander
    assert set(sessions(dv, project)) == {"shell"}
    dv.ok("stop", str(other))  # no sessions there: no questions
    dv.ok("stop", "--force", str(project))
    stopped = dv.ok("sessions", str(project), "--json")
    assert json.loads(stopped.stdout) == []
    unknown = dv.run("sessions", "no-such-env")
    assert unknown.returncode == 5 and "no environment named" in unknown.stderr


def test_ssh_sessions_see_the_environment_docker_gives(dv: Devenv, make_project: Any) -> None:
    project = make_project("envproj")
    (project / ".devenv").mkdir()
    tricky = "a \"quoted\" \\back\\ 'single' #hash $dollar\ttab"
    (project / ".devenv" / "devenv.toml").write_text(
        '[env]\nPLAIN = "hello"\nEMPTY = ""\nTRICKY = ' + json.dumps(tricky) + "\n"
        'MULTI = "two\\nlines"\n')
    info = dv.up(project)
    script = 'printf "%s\\n" "$PLAIN" "[$EMPTY]" "$TRICKY" "$PATH" "$SSL_CERT_FILE" "$HOME"'
    over_ssh = dv.ssh(f"devenv-{info['name']}", script)
    assert over_ssh.returncode == 0, over_ssh.stderr
    via_exec = dv.ok("exec", str(project), "--", "sh", "-c", script)
    assert over_ssh.stdout == via_exec.stdout
    assert over_ssh.stdout.splitlines()[:3] == ["hello", "[]", tricky]
    # A newline cannot be passed to sshd: left out, and the status log says so.
    assert dv.ssh(f"devenv-{info['name']}", "echo ${MULTI-unset}").stdout == "unset\n"
    assert dv.ok("exec", str(project), "--", "printenv", "MULTI").stdout == "two\nlines\n"
    log = dv.home / "state" / "envs" / info["name"] / "status" / "init.log"
    assert "MULTI holds a newline" in log.read_text()
    # The environment's LANG wins over the client's; other locale variables pass. (Its own
    # connection: OpenSSH's multiplexing clients do not pass SetEnv on.)
    lang = dv.ssh(f"devenv-{info['name']}", "echo $LANG $LC_TIME",
                  extra=("-o", "ControlPath=none",
                         "-o", "SetEnv=LANG=en_US.UTF-8 LC_TIME=en_US.UTF-8"))
    assert lang.stdout == "C.UTF-8 en_US.UTF-8\n"
    # sshd still sets the session's own variables.
    ssh_vars = dv.ssh(f"devenv-{info['name']}", "echo $USER $SSH_CONNECTION")
    user, *connection = ssh_vars.stdout.split()
    assert user == "dev" and len(connection) == 4 and connection[-1] == "2222"
