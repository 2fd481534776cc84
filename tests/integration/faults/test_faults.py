"""Faults against the real engine and OpenSSH (docs/reliability.md): every case ends within its
stated bound with a clear error (or gets the command run another way), and the next command
succeeds once the fault is gone. Run alone with ``bash scripts/faults.sh``."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ..conftest import DEVENV, Devenv

# The bounds docs/reliability.md states, plus room for a loaded CI machine.
START_TIMEOUT = 15.0  # devenv.envs.transport.START_TIMEOUT
SLACK = 10.0


def timed(dv: Devenv, *args: str, timeout: float = 120,
          env: dict[str, str] | None = None) -> tuple[subprocess.CompletedProcess[str], float]:
    began = time.monotonic()
    got = dv.run(*args, timeout=timeout, env=env)
    took = time.monotonic() - began
    # Shown with pytest -s (docs/reliability.md's table comes from these lines).
    print(f"\nfault: devenv {args[0]}: exit {got.returncode} after {took:.2f}s: "
          f"{(got.stderr.strip().splitlines() or [''])[-1][:120]}")
    return got, took


def no_traceback(got: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in got.stderr and "internal error" not in got.stderr, got.stderr


def master(dv: Devenv, alias: str, op: str = "check") -> bool:
    """``ssh -O check|exit`` on the environment's ControlMaster."""
    return subprocess.run(["ssh", "-F", str(dv.ssh_config), "-O", op, alias],
                          capture_output=True, timeout=30, check=False).returncode == 0


def warm(dv: Devenv, env: dict[str, Any]) -> None:
    """Make sure the environment's SSH master runs (a cold exec starts it)."""
    deadline = time.monotonic() + 15
    while not master(dv, env["container"]):
        assert time.monotonic() < deadline, "no SSH master started"
        dv.ok("exec", env["path"], "--", "true")
        time.sleep(0.2)


def cool(dv: Devenv, env: dict[str, Any]) -> None:
    """No SSH master: the next exec takes the docker exec path."""
    master(dv, env["container"], "exit")
    deadline = time.monotonic() + 10
    while master(dv, env["container"]):
        assert time.monotonic() < deadline
        time.sleep(0.1)


@pytest.fixture
def env(dv: Devenv, make_project: Any) -> Iterator[dict[str, Any]]:
    info = dv.up(make_project())
    yield info
    subprocess.run(["docker", "unpause", info["container"]], capture_output=True, check=False)


@pytest.mark.parametrize("connection", ["warm", "cold"])
def test_paused_environment(dv: Devenv, env: dict[str, Any], connection: str) -> None:
    path = env["path"]
    if connection == "warm":
        warm(dv, env)
    else:
        cool(dv, env)
    subprocess.run(["docker", "pause", env["container"]], check=True, capture_output=True)
    got, took = timed(dv, "exec", path, "--", "echo", "ran")
    no_traceback(got)
    assert got.returncode == 125 and "ran" not in got.stdout, got.stderr
    assert "paused" in got.stderr
    assert took < START_TIMEOUT + SLACK, took
    subprocess.run(["docker", "unpause", env["container"]], check=True, capture_output=True)
    assert dv.ok("exec", path, "--", "echo", "ran").stdout == "ran\n"


def test_sshd_stopped_behind_a_warm_connection(dv: Devenv, env: dict[str, Any]) -> None:
    """sshd hangs (SIGSTOP): the command is given up over SSH and runs over docker exec."""
    path = env["path"]
    warm(dv, env)
    subprocess.run(["docker", "exec", env["container"], "pkill", "-STOP", "-x", "sshd"],
                   check=True)
    try:
        got, took = timed(dv, "exec", path, "--", "echo", "ran")
        no_traceback(got)
        assert got.returncode == 0 and got.stdout == "ran\n", got.stderr
        assert took < START_TIMEOUT + SLACK, took
    finally:
        subprocess.run(["docker", "exec", env["container"], "pkill", "-CONT", "-x", "sshd"],
                       check=False)
    assert dv.ok("exec", path, "--", "echo", "again").stdout == "again\n"


def test_network_disconnected(dv: Devenv, env: dict[str, Any]) -> None:
    path = env["path"]
    warm(dv, env)
    inspect = subprocess.run(["docker", "inspect", "-f",
                              "{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}",
                              env["container"]], capture_output=True, text=True, check=True)
    (network,) = inspect.stdout.split()
    subprocess.run(["docker", "network", "disconnect", network, env["container"]], check=True)
    got, took = timed(dv, "exec", path, "--", "echo", "ran")
    no_traceback(got)
    assert got.returncode == 0 and got.stdout == "ran\n", got.stderr
    assert took < START_TIMEOUT + SLACK, took
    subprocess.run(["docker", "network", "connect", network, env["container"]], check=True)


