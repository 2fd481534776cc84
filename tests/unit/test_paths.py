from __future__ import annotations

from pathlib import Path

import pytest

from devenv import paths


def test_devenv_home_moves_everything(devenv_home: Path) -> None:
    assert paths.db_path() == devenv_home / "state" / "state.db"
    assert paths.index_file() == str(devenv_home / "state" / "index")
    assert paths.ssh_dir() == devenv_home / "state" / "ssh"
    assert paths.log_dir() == devenv_home / "cache" / "logs"


def test_xdg_without_override(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("DEVENV_HOME")
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "st"))
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/ignored")  # XDG: relative paths don't count
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert paths.db_path() == tmp_path / "st" / "devenv" / "state.db"
    assert paths.log_dir() == tmp_path / "home" / ".cache" / "devenv" / "logs"
