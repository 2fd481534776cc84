"""Each environment has a network of its own and resource limits, on the real engine."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from devenv.envs import cleanup, container
from devenv.envs.identity import default_name, project_path

from .conftest import Devenv, inspect


def configure(project: Path, text: str) -> None:
    (project / ".devenv").mkdir(exist_ok=True)
    (project / ".devenv" / "devenv.toml").write_text(text)


def network(name: str) -> dict[str, Any] | None:
    got = subprocess.run(["docker", "network", "inspect", name], capture_output=True, text=True,
                         check=False, timeout=30)
    if got.returncode != 0:
        return None
    data: list[dict[str, Any]] = json.loads(got.stdout)
    return data[0]


def address(cname: str) -> tuple[str, str]:
    """The container's IP and gateway on its (only) network."""
    nets = inspect(cname)["NetworkSettings"]["Networks"]
    assert len(nets) == 1, nets
    net = next(iter(nets.values()))
    return net["IPAddress"], net["Gateway"]


def connects(dv: Devenv, project: Path, host: str, port: int) -> bool:
    """Whether a TCP connection from inside the environment to host:port succeeds."""
    probe = f"timeout 3 bash -c 'exec 3<>/dev/tcp/{host}/{port}'"
    got = dv.run("exec", str(project), "--", "bash", "-c", probe, timeout=60)
    assert got.returncode in (0, 1, 124), got.stderr  # the probe's answer, not devenv's
    return got.returncode == 0


def pids_max(dv: Devenv, project: Path) -> str:
    # cgroup v2 shows the container's own limit at the root, v1 under pids/.
    return dv.ok("exec", str(project), "--", "sh", "-c",
                 "cat /sys/fs/cgroup/pids.max 2>/dev/null || "
                 "cat /sys/fs/cgroup/pids/pids.max").stdout.strip()


def test_environments_cannot_reach_each_other(dv: Devenv, make_project: Any) -> None:
    a, b = make_project("a"), make_project("b")
    info_a, info_b = dv.up(a), dv.up(b)
    ip_a, gateway_a = address(info_a["container"])
    ip_b, _ = address(info_b["container"])
    for info in (info_a, info_b):
        nets = inspect(info["container"])["NetworkSettings"]["Networks"]
        assert list(nets) == [f"devenv-net-{info['name']}"]  # its own, not Docker's bridge
        found = network(f"devenv-net-{info['name']}")
        assert found is not None and found["Labels"]["devenv.path"] == info["path"]
        bridge = found["Options"]["com.docker.network.bridge.name"]
        assert bridge.startswith("dv-") and len(bridge) <= 15
    assert ip_a.split(".")[:2] != ip_b.split(".")[:2] or ip_a != ip_b
    # The control: the probe works where it should ...
    assert connects(dv, a, "127.0.0.1", 2222)
    assert connects(dv, a, ip_a, 2222)
    # ... and B's sshd is out of reach: directly, and through its port published on the host.
    assert not connects(dv, a, ip_b, 2222)
    assert not connects(dv, a, gateway_a, info_b["port"])
    assert connects(dv, b, "127.0.0.1", 2222) and not connects(dv, b, ip_a, 2222)
    # No name for the host unless asked for.
    assert dv.run("exec", str(a), "--", "getent", "hosts",
                  "host.docker.internal").returncode != 0


def test_default_pids_limit_and_configured_limits(dv: Devenv, make_project: Any) -> None:
    plain = make_project("plain")
    host = inspect(dv.up(plain)["container"])["HostConfig"]
    assert host["PidsLimit"] == 4096 and host["Memory"] == 0 and host["NanoCpus"] == 0
    assert pids_max(dv, plain) == "4096"

    limited = make_project("limited")
    configure(limited, 'pids = 512\nmemory = "512m"\ncpus = 0.5\n')
    shown = json.loads(dv.ok("config", "--json", str(limited)).stdout)["values"]
    assert (shown["pids"], shown["memory"], shown["cpus"]) == (512, "512m", 0.5)
    host = inspect(dv.up(limited)["container"])["HostConfig"]
    assert host["PidsLimit"] == 512
    assert host["Memory"] == host["MemorySwap"] == 512 * 1024**2  # no swap around the limit
    assert host["NanoCpus"] == 500_000_000
    assert pids_max(dv, limited) == "512"


