"""Lifecycle hooks and config drift on the real engine."""

from __future__ import annotations

import json
import subprocess
import time
from typing import Any

from .conftest import DEVENV, Devenv


def configure(project: Any, text: str) -> None:
    (project / ".devenv").mkdir(exist_ok=True)
    (project / ".devenv" / "devenv.toml").write_text(text)


def counts(dv: Devenv, project: Any) -> tuple[int, int]:
    got = dv.ok("exec", str(project), "--", "sh", "-c",
                "wc -l < ~/created; wc -l < /workspace/proj/started").stdout.split()
    return int(got[0]), int(got[1])


def test_post_create_once_post_start_every_start_never_on_attach(dv: Devenv,
                                                                  make_project: Any) -> None:
    project = make_project()
    configure(project, 'post_create = "echo c >> ~/created && echo CREATED-HOOK"\n'
                       'post_start = ["sh", "-c", "echo s >> /workspace/proj/started"]\n')
    first = dv.ok("up", str(project))
    assert "CREATED-HOOK" in first.stderr  # the hook's output streams to the terminal
    assert counts(dv, project) == (1, 1)
    dv.ok("up", str(project))  # attaches: no hook
    dv.ok("exec", str(project), "--", "true")
    assert counts(dv, project) == (1, 1)
    for expected_starts in (2, 3):
        dv.ok("stop", str(project))
        dv.ok("up", str(project))
        assert counts(dv, project) == (1, expected_starts)
    log = dv.ok("logs", str(project)).stdout
    assert log.count("== post_create exit 0") == 1 and log.count("== post_start exit 0") == 3
    assert "CREATED-HOOK" in log


def test_failing_hook_names_itself_and_leaves_the_environment(dv: Devenv,
                                                              make_project: Any) -> None:
    project = make_project()
    configure(project, 'post_create = "echo boom >&2; exit 3"\n')
    got = dv.run("up", str(project))
    assert got.returncode == 1
    error = next(line for line in got.stderr.splitlines() if line.startswith("devenv: error"))
    assert "post_create failed (exit 3)" in error and "hooks.log" in error
    assert "boom" in dv.ok("logs", str(project)).stdout
    assert dv.run("exec", str(project), "--", "true").returncode == 0  # left running


def test_drift_is_reported_and_recreate_applies_it(dv: Devenv, make_project: Any) -> None:
    project = make_project()
    configure(project, '[env]\nA = "1"\n')
    info = dv.up(project)
    dv.ok("exec", str(project), "--", "sh", "-c", "echo keep > ~/precious")
    configure(project, '[env]\nA = "1"\nB = "2"\n')
    attach = dv.run("exec", str(project), "--", "sh", "-c", 'echo "B=$B"')
    assert attach.stdout == "B=\n"  # not applied behind the user's back ...
    assert "config changed since it started: env.B added" in attach.stderr  # ... but said
    assert "devenv up --recreate" in attach.stderr
    again = json.loads(dv.ok("up", "--json", "--recreate", str(project)).stdout)
    assert again["started"] and again["port"] == info["port"]
    after = dv.run("exec", str(project), "--", "sh", "-c", 'echo "B=$B"; cat ~/precious')
    assert after.stdout == "B=2\nkeep\n"
    assert "config changed" not in after.stderr


def test_hooks_run_once_also_when_up_is_killed_during_post_create(
        dv: Devenv, make_project: Any) -> None:
    """kill -9 of ``devenv up`` while post_create runs: the next ``up`` does not run
    post_create again (it was claimed, and finishes in the container on its own), but runs
    the post_start that start never reached, once."""
    project = make_project()
    # post_create runs long enough that the kill lands while it runs, however loaded the
    # machine: a kill after it ended and post_start was claimed would (rightly) leave that
    # post_start unrun (hooks run at most once).
    configure(project, 'post_create = "sleep 8; echo c >> ~/created"\n'
                       'post_start = ["sh", "-c", "echo s >> /workspace/proj/started"]\n')
    up = subprocess.Popen([*DEVENV, "up", str(project)], env=dv.env,
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while not any("== post_create" in p.read_text()
                  for p in dv.home.glob("state/envs/*/logs/hooks.log")):
        assert up.poll() is None and time.monotonic() < deadline, "post_create never began"
        time.sleep(0.05)
    began = time.monotonic()
    up.kill()
    up.wait()
    assert time.monotonic() < began + 8, "the kill came after post_create ended"
    dv.ok("up", str(project))  # runs the due post_start only
    deadline = time.monotonic() + 60  # the orphaned post_create finishes in the container
    while dv.run("exec", str(project), "--", "test", "-e", "/home/dev/created").returncode:
        assert time.monotonic() < deadline, "the orphaned post_create never finished"
        time.sleep(0.5)
    assert counts(dv, project) == (1, 1)
    dv.ok("up", str(project))
    assert counts(dv, project) == (1, 1)
    dv.ok("stop", str(project))
    dv.ok("up", str(project))
    assert counts(dv, project) == (1, 2)


def test_logs_on_a_terminal_show_escape_sequences_instead_of_obeying_them(
        dv: Devenv, make_project: Any) -> None:
    project = make_project()
    configure(project, "post_create = \"printf 'a\\\\033]0;title\\\\007b\\\\n'\"\n")
    dv.ok("up", str(project))
    shown = subprocess.run(["script", "-qec", " ".join([*DEVENV, "logs", str(project)]),
                            "/dev/null"], capture_output=True, text=True, env=dv.env,
                           timeout=60, check=False)
    assert shown.returncode == 0, shown.stderr
    assert "a\\x1b]0;title\\x07b" in shown.stdout and "\x1b" not in shown.stdout