@contextlib.contextmanager
def locked_state(dv: Devenv) -> Iterator[None]:
    """Another process holds devenv's state database (a write lock) for the block."""
    holder = sqlite3.connect(dv.home / "state" / "state.db", isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        yield
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def test_state_database_locked(dv: Devenv, make_project: Any) -> None:
    project = make_project()
    dv.up(project)
    dv.ok("stop", str(project))
    with locked_state(dv):
        # exec --timeout bounds the whole call: not started within it is 125, saying why.
        got, took = timed(dv, "exec", "--timeout", "5", str(project), "--", "true")
        no_traceback(got)
        assert got.returncode == 125, got.stderr
        assert "did not start within 5s" in got.stderr and "locked" in got.stderr
        assert took < 5 + SLACK, took
        # Without a deadline: devenv waits its stated 30 s, then says so (exit 1, not 3).
        got, took = timed(dv, "up", str(project))
        no_traceback(got)
        assert got.returncode == 1 and "state database is locked" in got.stderr, got.stderr
        assert 25 < took < 30 + SLACK, took
    dv.up(project)
    assert dv.ok("exec", str(project), "--", "echo", "ok").stdout == "ok\n"


@pytest.fixture
def full_disk(tmp_path: Path) -> Iterator[Path]:
    """A DEVENV_HOME on a 2 MiB tmpfs (root only: mounts need CAP_SYS_ADMIN)."""
    mount = tmp_path / "small"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        if os.environ.get("DEVENV_TEST_REQUIRE_ENGINE") and os.getuid() == 0:
            pytest.fail(f"cannot mount a tmpfs as root: {done.stderr.strip()}")
        pytest.skip(f"cannot mount a small tmpfs here: {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_disk_full(dv: Devenv, make_project: Any, full_disk: Path) -> None:
    home = full_disk / "home"
    env = {"DEVENV_HOME": str(home)}
    project = make_project()
    with contextlib.suppress(OSError), open(full_disk / "filler", "wb") as f:
        while True:
            f.write(b"\0" * 65536)
    try:
        got, took = timed(dv, "up", str(project), env=env)
        no_traceback(got)
        assert got.returncode == 1, got.stderr
        assert "No space left on device" in got.stderr or "disk" in got.stderr, got.stderr
        assert took < 60
        (full_disk / "filler").unlink()  # the fault is gone: the next command works
        info = dv.run("up", "--json", str(project), env=env)
        assert info.returncode == 0, info.stderr
        assert dv.run("exec", str(project), "--", "true", env=env).returncode == 0
    finally:
        Devenv(home).clean()


def test_container_removed_behind_devenvs_back_with_its_port_taken(
        dv: Devenv, make_project: Any) -> None:
    project = make_project()
    info = dv.up(project)
    warm(dv, info)
    subprocess.run(["docker", "rm", "-f", info["container"]], check=True, capture_output=True)
    with socket.socket() as squatter:  # another program takes the old port (no SSH there)
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        squatter.bind(("127.0.0.1", info["port"]))
        squatter.listen()
        got, took = timed(dv, "exec", str(project), "--", "echo", "ran")
        no_traceback(got)
        assert got.returncode == 0 and got.stdout == "ran\n", got.stderr
        assert f"port {info['port']} is taken" in got.stderr
        assert took < 60
        again = dv.up(project)
        assert again["port"] != info["port"]
    assert dv.ok("exec", str(project), "--", "echo", "ok").stdout == "ok\n"


@pytest.mark.parametrize("delay", [0.3, 0.8, 1.5, 3.0])
def test_up_killed_at_several_points(dv: Devenv, make_project: Any, delay: float) -> None:
    """kill -9 of ``devenv up`` wherever it is; the next ``up`` leaves one running
    environment whose hooks ran exactly once for the creation and once for the start."""
    project = make_project()
    (project / ".devenv").mkdir()
    (project / ".devenv" / "devenv.toml").write_text(
        'post_create = "echo c >> ~/created"\n'
        'post_start = ["sh", "-c", "echo s >> ~/started"]\n')
    up = subprocess.Popen([*DEVENV, "up", str(project)], env=dv.env,
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(delay)
    up.send_signal(signal.SIGKILL)
    up.wait()
    dv.up(project)
    time.sleep(1)  # a hook the killed up began finishes in the container on its own
    got = dv.ok("exec", str(project), "--", "sh", "-c",
                "wc -l < ~/created; wc -l < ~/started").stdout.split()
    assert got == ["1", "1"], got
    assert len(dv.containers()) == 1
    listed = dv.ok("list", "--json").stdout
    assert str(project) in listed


@pytest.mark.parametrize("connection", ["warm", "cold", "library"])
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_interrupting_exec_kills_the_command(dv: Devenv, env: dict[str, Any],
                                              connection: str, signum: int) -> None:
    """Over the warm master, over docker exec, and through the runtime library (--cwd)."""
    path = env["path"]
    if connection == "cold":
        cool(dv, env)
    else:
        warm(dv, env)
    library = ["--cwd", "/tmp"] if connection == "library" else []
    marker = f"sleep-{connection}-{signum}"
    pattern = f"[{marker[0]}]{marker[1:]}"  # does not match pgrep's own command line
    proc = subprocess.Popen([*DEVENV, "exec", *library, path, "--", "bash", "-c",
                             f"exec -a {marker} sleep 300"], env=dv.env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while "300" not in dv.ok("exec", path, "--", "sh", "-c",
                             f"pgrep -fa '{pattern}' || true").stdout:
        assert time.monotonic() < deadline and proc.poll() is None, proc.stderr
        time.sleep(0.2)
    proc.send_signal(signum)
    assert proc.wait(timeout=20) == 128 + signum
    deadline = time.monotonic() + 10
    while dv.ok("exec", path, "--", "sh", "-c", f"pgrep -f '{pattern}' || true").stdout.strip():
        assert time.monotonic() < deadline, "the command still runs in the environment"
        time.sleep(0.2)
