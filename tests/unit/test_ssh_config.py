from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest

from devenv.ssh import config as ssh_config
from devenv.ssh.config import HostEntry

ENTRY = HostEntry("devenv-x-api", 22201, "dev", "ssh-ed25519 AAAAKEY devenv-x-api")


def test_config_pins_host_key_by_alias() -> None:
    text = ssh_config.render_config([ENTRY], Path("/h/id"), Path("/h/known_hosts"))
    block = text.split("Host devenv-x-api\n", 1)[1]
    for line in ("HostName 127.0.0.1", "Port 22201", "User dev", "IdentityFile /h/id",
                 "IdentitiesOnly yes", "UserKnownHostsFile /h/known_hosts",
                 "HostKeyAlias devenv-x-api", "StrictHostKeyChecking yes"):
        assert f"  {line}\n" in block


def test_paths_with_spaces_are_quoted() -> None:
    text = ssh_config.render_config([ENTRY], Path("/my home/id"), Path("/my home/kh"))
    assert '  IdentityFile "/my home/id"\n' in text
    assert '  UserKnownHostsFile "/my home/kh"\n' in text


def test_known_hosts_uses_alias_not_port() -> None:
    pins = [(ENTRY.alias, ENTRY.host_pub)]
    assert ssh_config.render_known_hosts(pins) == "devenv-x-api ssh-ed25519 AAAAKEY\n"
    assert ssh_config.render_known_hosts([]) == ""


def test_known_hosts_also_pins_the_port_for_clients_without_host_key_alias(
        devenv_home: Path) -> None:
    other = HostEntry("devenv-y", 22202, "dev", "ssh-ed25519 BBBBKEY devenv-y")
    ssh_config.write([ENTRY, other], Path("/h/id"))
    assert ssh_config.known_hosts_path().read_text().splitlines() == [
        "devenv-x-api,[127.0.0.1]:22201 ssh-ed25519 AAAAKEY",
        "devenv-y,[127.0.0.1]:22202 ssh-ed25519 BBBBKEY"]
    # A port moved: the pin moves with it (regenerated from state, nothing stale stays).
    moved = HostEntry("devenv-y", 22209, "dev", other.host_pub)
    ssh_config.write([ENTRY, moved], Path("/h/id"))
    assert "22202" not in ssh_config.known_hosts_path().read_text()
    assert "devenv-y,[127.0.0.1]:22209 ssh-ed25519 BBBBKEY" in \
        ssh_config.known_hosts_path().read_text()
    # Two known environments remembering one port (state damage): neither is pinned by
    # port, which would trust either key there.
    twin = HostEntry("devenv-z", 22201, "dev", "ssh-ed25519 CCCCKEY devenv-z")
    assert ssh_config.pins([ENTRY, twin]) == [("devenv-x-api", ENTRY.host_pub),
                                              ("devenv-z", twin.host_pub)]


def test_write_is_private(devenv_home: Path) -> None:
    path = ssh_config.write([ENTRY], Path("/h/id"))
    assert path.read_text().count("Host devenv-x-api") == 1
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert ssh_config.known_hosts_path().read_text().startswith("devenv-x-api,")


def test_control_sockets_live_in_devenvs_state_when_they_fit(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Not under /tmp, where another user could prepare the directory for the ssh clients
    that use devenv's ssh_config without devenv running; a state directory too deep for
    a socket path falls back to the verified runtime directory."""
    short = Path(tempfile.mkdtemp(prefix="dv", dir="/tmp"))
    try:
        monkeypatch.setenv("DEVENV_HOME", str(short))
        assert ssh_config.control_dir() == short / "state" / "ssh" / "cm"
        assert (short / "state" / "ssh" / "cm").stat().st_mode & 0o777 == 0o700
        deep = tmp_path / ("d" * 60) / "home"
        monkeypatch.setenv("DEVENV_HOME", str(deep))
        fallback = ssh_config.control_dir()
        assert fallback.name.startswith("cm-") and len(str(fallback)) < 60
    finally:
        shutil.rmtree(short)
