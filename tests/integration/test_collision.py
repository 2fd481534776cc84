from __future__ import annotations

import subprocess
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
    # Nobody gets attached to the other project's container either, nor stops it.
    attach = dv.run("exec", str(second), "--", "true")
    assert attach.returncode == 125 and "already used by" in attach.stderr
    stop = dv.run("stop", str(second))
    assert stop.returncode == 5 and "no devenv environment for" in stop.stderr
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


def test_renaming_a_running_environment_is_refused(dv: Devenv, make_project: Any) -> None:
    project = make_project()
    info = dv.up(project)
    got = dv.run("up", "--name", "renamed", str(project))
    assert got.returncode == 4 and "stop it first" in got.stderr
    assert dv.containers() == [info["container"]]
    dv.ok("stop", str(project))
    assert dv.up(project, "--name", "renamed")["container"] == "devenv-renamed"
    assert dv.ssh("devenv-renamed", "true").returncode == 0


def test_same_named_container_of_another_installation_is_never_entered(
        dv: Devenv, tmp_path: Any) -> None:
    from .conftest import Devenv as Other

    tag = uuid.uuid4().hex[:6]
    mine = tmp_path / "me" / f"s{tag}" / "api"
    theirs = tmp_path / "them" / f"s{tag}" / "api"
    mine.mkdir(parents=True)
    theirs.mkdir(parents=True)
    info = dv.up(mine)
    # The environment dies behind devenv's back (devenv's index still lists it) ...
    subprocess.run(["docker", "stop", info["container"]], capture_output=True, check=True)
    other = Other(tmp_path / "other-home")
    try:
        # ... and another installation starts a same-named one on the very same port.
        other.up(theirs, "--port", str(info["port"]))
        got = dv.run("exec", str(mine), "--", "touch", "/tmp/intruder")
        assert got.returncode == 125
        assert "belongs to another devenv installation" in got.stderr
        assert other.ok("exec", str(theirs), "--", "sh", "-c",
                        "test ! -e /tmp/intruder && echo clean").stdout == "clean\n"
    finally:
        other.run("stop", "--all")
