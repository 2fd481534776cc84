"""devenv rm, gc and images on the real engine. gc is engine-wide, so these tests only
list its candidates and remove images they made themselves (other tests run in parallel)."""

from __future__ import annotations

import json
import os
import subprocess
from typing import Any

import pytest

from devenv.envs import cleanup

from .conftest import Devenv, expected_uid


def volume_exists(name: str) -> bool:
    return subprocess.run(["docker", "volume", "inspect", name], capture_output=True,
                          check=False).returncode == 0


def test_rm_forgets_and_keeps_files_and_volume_unless_asked(dv: Devenv,
                                                            make_project: Any) -> None:
    project = make_project()
    (project / "keep.txt").write_text("mine\n")
    info = dv.up(project)
    dv.ok("exec", str(project), "--", "sh", "-c", "echo home > ~/note")
    volume = f"devenv-home-{info['name']}"
    out = dv.ok("rm", str(project)).stdout
    assert f"removed state of {info['name']}" in out
    assert "kept the home and workspaces volumes" in out
    assert dv.containers() == [] and json.loads(dv.ok("list", "--all", "--json").stdout) == []
    assert (project / "keep.txt").read_text() == "mine\n" and volume_exists(volume)
    dv.up(project)  # a fresh record, the same home
    assert dv.ok("exec", str(project), "--", "cat", "/home/dev/note").stdout == "home\n"
    out = dv.ok("rm", "--volumes", info["name"]).stdout
    assert f"removed volume {volume}" in out and not volume_exists(volume)
    assert (project / "keep.txt").read_text() == "mine\n"
    assert dv.run("rm", "no-such-env").returncode == 5


def test_the_workspaces_volume_keeps_work_until_rm_volumes(
        dv: Devenv, make_project: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    project = make_project()
    info = dv.up(project)
    home, ws = f"devenv-home-{info['name']}", f"devenv-ws-{info['name']}"
    dv.ok("exec", str(project), "--", "sh", "-c",
          "mkdir /workspaces/x && echo work > /workspaces/x/file")
    uid = str(expected_uid())

    def still_there() -> None:
        got = dv.ok("exec", str(project), "--", "sh", "-c",
                    "id -u; stat -c %u /workspaces /workspaces/x /workspaces/x/file; "
                    "cat /workspaces/x/file; touch /workspaces/x/again").stdout
        assert got.split() == [uid, uid, uid, uid, "work"]

    still_there()  # the fresh volume took the image directory's owner: the user writes
    dv.ok("stop", str(project))
    dv.up(project)
    still_there()
    # A project Dockerfile on top inherits /workspaces from the default image.
    (project / ".devenv").mkdir()
    (project / ".devenv" / "Dockerfile").write_text(
        "ARG DEVENV_BASE_IMAGE\nFROM ${DEVENV_BASE_IMAGE}\nUSER root\nRUN true\n")
    dv.up(project, "--recreate")
    still_there()

    # A plain rm keeps both volumes; gc sees them as orphans, as long as devenv does not
    # know the environment.
    assert "kept the home and workspaces volumes" in dv.ok("rm", str(project)).stdout
    assert volume_exists(ws)
    dry = dv.ok("gc", "--dry-run").stdout
    assert "home and workspaces volumes of environments devenv no longer knows" in dry
    assert f"  {home}\n" in dry and f"  {ws}\n" in dry
    dv.up(project)
    still_there()
    dry = dv.ok("gc", "--dry-run").stdout
    assert home not in dry and ws not in dry

    out = dv.ok("rm", "--volumes", str(project)).stdout
    assert f"removed volume {home}" in out and f"removed volume {ws}" in out
    assert not volume_exists(ws) and not volume_exists(home)

    # gc's removal of orphans, limited to this test's own (gc --yes is engine-wide).
    dv.up(project)
    dv.ok("rm", str(project))
    monkeypatch.setenv("DEVENV_HOME", str(dv.home))
    orphans = [v for v in cleanup.find().volumes if v in (home, ws)]
    assert sorted(orphans) == [home, ws]
    assert cleanup.collect(cleanup.Garbage(volumes=orphans)) == []
    assert not volume_exists(ws) and not volume_exists(home)


def test_images_and_gc_candidates(dv: Devenv, make_project: Any) -> None:
    project = make_project()
    (project / ".devenv").mkdir()
    (project / ".devenv" / "Dockerfile").write_text(
        f"ARG DEVENV_BASE_IMAGE\nFROM ${{DEVENV_BASE_IMAGE}}\nLABEL gc.test={os.getpid()}\n")
    info = dv.up(project)
    tag = f"devenv-project-{info['name']}:latest"
    listed = {row["image"]: row for row in json.loads(dv.ok("images", "--json").stdout)}
    assert listed[tag]["kind"] == "project" and info["container"] in listed[tag]["containers"]
    assert tag not in dv.ok("gc", "--dry-run").stdout  # running: in use

    dv.ok("stop", str(project))
    assert tag not in dv.ok("gc", "--dry-run").stdout  # its project still wants it
    dv.ok("rm", "--volumes", str(project))
    dry = dv.ok("gc", "--dry-run").stdout
    assert tag in dry and "(dry run: nothing removed)" in dry
    refused = dv.run("gc")  # no TTY, no --yes: lists, removes nothing
    assert refused.returncode == 2 and "--yes" in refused.stderr
    assert subprocess.run(["docker", "image", "inspect", tag], capture_output=True,
                          check=False).returncode == 0
    # Removal itself, limited to this test's own image (gc --yes is engine-wide).
    assert cleanup.collect(cleanup.Garbage(images=[tag])) == []
    assert subprocess.run(["docker", "image", "inspect", tag], capture_output=True,
                          check=False).returncode != 0
