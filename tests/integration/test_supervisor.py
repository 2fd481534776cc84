"""Issue 12's terminals and supervisor against a real environment: a killed terminal leaves
no shell or job behind (nohup jobs and tmux sessions stay), sshd comes back in the same
container after an agent kills it, and a stop gives a session's TERM handler its time, within
--time."""

from __future__ import annotations

import shlex
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .conftest import DEVENV, Devenv


def top(container: str) -> list[str]:
    """The command lines running in ``container``."""
    out = subprocess.run(["docker", "top", container, "-o", "pid,args"], capture_output=True,
                         text=True, timeout=30, check=True).stdout
    return [line.split(None, 1)[1].strip() for line in out.splitlines()[1:] if line.strip()]


def wait_for(check: Callable[[], object], what: str, timeout: float = 20) -> object:
    deadline = time.monotonic() + timeout
    while True:
        got = check()
        if got:
            return got
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def container_id(name: str) -> str:
    return subprocess.run(["docker", "inspect", "-f", "{{.Id}}", name], capture_output=True,
                          text=True, timeout=30, check=True).stdout.strip()


def test_killed_terminals_leave_nothing_behind(dv: Devenv, make_project: Any,
                                               tmp_path: Path) -> None:
    project = make_project("term")
    env = dv.up(project)
    container = env["container"]
    dv.ok(str(project), "--session", "keep", "--", "sleep", "999")
    tmux = ["tmux", "-L", f"t{tmp_path.name[-20:]}", "-f", "/dev/null"]
    attach = shlex.join([*DEVENV, str(project)])
    try:
        # A session of its own holds the tmux server up: killing a test's last session
        # would end the server, and the next new-session can race its exit (exit 1).
        subprocess.run([*tmux, "new-session", "-d", "-s", "hold", "sleep 3600"], check=True,
                       timeout=30)
        for i in range(10):
            subprocess.run([*tmux, "new-session", "-d", "-s", f"t{i}", "-x", "80", "-y", "24",
                            attach], env={**dv.env, "TERM": "xterm"}, check=True, timeout=30)
            if i == 0:  # a job that asked to outlive its terminal
                wait_for(lambda: any(a == "bash -l" for a in top(container)), "a shell")
                subprocess.run([*tmux, "send-keys", "-t", "t0",
                                "nohup sleep 888 >/dev/null 2>&1 &", "Enter"], check=True,
                               timeout=30)
                wait_for(lambda: "sleep 888" in top(container), "the nohup job")
            # Typed into the terminal at once: the shell reads it once it has started.
            subprocess.run([*tmux, "send-keys", "-t", f"t{i}", f"sleep 777{i}", "Enter"],
                           check=True, timeout=30)
            wait_for(lambda i=i: f"sleep 777{i}" in top(container), f"sleep 777{i}")
            subprocess.run([*tmux, "kill-session", "-t", f"t{i}"], check=True, timeout=30)

        def cleared() -> bool:
            left = top(container)
            return not any(a.startswith("sleep 777") or a == "bash -l" for a in left)

        wait_for(cleared, "the killed terminals' shells and jobs to end", timeout=10)
        left = top(container)
        assert "sleep 888" in left  # nohup
        assert "sleep 999" in left and any(a.startswith("tmux") for a in left)
    finally:
        subprocess.run([*tmux, "kill-server"], capture_output=True, timeout=30, check=False)


def test_sshd_comes_back_and_a_stop_is_graceful(dv: Devenv, make_project: Any) -> None:
    project = make_project("sup")
    env = dv.up(project)
    container, alias = env["container"], env["ssh_host"]
    before = container_id(container)
    dv.run("exec", str(project), "--", "pkill", "-x", "sshd")  # it ends its own connection
    started = time.monotonic()
    wait_for(lambda: dv.run("exec", str(project), "--", "true").returncode == 0, "exec",
             timeout=2)
    wait_for(lambda: dv.ssh(alias, "true").returncode == 0, "ssh", timeout=2)
    assert time.monotonic() - started < 2
    assert container_id(container) == before  # the same container, not a restart

    # A session whose command traps TERM: the stop waits for it to finish its handler.
    mark = project / "trapped"
    handler = f"sleep 1; echo done > {shlex.quote(str(mark.name))}; exit 0"
    dv.ok(str(project), "--session", "graceful", "--", "sh", "-c",
          f"trap {shlex.quote(handler)} TERM; sleep 1000 & wait")
    dv.ok("stop", "--force", str(project))
    assert mark.read_text() == "done\n"
    assert dv.containers() == []


def test_stop_time_bounds_a_process_that_ignores_term(dv: Devenv, make_project: Any) -> None:
    project = make_project("stubborn")
    dv.up(project)
    dv.ok(str(project), "--session", "stubborn", "--", "sh", "-c",
          "trap '' TERM HUP; while :; do sleep 0.1; done")
    started = time.monotonic()
    dv.ok("stop", "--force", "--time", "1", str(project))
    took = time.monotonic() - started
    assert 1 <= took < 8, took  # waited for it, then Docker killed it
    assert dv.containers() == []
    bad = dv.run("stop", "--time", "-1", str(project))
    assert bad.returncode == 2 and "--time must be 0 to 600 seconds" in bad.stderr