def test_host_access_is_the_users_choice(dv: Devenv, make_project: Any) -> None:
    project = make_project()
    configure(project, "host_access = true\n")
    refused = dv.run("up", str(project))  # a repository cannot open the host
    assert refused.returncode == 7 and "host_access: belongs in the user file" in refused.stderr
    configure(project, "")
    user = dv.home / "config" / "config.toml"
    user.parent.mkdir(parents=True, exist_ok=True)
    user.write_text("host_access = true\n")
    info = dv.up(project)
    assert "host.docker.internal:host-gateway" in inspect(info["container"])["HostConfig"][
        "ExtraHosts"]
    # Docker's host-gateway: an address of the host (the default bridge's, as a rule).
    with socket.socket() as listener:  # a host service the environment may now reach
        listener.bind(("0.0.0.0", 0))
        listener.listen()
        assert connects(dv, project, "host.docker.internal", listener.getsockname()[1])
    found = network(f"devenv-net-{info['name']}")
    assert found is not None
    assert found["Options"]["com.docker.network.bridge.name"].startswith("dvh-")


def gone_soon(net: str, within: float = 30) -> bool:
    """Whether the network is gone within ``within`` s: 'devenv stop' leaves it to a
    detached process (docs/architecture.md), bounded by the container's removal (20 s) and
    the network's (5 s)."""
    deadline = time.monotonic() + within
    while network(net) is not None:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def test_network_lives_and_goes_with_the_environment(dv: Devenv, make_project: Any) -> None:
    project = make_project()
    info = dv.up(project)
    net = f"devenv-net-{info['name']}"
    assert network(net) is not None
    dv.ok("stop", str(project))
    assert gone_soon(net)
    dv.up(project)
    assert network(net) is not None
    dv.ok("rm", str(project))
    assert network(net) is None

    # A container that ends without 'devenv stop' leaves its network: the next start reuses
    # it, gc lists it and removes it, and so does the next stop.
    info = dv.up(project)
    subprocess.run(["docker", "rm", "-f", info["container"]], capture_output=True, check=True)
    assert network(net) is not None
    dv.up(project)
    subprocess.run(["docker", "rm", "-f", info["container"]], capture_output=True, check=True)
    assert net in dv.ok("gc", "--dry-run").stdout
    dv.instance()  # points this process at the test's DEVENV_HOME
    garbage = cleanup.find()
    assert [n for n in garbage.network_names if n == net] == [net]
    assert cleanup.collect(cleanup.Garbage(networks=[
        n for n in garbage.networks if n["Name"] == net])) == []
    assert network(net) is None
    dv.up(project)
    subprocess.run(["docker", "rm", "-f", info["container"]], capture_output=True, check=True)
    dv.ok("stop", "--all")
    assert gone_soon(net)


def test_a_start_right_after_a_stop_keeps_its_network(dv: Devenv,
                                                      make_project: Any) -> None:
    """The stop's detached tidying races the next start: the start (which waits for the old
    container to go, and reuses or remakes the network) must win every time, and the
    network its container runs on must stay once the tidying is done."""
    project = make_project()
    info = dv.up(project)
    net = f"devenv-net-{info['name']}"
    for _ in range(3):
        dv.ok("stop", str(project))
        dv.up(project)
        time.sleep(2)  # the tidying waits for the old container (gone at once) and ends
        assert network(net) is not None
        assert list(inspect(info["container"])["NetworkSettings"]["Networks"]) == [net]
        assert dv.ok("exec", str(project), "--", "echo", "ok").stdout == "ok\n"


def test_the_tidying_never_takes_the_network_of_a_start_under_way(
        dv: Devenv, make_project: Any) -> None:
    """What the stop's detached process does with a network left unused: it leaves it while
    the environment's start lock is held (a start under way will use it) and removes it
    once the lock is free."""
    from devenv.lockfile import locked

    project = make_project()
    info = dv.up(project)
    net = f"devenv-net-{info['name']}"
    subprocess.run(["docker", "rm", "-f", info["container"]], capture_output=True, check=True)
    this = dv.instance()  # also points this process at the test's DEVENV_HOME
    tidy = [sys.executable, "-m", "devenv.envs.tidy", this]
    with locked(f"env-{info['name']}", timeout=5, what="a start, in the test"):
        subprocess.run(tidy, env=dv.env, check=True, timeout=60)
        assert network(net) is not None
    subprocess.run(tidy, env=dv.env, check=True, timeout=60)
    assert network(net) is None


