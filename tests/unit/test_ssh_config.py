from __future__ import annotations

from pathlib import Path

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


def test_write_is_private(devenv_home: Path) -> None:
    path = ssh_config.write([ENTRY], Path("/h/id"))
    assert path.read_text().count("Host devenv-x-api") == 1
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert ssh_config.known_hosts_path().read_text().startswith("devenv-x-api ")
