from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from .conftest import Devenv


def test_engine_not_running(dv: Devenv, make_project: Any, tmp_path: Path) -> None:
    down = {"DOCKER_HOST": f"unix://{tmp_path}/no-engine.sock"}
    up = dv.run("up", str(make_project()), env=down)
    assert up.returncode == 6, up.stderr
    assert up.stderr.startswith("devenv: error: the Docker engine is not answering")
    assert "hint:" in up.stderr and "Traceback" not in up.stderr
    ex = dv.run("exec", str(make_project()), "--", "true", env=down)
    assert ex.returncode == 125 and "not answering" in ex.stderr
    ls = dv.run("list", env=down)
    assert ls.returncode == 6
    assert dv.run("list", "--all", "--json").stdout.strip() == "[]"  # nothing half-created


def test_docker_cli_missing(dv: Devenv, make_project: Any, tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("ssh-keygen",):  # everything devenv needs except docker
        found = shutil.which(tool)
        assert found
        (bin_dir / tool).symlink_to(found)
    got = dv.run("up", str(make_project()), env={"PATH": str(bin_dir)})
    assert got.returncode == 6
    assert "docker CLI is not installed" in got.stderr and "hint:" in got.stderr