def test_the_tidying_imports_nothing_from_the_project(dv: Devenv, make_project: Any,
                                                      tmp_path: Path) -> None:
    """'devenv stop .' runs from inside the project, which the environment can write: the
    detached tidying must not import a 'devenv' package planted there (Python puts the
    current directory first on sys.path for '-m' and '-c')."""
    project = make_project()
    info = dv.up(project)
    marker = tmp_path / "planted-code-ran"
    planted = project / "devenv"
    (planted / "envs").mkdir(parents=True)
    (planted / "__init__.py").write_text(
        f"open({str(marker)!r}, 'w').close()\n")
    (planted / "envs" / "__init__.py").write_text("")
    (planted / "envs" / "tidy.py").write_text("def main(argv):\n    return 0\n")
    launcher = Path(sys.executable).parent / "devenv"  # the installed command, not '-m'
    got = subprocess.run([str(launcher), "stop", "."], cwd=project, env=dv.env,
                         capture_output=True, text=True, timeout=120, check=False)
    assert got.returncode == 0, got.stderr
    assert gone_soon(f"devenv-net-{info['name']}")  # the real tidying ran ...
    assert not marker.exists()  # ... and the planted code did not


def test_a_failed_first_start_leaves_no_network(dv: Devenv, make_project: Any) -> None:
    project = make_project()
    configure(project, "cpus = 100000\n")  # valid config, refused by docker run
    got = dv.run("up", str(project))
    assert got.returncode != 0 and "Traceback" not in got.stderr
    assert "CPUs" in got.stderr
    assert dv.containers() == []
    leftovers = subprocess.run(
        ["docker", "network", "ls", "-q", "--filter", f"label=devenv.instance={dv.instance()}"],
        capture_output=True, text=True, check=True).stdout.split()
    assert leftovers == []


def test_someone_elses_network_is_never_joined(dv: Devenv, make_project: Any,
                                               tmp_path: Path) -> None:
    project = make_project()
    net = container.network_name(default_name(project_path(str(project))))
    other = tmp_path / "other-project"
    other.mkdir()
    labels = ["--label", "devenv=true", "--label", "devenv.instance=someone-else",
              "--label", f"devenv.path={other}"]
    stranger = f"stranger-{uuid.uuid4().hex[:8]}"
    try:
        # Another installation's network with a container in it: never joined.
        subprocess.run(["docker", "network", "create", *labels, net], capture_output=True,
                       check=True)
        subprocess.run(["docker", "run", "-d", "--name", stranger, "--network", net,
                        "debian:bookworm-slim", "sleep", "300"], capture_output=True, check=True)
        got = dv.run("up", str(project))
        assert got.returncode == 4 and f"network {net} is in use by {stranger}" in got.stderr
        assert dv.containers() == []
        subprocess.run(["docker", "rm", "-f", stranger], capture_output=True, check=True)
        # Not devenv's at all: never touched.
        subprocess.run(["docker", "network", "rm", net], capture_output=True, check=True)
        subprocess.run(["docker", "network", "create", net], capture_output=True, check=True)
        got = dv.run("up", str(project))
        assert got.returncode == 4 and "not devenv's" in got.stderr
        assert network(net) is not None
        # An unused one of devenv's (another installation's leftover) holds nothing: replaced.
        subprocess.run(["docker", "network", "rm", net], capture_output=True, check=True)
        subprocess.run(["docker", "network", "create", *labels, net], capture_output=True,
                       check=True)
        assert dv.up(project)["started"]
        found = network(net)
        assert found is not None and found["Labels"]["devenv.instance"] == dv.instance()
    finally:
        subprocess.run(["docker", "rm", "-f", stranger], capture_output=True, check=False)
        if (found := network(net)) is not None and found["Labels"].get(
                "devenv.instance") != dv.instance():
            subprocess.run(["docker", "network", "rm", net], capture_output=True, check=False)


def test_changed_limits_are_drift(dv: Devenv, make_project: Any) -> None:
    project = make_project()
    info = dv.up(project)
    configure(project, "pids = 1024\n")
    again = dv.run("up", str(project))
    assert again.returncode == 0
    assert "pids changed" in again.stderr and "devenv up --recreate" in again.stderr
    assert inspect(info["container"])["HostConfig"]["PidsLimit"] == 4096  # not behind your back
    dv.ok("up", "--recreate", str(project))
    assert inspect(info["container"])["HostConfig"]["PidsLimit"] == 1024
    assert "changed" not in dv.ok("up", str(project)).stderr


@pytest.mark.parametrize("text", ["pids = 8192\n", 'memory = "4g"\n'])
def test_a_project_file_cannot_raise_a_limit(dv: Devenv, make_project: Any, text: str) -> None:
    user = dv.home / "config" / "config.toml"
    user.parent.mkdir(parents=True, exist_ok=True)
    user.write_text('memory = "2g"\n')
    project = make_project()
    configure(project, text)
    got = dv.run("up", str(project))
    assert got.returncode == 7 and "a project file may only lower limits" in got.stderr
    assert dv.containers() == []
