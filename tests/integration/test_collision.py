from __future__ import annotations

import uuid
from typing import Any

from .conftest import Devenv, inspect


def test_same_parent_and_basename_never_share(dv: Devenv, tmp_path: Any) -> None:
    tag = uuid.uuid4().hex[:6]
    first = tmp_path / "a" / f"x{tag}" / "api"
    second = tmp_path / "b" / f"x{tag}" / "api"
    first.mkdir(parents=True)
    second.mkdir(parents=True)
    info = dv.up(first)
    before = inspect(info["container"])["Id"]

    clash = dv.run("up", str(second))
    assert clash.returncode == 4, clash.stderr
    lines = clash.stderr.splitlines()
    assert lines[0].startswith("devenv: error: environment name") and str(first) in lines[0]
    assert "--name" in lines[1]
    # Nobody gets attached to the other project's container either.
    assert dv.run("exec", str(second), "--", "true").returncode == 125
    # The first environment is untouched.
    assert inspect(info["container"])["Id"] == before
    assert dv.ssh(info["container"], "true").returncode == 0

    # With its own name the second project gets its own environment, and keeps the name.
    own = dv.up(second, "--name", f"api-{tag}-b")
    assert own["container"] == f"devenv-api-{tag}-b" and own["port"] != info["port"]
    assert dv.up(second)["name"] == f"api-{tag}-b"
    assert sorted(dv.containers()) == sorted([info["container"], own["container"]])


def test_moved_project_takes_over_its_old_name(dv: Devenv, tmp_path: Any) -> None:
    tag = uuid.uuid4().hex[:6]
    old = tmp_path / "one" / f"m{tag}" / "app"
    old.mkdir(parents=True)
    info = dv.up(old)
    dv.ok("stop", str(old))
    new = tmp_path / "two" / f"m{tag}" / "app"
    new.parent.mkdir(parents=True)
    old.rename(new)
    moved = dv.up(new)
    assert moved["name"] == info["name"] and moved["port"] == info["port"]
    assert dv.ssh(moved["container"], "true").returncode == 0


def test_invalid_name_is_a_usage_error(dv: Devenv, make_project: Any) -> None:
    got = dv.run("up", "--name", "Bad Name!", str(make_project()))
    assert got.returncode == 2 and "invalid environment name" in got.stderr
    assert dv.containers() == []
