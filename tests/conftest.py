"""Shared fixtures: every test gets its own DEVENV_HOME and runtime-library directory
(DEVENV_RUNTIME_DIR); nothing touches the real ones."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def devenv_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    home = tmp_path / "devenv-home"
    monkeypatch.setenv("DEVENV_HOME", str(home))
    # Short (ControlMaster socket paths have ~100 bytes), so not under tmp_path.
    runtime = tempfile.mkdtemp(prefix="dvrt-", dir="/tmp")
    monkeypatch.setenv("DEVENV_RUNTIME_DIR", runtime)
    for var in ("DEVENV_SSH_PORT", "DEVENV_PORT_RANGE", "DEVENV_DEBUG"):
        monkeypatch.delenv(var, raising=False)
    yield home
    shutil.rmtree(runtime, ignore_errors=True)
    # A home this long has its sockets in the user's runtime directory: they go too.
    from devenv.ssh.config import fallback_control_name

    base = os.environ.get("XDG_RUNTIME_DIR") or f"/tmp/devenv-{os.getuid()}"
    shutil.rmtree(os.path.join(base, fallback_control_name()), ignore_errors=True)
