"""Helpers shared by the unit tests of config files."""

from __future__ import annotations

from pathlib import Path

import pytest


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.fixture
def project(tmp_path: Path) -> Path:
    path = tmp_path / "proj"
    path.mkdir()
    return path


def assert_project_file_error(project: Path, text: str, error: str) -> None:
    """``text`` as the project file is a configuration error (exit 7) that names the file,
    then the field and ``error``."""
    from devenv import config
    from devenv.errors import ConfigError

    write(project / ".devenv" / "devenv.toml", text)
    with pytest.raises(ConfigError) as info:
        config.load(str(project))
    assert info.value.message.startswith(str(project / ".devenv" / "devenv.toml") + ": ")
    assert error in info.value.message
    assert info.value.exit_code == 7

