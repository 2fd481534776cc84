from __future__ import annotations

from pathlib import Path

import pytest

from devenv import config
from devenv.config_schema import Mount
from devenv.errors import ConfigError

from .conftest import assert_project_file_error, write


def test_no_files_no_config(project: Path) -> None:
    cfg = config.load(str(project))
    assert (cfg.tools, cfg.env, cfg.mounts, cfg.name) == ([], {}, [], None)
    assert str(cfg.origin("name")) == "default"


def test_user_defaults_and_project_merge(project: Path, devenv_home: Path) -> None:
    user = write(devenv_home / "config" / "config.toml",
                 'tools = ["cli-utils", "node"]\nport_range = "23000-23100"\n'
                 'post_start = "echo user"\n[env]\nA = "user"\nB = "user"\n')
    write(project / ".devenv" / "devenv.toml",
          'name = "api"\ntools = ["node", "claude-code"]\npost_start = ["echo", "project"]\n'
          '[env]\nB = "project"\n[[mounts]]\nsource = "~/data"\ntarget = "/data"\n')
    cfg = config.load(str(project))
    assert cfg.tools == ["cli-utils", "node", "claude-code"]
    assert cfg.env == {"A": "user", "B": "project"}
    assert cfg.post_start == ["echo", "project"] and cfg.name == "api"
    assert cfg.port_range == (23000, 23100)
    assert cfg.mounts == [Mount(source="~/data", target="/data", readonly=True)]
    proj_file = str(project / ".devenv" / "devenv.toml")
    assert str(cfg.origin("env.B")) == f"{proj_file}: env.B"
    assert str(cfg.origin("env.A")) == f"{user}: env.A"
    assert str(cfg.origin("tools.claude-code")) == f"{proj_file}: tools[1]"
    assert str(cfg.origin("tools.node")) == f"{user}: tools[1]"


@pytest.mark.parametrize(("text", "error"), [
    ("toolz = []", "toolz: unknown key"),
    ("ssh_port = 'x'", "ssh_port: expected int, got str"),
    ("ssh_port = 70000", "ssh_port: 70000 is out of range"),
    ("tools = ['a', 2]", "tools[1]: expected str, got int"),
    ("[env]\nA = 1", "env.A: expected a string, got int"),
    ("[env]\n'1A' = 'x'", "env.1A: not a valid variable name"),
    ("[[mounts]]\nsource = 'a'", "mounts[0].target: missing (required)"),
    ("[[mounts]]\nsource = 'a'\ntarget = 'rel'", "mounts[0].target: must be an absolute path"),
    ("[[mounts]]\nsource = 'a'\ntarget = '/x'\nrw = true", "mounts[0].rw: unknown key"),
    ("port_range = '1-2'", "port_range: belongs in the user file"),
    ("post_create = ''", "post_create: empty command"),
    ("tools = [", "invalid TOML"),
])
def test_bad_project_config_names_file_and_field(project: Path, text: str, error: str) -> None:
    assert_project_file_error(project, text, error)


def test_user_file_rejects_project_keys(project: Path, devenv_home: Path) -> None:
    write(devenv_home / "config" / "config.toml", 'name = "x"')
    with pytest.raises(ConfigError, match=r"name: belongs in the project file"):
        config.load(str(project))
    write(devenv_home / "config" / "config.toml", "ssh_port = 22222")
    with pytest.raises(ConfigError, match=r"ssh_port: belongs in the project file"):
        config.load(None)
    write(devenv_home / "config" / "config.toml", 'port_range = "9-1"')
    with pytest.raises(ConfigError, match=r"port_range: '9-1' is not a range"):
        config.load(None)


def test_ssh_bind_is_the_users_and_an_ip_address(project: Path, devenv_home: Path) -> None:
    """A repository may not publish the user's SSH port beyond this machine."""
    assert_project_file_error(project, 'ssh_bind = "0.0.0.0"',
                              "ssh_bind: belongs in the user file")
    (project / ".devenv" / "devenv.toml").unlink()
    write(devenv_home / "config" / "config.toml", 'ssh_bind = "every"')
    with pytest.raises(ConfigError, match=r"ssh_bind: 'every' is not an IP address"):
        config.load(str(project))
    write(devenv_home / "config" / "config.toml", 'ssh_bind = "0.0.0.0"')
    loaded = config.load(str(project))
    assert loaded.ssh_bind == "0.0.0.0" and loaded.origin("ssh_bind").scope == "user"
