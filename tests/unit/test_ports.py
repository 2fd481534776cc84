from __future__ import annotations

import socket

import pytest

from devenv.envs import ports
from devenv.envs.ports import PortChoice, choose
from devenv.errors import ConflictError, DevenvError, UsageError


def always_free(port: int) -> bool:
    return True


@pytest.mark.parametrize("value", ["0", "65536", "-1", "abc", "22.5", ""])
def test_parse_port_rejects(value: str) -> None:
    with pytest.raises(UsageError):
        ports.parse_port(value, "--port")


def test_range_from_env() -> None:
    assert ports.port_range({}) == ports.DEFAULT_RANGE
    assert ports.port_range({"DEVENV_PORT_RANGE": "23000-23010"}) == (23000, 23010)
    for bad in ("23000", "2-1", "a-b", "0-5"):
        with pytest.raises(UsageError):
            ports.port_range({"DEVENV_PORT_RANGE": bad})


def test_flag_beats_env_beats_nothing() -> None:
    env = {"DEVENV_SSH_PORT": "23001"}
    assert ports.requested_port(23002, env) == PortChoice(23002, "flag")
    assert ports.requested_port(None, env) == PortChoice(23001, "env")
    assert ports.requested_port(None, {}) is None
    with pytest.raises(UsageError, match="DEVENV_SSH_PORT"):
        ports.requested_port(None, {"DEVENV_SSH_PORT": "nope"})


def test_requested_beats_remembered() -> None:
    got = choose(requested=PortChoice(23005, "flag"), remembered=23001, reserved=set(),
                 free=always_free)
    assert got == PortChoice(23005, "flag")


def test_remembered_kept_while_free() -> None:
    got = choose(requested=None, remembered=23003, reserved={23000}, rng=(23000, 23010),
                 free=always_free)
    assert got == PortChoice(23003, "remembered")


def test_remembered_busy_gives_a_new_one() -> None:
    got = choose(requested=None, remembered=23000, reserved=set(), rng=(23000, 23010),
                 free=lambda p: p != 23000)
    assert got == PortChoice(23001, "allocated")


def test_allocation_skips_reserved_and_avoided_and_busy() -> None:
    got = choose(requested=None, remembered=None, reserved={23000, 23001}, avoid={23002},
                 rng=(23000, 23010), free=lambda p: p != 23003)
    assert got == PortChoice(23004, "allocated")


def test_exhausted_range_is_a_clear_error() -> None:
    with pytest.raises(DevenvError, match="no free SSH port in 23000-23001"):
        choose(requested=None, remembered=None, reserved={23000, 23001}, rng=(23000, 23001),
               free=always_free)


def test_requested_reserved_or_busy_is_a_conflict() -> None:
    with pytest.raises(ConflictError, match="reserved"):
        choose(requested=PortChoice(23000, "flag"), remembered=None, reserved={23000},
               free=always_free)
    with pytest.raises(ConflictError, match="busy"):
        choose(requested=PortChoice(23000, "env"), remembered=None, reserved=set(),
               free=lambda p: False)


def test_is_free_sees_a_real_listener() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        assert not ports.is_free(port)
    assert ports.is_free(port)


def test_bind_from_the_environment_over_the_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ports.ENV_BIND, raising=False)
    assert ports.bind(None) == "127.0.0.1"
    assert ports.bind("192.0.2.7") == "192.0.2.7"
    monkeypatch.setenv(ports.ENV_BIND, " 0.0.0.0 ")
    assert ports.bind("192.0.2.7") == "0.0.0.0"
    for bad in ("localhost", "0.0.0.0:22", "1.2.3", "::1]", "²"):
        monkeypatch.setenv(ports.ENV_BIND, bad)
        with pytest.raises(UsageError, match="is not an IP address"):
            ports.bind(None)


def test_publish_args_keep_loopback_published() -> None:
    assert ports.publish_args("127.0.0.1", 22200, 2222) == ["-p", "127.0.0.1:22200:2222"]
    assert ports.publish_args("0.0.0.0", 22200, 2222) == ["-p", "0.0.0.0:22200:2222"]
    assert ports.publish_args("::", 22200, 2222) == ["-p", "[::]:22200:2222"]
    assert ports.publish_args("192.0.2.7", 22200, 2222) == [
        "-p", "127.0.0.1:22200:2222", "-p", "192.0.2.7:22200:2222"]
    assert not ports.exposed("127.0.0.1") and not ports.exposed("::1")
    assert ports.exposed("0.0.0.0") and ports.exposed("192.0.2.7")
