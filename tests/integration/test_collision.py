from __future__ import annotations

import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

from .conftest import Devenv, inspect


def twins(root: Path) -> tuple[Path, Path]:
    """Two project dirs whose paths map to the same environment name (unique per test)."""
    parent = f"x{uuid.uuid4().hex[:6]}"
    pair = (root / "a" / parent / "api", root / "b" / parent / "api")
    for path in pair:
        path.mkdir(parents=True)
    return pair


def test_same_parent_and_basename_never_share(dv: Devenv, tmp_path: Path) -> None:
    first, second = twins(tmp_path)
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
    own_name = f"api-{second.parent.name}-b"
    own = dv.up(second, "--name", own_name)
    assert own["container"] == f"devenv-{own_name}" and own["port"] != info["port"]
    assert dv.up(second)["name"] == own_name
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
        dv: Devenv, tmp_path: Path) -> None:
    from .conftest import Devenv as Other

    mine, theirs = twins(tmp_path)
    info = dv.up(mine)
    # The environment dies behind devenv's back (devenv's index still lists it) ...
    subprocess.run(["docker", "stop", info["container"]], capture_output=True, check=True)
    # (its volumes would hold the other one off: a same-named volume of a project that
    # still exists is refused, so remove them as a user cleaning up by hand might)
    deadline = time.monotonic() + 30  # --rm removes the stopped container asynchronously
    for volume in (f"devenv-home-{info['name']}", f"devenv-ws-{info['name']}"):
        while subprocess.run(["docker", "volume", "rm", volume],
                             capture_output=True, check=False).returncode != 0:
            assert time.monotonic() < deadline, f"the volume {volume} stayed in use"
            time.sleep(0.2)
    other = Other(tmp_path / "other-home")
    try:
        # ... and another installation starts a same-named one on the very same port.
        other.up(theirs, "--port", str(info["port"]))
        # It is never stopped: the quick stop (devenv's index still lists the environment)
        # stops only the container id the index names, which is gone, and the full path
        # refuses someone else's container.
        for target in (str(mine), info["name"]):
            got = dv.run("stop", target)
            assert got.returncode != 0 and "belongs to another devenv installation" in \
                got.stderr, got.stderr
        assert other.containers() == [info["container"]]
        got = dv.run("exec", str(mine), "--", "touch", "/tmp/intruder")
        assert got.returncode == 125
        assert "belongs to another devenv installation" in got.stderr
        assert other.ok("exec", str(theirs), "--", "sh", "-c",
                        "test ! -e /tmp/intruder && echo clean").stdout == "clean\n"
    finally:
        other.clean()


def test_a_home_volume_is_never_handed_to_another_project(dv: Devenv, tmp_path: Path) -> None:
    first, second = twins(tmp_path)
    info = dv.up(first)
    dv.ok("rm", str(first))  # the record goes, the volume (with first's secrets) stays
    got = dv.run("up", str(second))
    assert got.returncode == 4
    assert f"the home volume devenv-home-{info['name']} belongs to" in got.stderr
    assert dv.containers() == []
    dv.ok("up", str(first))  # its own project still gets it back
