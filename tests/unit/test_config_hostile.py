"""Hostile config files get one-line errors naming the file and the field (exit 7), never a
traceback: NUL characters, deep nesting, huge files, links out of the project, keys that are
the user's to set (issue 10, item 10)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from devenv import config
from devenv.cli import main
from devenv.errors import ConfigError


@pytest.fixture
def project(tmp_path: Path) -> Path:
    path = tmp_path / "proj"
    (path / ".devenv").mkdir(parents=True)
    return path


def project_file(project: Path, text: str | bytes) -> None:
    data = text.encode() if isinstance(text, str) else text
    (project / ".devenv" / "devenv.toml").write_bytes(data)


@pytest.mark.parametrize(("text", "expected"), [
    ('[env]\nA = "a\\u0000b"\n', "env.A: holds a NUL character"),
    ("x = " + "[" * 5000 + "]" * 5000 + "\n", "nested too deeply"),
    ('[env]\nBIG = "' + "x" * (70 << 10) + '"\n', "env.BIG: longer than 64 KiB"),
    ("trust_git_config = ['.']\n", "trust_git_config: belongs in the user file"),
    ("host_access = true\n", "host_access: belongs in the user file"),
])
def test_bad_project_config_is_a_config_error(project: Path, text: str, expected: str,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    project_file(project, text)
    with pytest.raises(ConfigError, match=expected):
        config.load(str(project))
    assert main(["config", str(project)]) == 7
    err = capsys.readouterr().err
    assert expected.split(":", maxsplit=1)[0] in err and "Traceback" not in err
    assert len(err.strip().splitlines()) <= 2  # one line, and a hint


def test_a_huge_config_file_is_refused_without_reading_it_all(
        project: Path, devenv_home: Path) -> None:
    user = devenv_home / "config" / "config.toml"
    user.parent.mkdir(parents=True)
    with open(user, "wb") as f:
        f.truncate(100 << 20)  # 100 MB (sparse)
    with pytest.raises(ConfigError, match="larger than 1024 KiB"):
        config.load(str(project))
    user.unlink()
    project_file(project, b"# " + b"x" * (2 << 20))
    with pytest.raises(ConfigError, match="larger than 1 MiB"):
        config.load(str(project))


def test_a_linked_project_config_is_not_read(project: Path, tmp_path: Path) -> None:
    """The agent can replace .devenv/devenv.toml with a link to a host file."""
    secret = tmp_path / "host.toml"
    secret.write_text('[env]\nSTOLEN = "host secret"\n')
    os.symlink(secret, project / ".devenv" / "devenv.toml")
    with pytest.raises(ConfigError, match="symbolic link"):
        config.load(str(project))
    os.unlink(project / ".devenv" / "devenv.toml")
    os.rmdir(project / ".devenv")
    os.symlink(tmp_path, project / ".devenv")  # .devenv itself as a link
    with pytest.raises(ConfigError, match="symbolic link"):
        config.load(str(project))


def test_trust_git_config_from_the_user_file(project: Path, devenv_home: Path) -> None:
    user = devenv_home / "config" / "config.toml"
    user.parent.mkdir(parents=True)
    user.write_text(f"trust_git_config = [{str(project)!r}, '~/elsewhere']\n")
    cfg = config.load(str(project))
    assert str(project) in cfg.trust_git_config


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(st.text(min_size=1, max_size=8), st.text(max_size=20), max_size=4))
def test_any_env_table_is_accepted_or_a_config_error(env: dict[str, str]) -> None:
    """Whatever a project file's env holds: a valid config or a ConfigError, nothing else."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / ".devenv").mkdir()
        lines = "".join(f"{_toml_key(k)} = {_toml_str(v)}\n" for k, v in env.items())
        (root / ".devenv" / "devenv.toml").write_text("[env]\n" + lines)
        try:
            cfg = config.load(str(root))
        except ConfigError as e:
            assert "\n" not in e.message
        else:
            assert all("\x00" not in v for v in cfg.env.values())


def _toml_str(value: str) -> str:
    return '"' + "".join(c if c.isalnum() or c == " " else f"\\u{ord(c):04x}"
                         if ord(c) < 0x10000 else f"\\U{ord(c):08x}" for c in value) + '"'


def _toml_key(key: str) -> str:
    return _toml_str(key)
