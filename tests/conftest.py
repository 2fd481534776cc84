"""Shared fixtures: every test gets its own DEVENV_HOME; nothing touches the real one."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def devenv_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    home = tmp_path / "devenv-home"
    monkeypatch.setenv("DEVENV_HOME", str(home))
    for var in ("DEVENV_SSH_PORT", "DEVENV_PORT_RANGE", "DEVENV_DEBUG"):
        monkeypatch.delenv(var, raising=False)
    yield home
