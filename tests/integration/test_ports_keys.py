from __future__ import annotations

import socket
from typing import Any

from .conftest import Devenv


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_stop_up_keeps_port_and_host_key(dv: Devenv, make_project: Any) -> None:
    project = make_project()
    first = dv.up(project)
    host = first["container"]
    assert dv.ssh(host, "true").returncode == 0
    known = (dv.home / "state" / "ssh" / "known_hosts").read_bytes()
    dv.ok("stop", str(project))
    assert dv.containers() == []
    second = dv.up(project)
    assert second["port"] == first["port"] and second["started"]
    again = dv.ssh(host, "true")
    assert again.returncode == 0, again.stderr
    assert (dv.home / "state" / "ssh" / "known_hosts").read_bytes() == known

    # A new port: ssh to the same alias still verifies the same pinned key.
    dv.ok("stop", host)
    other = free_port()
    third = dv.up(project, "--port", str(other))
    assert third["port"] == other
    moved = dv.ssh(host, "true")
    assert moved.returncode == 0, moved.stderr
    # The same key; its [127.0.0.1]:<port> pin moved with the port (the old one is gone).
    assert (dv.home / "state" / "ssh" / "known_hosts").read_bytes() == known.replace(
        f"[127.0.0.1]:{first['port']} ".encode(), f"[127.0.0.1]:{other} ".encode())
    assert f"Port {other}" in dv.ssh_config.read_text()
    # The chosen port is remembered for the next start.
    dv.ok("stop", str(project))
    assert dv.up(project)["port"] == other


def test_env_var_port_and_flag_precedence(dv: Devenv, make_project: Any) -> None:
    env_port, flag_port = free_port(), free_port()
    a = make_project("a")
    assert dv.up(a, env={"DEVENV_SSH_PORT": str(env_port)})["port"] == env_port
    b = make_project("b")
    got = dv.up(b, "--port", str(flag_port), env={"DEVENV_SSH_PORT": str(free_port())})
    assert got["port"] == flag_port
    # A running environment asked for another port by flag says so, and stays as it is.
    clash = dv.run("up", "--port", str(free_port()), str(b))
    assert clash.returncode == 4 and "already running with SSH port" in clash.stderr
    # The variable alone is only a default for starts: attach still works.
    assert dv.run("exec", str(b), "--", "true",
                  env={"DEVENV_SSH_PORT": str(free_port())}).returncode == 0


def test_busy_or_invalid_ports_are_clear_errors(dv: Devenv, make_project: Any) -> None:
    project = make_project()
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        taken = dv.run("up", "--port", str(port), str(project))
        assert taken.returncode == 4
        assert f"port {port} on 127.0.0.1 is busy" in taken.stderr
        assert "hint:" in taken.stderr
    for bad, code in (("0", 2), ("65536", 2), ("http", 2)):
        got = dv.run("up", "--port", bad, str(project))
        assert got.returncode == code, got.stderr
        assert "Traceback" not in got.stderr
    env_bad = dv.run("up", str(project), env={"DEVENV_SSH_PORT": "99999"})
    assert env_bad.returncode == 2 and "DEVENV_SSH_PORT" in env_bad.stderr
    assert dv.containers() == []
    assert dv.run("list", "--all", "--json").stdout.strip() == "[]"  # nothing half-created


def test_allocation_skips_ports_in_use(dv: Devenv, make_project: Any) -> None:
    low = int(dv.env["DEVENV_PORT_RANGE"].split("-")[0])
    with socket.socket() as squatter:
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        squatter.bind(("127.0.0.1", low))
        squatter.listen()
        got = dv.up(make_project(), env={"DEVENV_PORT_RANGE": f"{low}-{low + 5}"})
    assert got["port"] == low + 1


def test_ssh_published_on_another_address_on_request(dv: Devenv, make_project: Any) -> None:
    """DEVENV_SSH_BIND=0.0.0.0: sshd listens on every interface, devenv warns, and a
    password login is still refused; a bad address creates nothing."""
    import subprocess

    project = make_project("bind")
    bad = dv.run("up", str(project), env={"DEVENV_SSH_BIND": "every"})
    assert bad.returncode == 2 and "DEVENV_SSH_BIND: 'every' is not an IP address" in bad.stderr
    assert dv.containers() == []
    up = dv.run("up", "--json", str(project), env={"DEVENV_SSH_BIND": "0.0.0.0"})
    assert up.returncode == 0, up.stderr
    port = __import__("json").loads(up.stdout)["port"]
    assert f"SSH port {port} is published on 0.0.0.0" in up.stderr and "warning" in up.stderr
    listening = subprocess.run(["ss", "-Hltn", f"sport = :{port}"], capture_output=True,
                               text=True, check=True, timeout=30).stdout
    assert [line.split()[3] for line in listening.splitlines()] == [f"0.0.0.0:{port}"]
    refused = subprocess.run(
        ["ssh", "-F", "/dev/null", "-p", str(port), "-o", "BatchMode=yes",
         "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
         "-o", "PubkeyAuthentication=no",
         "-o", "PreferredAuthentications=password,keyboard-interactive",
         "dev@127.0.0.1", "true"], capture_output=True, text=True, timeout=60, check=False)
    assert refused.returncode == 255 and "Permission denied" in refused.stderr
    assert dv.ssh(f"devenv-{dv.up(project)['name']}", "true").returncode == 0


def test_a_taken_remembered_port_moves_and_says_so(dv: Devenv, make_project: Any) -> None:
    project = make_project("moved")
    first = dv.up(project)
    dv.ok("stop", str(project))
    with socket.socket() as squatter:  # another program took the remembered port
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # past TIME_WAIT
        squatter.bind(("127.0.0.1", first["port"]))
        squatter.listen()
        got = dv.run("up", "--json", str(project))
        assert got.returncode == 0, got.stderr
        new = __import__("json").loads(got.stdout)["port"]
        assert new != first["port"]
        assert (f"SSH port {first['port']} is taken; it now uses {new}" in got.stderr
                and "reload WezTerm" in got.stderr), got.stderr
        assert dv.ssh(first["container"], "true").returncode == 0  # ssh_config followed
        # A port the user asked for is never moved: it fails instead.
        dv.ok("stop", str(project))
        asked = dv.run("up", str(project), env={"DEVENV_SSH_PORT": str(first["port"])})
        assert asked.returncode == 4 and f"port {first['port']}" in asked.stderr, asked.stderr
        assert dv.containers() == []
