"""Resource limits and host access: their config keys, their ``docker run`` arguments, their
drift, and the environment network's names."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from devenv import config
from devenv.engine import docker
from devenv.envs import container, drift
from devenv.errors import CommandError, ConfigError

from .conftest import assert_project_file_error, write


def test_defaults(project: Path) -> None:
    cfg = config.load(str(project))
    assert (cfg.pids, cfg.memory, cfg.memory_bytes, cfg.cpus, cfg.host_access) == (
        4096, None, None, None, False)
    assert container.resource_args(cfg) == ["--pids-limit", "4096", "--stop-timeout", "10"]
    shown = config.as_dict(cfg)
    assert (shown["pids"], shown["memory"], shown["cpus"], shown["host_access"]) == (
        4096, None, None, False)


def test_values_reach_docker_run(project: Path, devenv_home: Path) -> None:
    write(devenv_home / "config" / "config.toml",
          'pids = 8192\nmemory = "8g"\ncpus = 4\nhost_access = true\nstop_time = 30\n')
    write(project / ".devenv" / "devenv.toml", 'pids = 2048\nmemory = "1.5G"\ncpus = 1.5\n')
    cfg = config.load(str(project))
    assert (cfg.pids, cfg.memory, cfg.cpus, cfg.host_access) == (2048, "1.5G", 1.5, True)
    assert container.resource_args(cfg) == [
        "--pids-limit", "2048", "--stop-timeout", "30", "--memory", str(3 * 1024**3 // 2),
        "--memory-swap", str(3 * 1024**3 // 2), "--cpus", "1.5",
        "--add-host", "host.docker.internal:host-gateway"]
    assert str(cfg.origin("pids")).endswith("devenv.toml: pids")
    assert str(cfg.origin("host_access")).endswith("config.toml: host_access")


def test_stop_time_is_the_users_and_bounded(project: Path, devenv_home: Path) -> None:
    assert_project_file_error(project, "stop_time = 5", "stop_time: belongs in the user file")
    write(devenv_home / "config" / "config.toml", "stop_time = 601")
    with pytest.raises(ConfigError, match=r"stop_time: 601 is out of range"):
        config.load(str(project))


@pytest.mark.parametrize(("text", "error"), [
    ("pids = -1", "pids: -1 is out of range"),
    ("pids = 0", "pids: 0 is out of range"),
    ("pids = 10", "pids: 10 is out of range"),
    ("pids = 99999999", "pids: 99999999 is out of range"),
    ("pids = '4096'", "pids: expected int, got str"),
    ("pids = 1.5", "pids: expected int, got float"),
    ("pids = true", "pids: expected int, got bool"),
    ("memory = 8", "memory: expected str, got int"),
    ("memory = '8x'", "memory: '8x' is not a size"),
    ("memory = 'lots'", "memory: 'lots' is not a size"),
    ("memory = '-1g'", "memory: '-1g' is not a size"),
    ("memory = ''", "memory: '' is not a size"),
    ("memory = '8gb'", "memory: '8gb' is not a size"),
    ("memory = '1m'", "memory: '1m' is out of range"),
    ("memory = '0'", "memory: '0' is out of range"),
    ("cpus = 0", "cpus: 0.0 is not a number of CPUs"),
    ("cpus = -2", "cpus: -2.0 is not a number of CPUs"),
    ("cpus = nan", "cpus: nan is not a number of CPUs"),
    ("cpus = inf", "cpus: inf is not a number of CPUs"),
    ("cpus = '2'", "cpus: expected float, got str"),
    ("cpus = true", "cpus: expected float, got bool"),
    ("host_access = true", "host_access: belongs in the user file"),
])
def test_bad_values_name_file_and_field(project: Path, text: str, error: str) -> None:
    assert_project_file_error(project, text, error)


@pytest.mark.parametrize(("text", "error"), [
    ("host_access = 'yes'", "host_access: expected bool, got str"),
    ("memory = '12q'", "memory: '12q' is not a size"),
    ("cpus = 0.001", "cpus: 0.001 is not a number of CPUs"),
])
def test_bad_values_in_the_user_file(project: Path, devenv_home: Path, text: str,
                                     error: str) -> None:
    user = write(devenv_home / "config" / "config.toml", text)
    with pytest.raises(ConfigError) as info:
        config.load(str(project))
    assert info.value.message.startswith(f"{user}: {error}")


@pytest.mark.parametrize(("user", "project_text", "error"), [
    ("", "pids = 4097", "pids: 4097 is above the limit of 4096 (default)"),
    ("pids = 100", "pids = 200", "pids: 200 is above the limit of 100 ("),
    ('memory = "2g"', 'memory = "2049m"', "memory: '2049m' is above the limit of '2g' ("),
    ("cpus = 1", "cpus = 1.5", "cpus: 1.5 is above the limit of 1.0 ("),
])
def test_a_project_file_may_only_lower_limits(project: Path, devenv_home: Path, user: str,
                                              project_text: str, error: str) -> None:
    write(devenv_home / "config" / "config.toml", user)
    write(project / ".devenv" / "devenv.toml", project_text)
    with pytest.raises(ConfigError) as info:
        config.load(str(project))
    assert error in info.value.message
    assert "may only lower limits" in info.value.message
    assert info.value.hint is not None and "user file" in info.value.hint


def test_a_project_file_may_set_what_the_user_left_open(project: Path,
                                                        devenv_home: Path) -> None:
    write(devenv_home / "config" / "config.toml", 'memory = "2g"\n')
    write(project / ".devenv" / "devenv.toml", 'memory = "2048m"\ncpus = 64\npids = 4096\n')
    cfg = config.load(str(project))
    assert (cfg.memory_bytes, cfg.cpus, cfg.pids) == (2 * 1024**3, 64.0, 4096)


@given(st.integers(min_value=1, max_value=10**6), st.sampled_from(["", "b", "k", "m", "g",
                                                                    "K", "M", "G"]))
def test_memory_sizes(number: int, unit: str) -> None:
    scale = {"": 1, "b": 1, "k": 1024, "m": 1024**2, "g": 1024**3}[unit.lower()]
    assert config.memory_bytes(f"{number}{unit}") == number * scale
    assert config.memory_bytes(f" {number} {unit} ") == number * scale


def test_limits_and_host_access_are_drift(project: Path, devenv_home: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from devenv.envs.identity import ProjectPath

    # The image part of the fingerprint asks the engine; this test is about the rest.
    monkeypatch.setattr(drift.chain, "chain_key", lambda project, cfg: "image-key")

    path = ProjectPath(str(project))
    before = drift.fingerprint(path, config.load(str(project)))
    assert (before["pids"], before["memory"], before["cpus"], before["host_access"]) == (
        4096, None, None, False)
    write(devenv_home / "config" / "config.toml",
          'pids = 100\nmemory = "1g"\ncpus = 1\nhost_access = true\n')
    after = drift.fingerprint(path, config.load(str(project)))
    assert drift.differences(before, after) == [
        "pids changed", "memory changed", "cpus changed", "host_access changed"]
    # The same limit written another way is no change.
    write(devenv_home / "config" / "config.toml",
          'pids = 100\nmemory = "1024m"\ncpus = 1.0\nhost_access = true\n')
    assert drift.differences(after, drift.fingerprint(path, config.load(str(project)))) == []
    # A container from before environments had networks of their own.
    old = {k: v for k, v in after.items() if k != "network"}
    assert drift.differences(old, after) == [
        "network (it shares Docker's default bridge with other containers; environments now "
        "get a network of their own)"]


def test_network_and_bridge_names() -> None:
    assert container.network_name("a-b") == "devenv-net-a-b"
    plain = container.bridge_name("a-b", host_access=False)
    opened = container.bridge_name("a-b", host_access=True)
    assert plain.startswith("dv-") and opened.startswith("dvh-")
    assert len(plain) == len(opened) == 15  # Linux's limit for an interface name
    assert plain != container.bridge_name("a-c", host_access=False)
    assert plain == container.bridge_name("a-b", host_access=False)  # stable


@pytest.mark.parametrize(("stderr", "kind"), [
    ("Error response from daemon: network devenv-net-x not found", docker.NoSuchObject),
    ("Error: No such network: devenv-net-x", docker.NoSuchObject),
    ("Error response from daemon: network with name devenv-net-x already exists",
     docker.NetworkExists),
    ("Error response from daemon: error while removing network: network devenv-net-x id abc "
     "has active endpoints", docker.NetworkInUse),
])
def test_network_errors_are_classified(stderr: str, kind: type[Exception]) -> None:
    assert isinstance(docker.classify(CommandError(["docker", "network"], 1, stderr)), kind)


def test_no_address_pool_left_says_what_to_do() -> None:
    error = docker.classify(CommandError(["docker", "network"], 1, (
        "Error response from daemon: could not find an available, non-overlapping IPv4 "
        "address pool among the defaults to assign to the network")))
    assert "no free address range" in error.message
    assert error.hint is not None and "default-address-pools" in error.hint


def test_init_timeout_either_file_but_the_project_only_lowers_it(project: Path,
                                                                  devenv_home: Path) -> None:
    assert config.load(str(project)).init_timeout == config.DEFAULT_INIT_TIMEOUT == 3600
    write(project / ".devenv" / "devenv.toml", "init_timeout = 600\n")
    cfg = config.load(str(project))
    assert cfg.init_timeout == 600 and str(cfg.origin("init_timeout")).endswith(
        "devenv.toml: init_timeout")
    assert config.as_dict(cfg)["init_timeout"] == 600
    # Above the default: refused (a repository must not make a workspace's creation hang).
    assert_project_file_error(project, "init_timeout = 7200",
                              "init_timeout: 7200 is above the limit of 3600")
    # The user file raises the ceiling, and the project may then use it.
    write(devenv_home / "config" / "config.toml", "init_timeout = 86400\n")
    assert config.load(str(project)).init_timeout == 7200
    assert config.load(None).init_timeout == 86400


@pytest.mark.parametrize("text", ["init_timeout = 0", "init_timeout = 86401",
                                  "init_timeout = -5", "init_timeout = 1.5",
                                  "init_timeout = '60'"])
def test_init_timeout_is_bounded(project: Path, devenv_home: Path, text: str) -> None:
    write(devenv_home / "config" / "config.toml", text)
    with pytest.raises(ConfigError, match=r"init_timeout: "):
        config.load(str(project))
