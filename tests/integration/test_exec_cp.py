"""devenv exec over the environment's warm SSH master, exec --host, and devenv cp, against
a real environment and a throwaway sshd."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import DEVENV, Devenv
from tests.integration.runtime_fixtures import Sshd, sshd  # noqa: F401 - fixture

VIA = 'if [ -n "$SSH_CONNECTION" ]; then echo ssh; else echo docker; fi'


def socket_of(dv: Devenv, port: int) -> Path:
    index = (dv.home / "state" / "index").read_text().splitlines()
    control = next(line.split("\t", 1)[1] for line in index if line.startswith("control\t"))
    return Path(control) / f"e{port}"


def wait_for(predicate: Any, timeout: float = 15) -> None:
    give_up = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < give_up, "timed out waiting"
        time.sleep(0.1)


@pytest.fixture
def env(dv: Devenv, make_project: Any) -> tuple[Devenv, Path, dict[str, Any]]:
    project = make_project("exproj")
    (project / ".devenv").mkdir()
    (project / ".devenv" / "devenv.toml").write_text('[env]\nMULTI = "two\\nlines"\n')
    info = dv.up(project)
    return dv, project, info


def test_exec_warms_the_master_then_goes_over_ssh(env: tuple[Devenv, Path, dict[str, Any]]
                                                  ) -> None:
    dv, project, info = env
    sock = socket_of(dv, info["port"])
    if sock.exists():  # a master from up: start from cold
        subprocess.run(["ssh", "-F", str(dv.ssh_config), "-O", "exit", f"devenv-{info['name']}"],
                       capture_output=True, check=False)
        wait_for(lambda: not sock.exists())
    assert dv.ok("exec", str(project), "--", "sh", "-c", VIA).stdout == "docker\n"
    wait_for(sock.exists)  # the cold call started a master for the next ones
    for target in (str(project), info["name"], f"devenv-{info['name']}"):
        assert dv.ok("exec", target, "--", "sh", "-c", VIA).stdout == "ssh\n", target
    proc = dv.run("exec", info["name"], "--", "sh", "-c",
                  'pwd; cat; echo to-stderr >&2; exit 255', input="from stdin\n")
    assert proc.returncode == 255
    assert proc.stdout == f"/workspace/{project.name}\nfrom stdin\n"
    assert proc.stderr == "to-stderr\n"  # the markers are taken out
    proc = dv.run("exec", str(project), "--", "printf", "%s|", "a b", "$HOME", "it's")
    assert proc.stdout == "a b|$HOME|it's|"
    # What docker exec would give, even what sshd's SetEnv cannot carry (a newline).
    proc = dv.run("exec", str(project), "--", "sh", "-c", 'printf "%s|%s" "$MULTI" "$PATH"')
    docker = subprocess.run(["docker", "exec", f"devenv-{info['name']}", "sh", "-c",
                             'printf "%s|%s" "$MULTI" "$PATH"'], capture_output=True,
                            text=True, check=True)
    assert proc.stdout == docker.stdout and proc.stdout.startswith("two\nlines|")


def test_a_command_longer_than_one_ssh_argument_runs(env: tuple[Devenv, Path, dict[str, Any]]
                                                     ) -> None:
    """The remote shell takes the script as one argument (128 KiB at most on Linux): a longer
    command goes over docker exec, word by word (it was an internal error over SSH)."""
    dv, project, _ = env
    dv.ok("exec", str(project), "--", "true")  # warm
    words = [str(i) for i in range(40000)]  # ~230 KB
    got = dv.run("exec", str(project), "--", "sh", "-c", 'echo "$#"; echo "$1"', "x", *words)
    assert got.returncode == 0, got.stderr
    assert got.stdout == "40000\n0\n"


def test_exec_interrupted_kills_the_remote_group(env: tuple[Devenv, Path, dict[str, Any]]
                                                ) -> None:
    dv, project, info = env
    dv.ok("exec", str(project), "--", "true")
    wait_for(socket_of(dv, info["port"]).exists)
    child = subprocess.Popen([*DEVENV, "exec", str(project), "--", "sh", "-c",
                              "echo $$ > .pid; sleep 300 & sleep 300"],
                             env=dv.env, start_new_session=True, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
    wait_for((project / ".pid").exists)
    time.sleep(0.3)
    os.killpg(child.pid, signal.SIGINT)
    assert child.wait(timeout=20) == 130
    pid = (project / ".pid").read_text().strip()
    alive = dv.run("exec", str(project), "--", "sh", "-c",
                   f"ps -o pid= -g {pid} | wc -l").stdout.strip()
    assert alive == "0"


def test_exec_connection_lost_mid_command(env: tuple[Devenv, Path, dict[str, Any]]) -> None:
    dv, project, info = env
    dv.ok("exec", str(project), "--", "true")
    sock = socket_of(dv, info["port"])
    wait_for(sock.exists)
    child = subprocess.Popen([*DEVENV, "exec", str(project), "--", "sh", "-c",
                              "touch .started; sleep 60"], env=dv.env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for((project / ".started").exists)
    subprocess.run(["ssh", "-F", str(dv.ssh_config), "-O", "exit", f"devenv-{info['name']}"],
                   capture_output=True, check=False)
    _, err = child.communicate(timeout=30)
    assert child.returncode == 255
    assert "connection to" in err and "was lost while the command ran" in err


def host_env(dv: Devenv, server: Sshd) -> dict[str, str]:
    return {"DEVENV_SSH_CONFIG": str(server.config)}


def test_exec_host(dv: Devenv, sshd: Sshd) -> None:
    env = host_env(dv, sshd)
    proc = dv.run("exec", "--host", sshd.alias, "--", "sh", "-c", "echo $USER; exit 255",
                  env=env)
    assert (proc.returncode, proc.stdout) == (255, "dev\n")
    proc = dv.run("exec", "--host", f"dev@{sshd.alias}", "--cwd", "/tmp", "--", "pwd", env=env)
    assert (proc.returncode, proc.stdout) == (0, "/tmp\n")
    start = time.monotonic()
    proc = dv.run("exec", "--host", sshd.alias, "--timeout", "1", "--", "sh", "-c",
                  "echo $$ > /tmp/exec-timeout.pid; sleep 60", env=env)
    assert proc.returncode == 124 and time.monotonic() - start < 10
    assert "did not end within 1s" in proc.stderr
    pid = sshd.ssh("cat", "/tmp/exec-timeout.pid").stdout.strip()
    assert sshd.ssh("kill", "-0", pid).returncode != 0
    # A stdin that never closes (an orchestrator's pipe) does not hold the call.
    start = time.monotonic()
    held = subprocess.Popen([*DEVENV, "exec", "--host", sshd.alias, "--timeout", "2", "--",
                             "sleep", "30"], env={**dv.env, **env}, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert held.wait(timeout=15) == 124 and time.monotonic() - start < 10
    finally:
        held.kill()
        held.communicate()
    proc = dv.run("exec", "--host", sshd.alias, "--cwd", "/nonexistent", "--", "pwd", env=env)
    assert proc.returncode == 125 and "no such directory" in proc.stderr
    proc = dv.run("exec", "--host", "no-such-host.invalid", "--", "true", env=env)
    assert proc.returncode == 125
    assert "Could not resolve hostname" in proc.stderr and "Traceback" not in proc.stderr
    proc = dv.run("exec", "--host=-oProxyCommand=x", "--", "true")
    assert proc.returncode == 125 and "invalid SSH host" in proc.stderr
    proc = dv.run("exec", "--host", sshd.alias, "somepath", "--", "true")
    assert proc.returncode == 125 and "takes no PATH" in proc.stderr


def test_cp_between_local_env_and_host(env: tuple[Devenv, Path, dict[str, Any]],
                                       sshd: Sshd, tmp_path: Path) -> None:
    dv, project, info = env
    extra = host_env(dv, sshd)
    data = os.urandom(3 << 20) + b"\x00end"
    src = tmp_path / "src.bin"
    src.write_bytes(data)
    name = info["name"]
    dv.ok("cp", str(src), f"{name}:copied.bin", env=extra)
    assert (project / "copied.bin").read_bytes() == data
    dv.ok("cp", f"{name}:copied.bin", f"{sshd.alias}:/tmp/", env=extra)  # into a directory
    assert sshd.ssh("sha256sum", "/tmp/copied.bin").stdout.split()[0] == \
        hashlib.sha256(data).hexdigest()
    back = tmp_path / "back.bin"
    back.write_bytes(b"old")
    back.chmod(0o640)
    dv.ok("cp", f"{sshd.alias}:/tmp/copied.bin", str(back), env=extra)
    assert back.read_bytes() == data and (back.stat().st_mode & 0o777) == 0o640
    proc = dv.run("cp", f"{name}:missing", str(tmp_path / "x"), env=extra)
    assert proc.returncode == 1 and "missing: no such file" in proc.stderr
    assert not (tmp_path / "x").exists()
    proc = dv.run("cp", str(tmp_path), f"{name}:d", env=extra)
    assert proc.returncode == 2 and "is a directory" in proc.stderr
    proc = dv.run("cp", str(src), f"{name}:", env=extra)
    assert proc.returncode == 2 and "names no file" in proc.stderr
    assert [p.name for p in tmp_path.iterdir() if "devenv-tmp" in p.name] == []


def test_cp_never_writes_through_a_link_the_agent_planted(
        env: tuple[Devenv, Path, dict[str, Any]], tmp_path: Path) -> None:
    dv, project, info = env
    victim = tmp_path / "victim.txt"
    victim.write_text("the user's file\n")
    dv.ok("exec", str(project), "--", "ln", "-s", str(victim), "report.txt")
    got = dv.run("cp", f"{info['name']}:/etc/hostname", str(project / "report.txt"))
    assert got.returncode == 2 and "symbolic link" in got.stderr, got.stderr
    assert victim.read_text() == "the user's file\n"


def test_exec_unknown_env_names_close_matches(env: tuple[Devenv, Path, dict[str, Any]]
                                              ) -> None:
    dv, _, info = env
    proc = dv.run("exec", info["name"] + "x", "--", "true")
    assert proc.returncode == 125 and "did you mean" in proc.stderr
    assert sys.executable  # the CLI ran in a subprocess, not in-process


def test_library_calls_leave_other_sessions_on_the_master(
        env: tuple[Devenv, Path, dict[str, Any]], tmp_path: Path) -> None:
    """devenv exec --timeout / cp go through the library, whose runtimes close when done:
    that must not end the shared master under a session someone else runs on it."""
    dv, project, info = env
    other = subprocess.Popen(["ssh", "-F", str(dv.ssh_config), f"devenv-{info['name']}",
                              "sleep 3; echo survived"], stdout=subprocess.PIPE, text=True)
    time.sleep(1)
    dv.ok("exec", "--timeout", "30", str(project), "--", "true")
    (tmp_path / "f").write_text("x")
    dv.ok("cp", str(tmp_path / "f"), f"{info['name']}:f")
    out, _ = other.communicate(timeout=30)
    assert (other.returncode, out) == (0, "survived\n")
