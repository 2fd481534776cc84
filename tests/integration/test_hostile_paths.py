from __future__ import annotations

import subprocess
from typing import Any

import pytest

from .conftest import Devenv

HOSTILE = [
    "with space",
    "quote'single",
    'quote"double',
    "$(touch pwned)",
    "`id`;rm -rf x",
    "comma,and:colon=eq",
    "unicodé-名前",
    "名前",
    "x" * 200,
    "-leading-dash",
]


@pytest.mark.parametrize("basename", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_names_work(dv: Devenv, make_project: Any, basename: str) -> None:
    project = make_project(basename)
    info = dv.up(project)
    assert info["workspace"] == f"/workspace/{basename}"
    got = dv.run("exec", str(project), "--", "pwd")
    assert got.returncode == 0, got.stderr
    assert got.stdout == f"/workspace/{basename}\n"
    assert dv.ssh(info["container"], "true").returncode == 0
    assert not (project / "pwned").exists() and not (project.parent / "pwned").exists()
    dv.ok("stop", str(project))
    assert dv.containers() == []


def test_newline_in_path_is_refused_cleanly(dv: Devenv, make_project: Any) -> None:
    project = make_project("new\nline")
    got = dv.run("up", str(project))
    assert got.returncode == 2
    assert got.stderr.startswith("devenv: error: project path contains a control character")
    assert "Traceback" not in got.stderr and len(got.stderr.splitlines()) == 2
    assert dv.containers() == []


def test_missing_and_non_directory_paths(dv: Devenv, tmp_path: Any) -> None:
    missing = dv.run("up", str(tmp_path / "nope"))
    assert missing.returncode == 2 and "does not exist" in missing.stderr
    (tmp_path / "file").write_text("x")
    not_dir = dv.run("exec", str(tmp_path / "file"), "--", "true")
    assert not_dir.returncode == 125 and "not a directory" in not_dir.stderr
    assert dv.containers() == []
    assert subprocess.run(["docker", "ps", "-q", "--filter", "name=devenv-.*-nope"],
                          capture_output=True, text=True, check=True).stdout == ""
