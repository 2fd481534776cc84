"""devenv rm, gc and images on the real engine. gc is engine-wide, so these tests only
list its candidates and remove images they made themselves (other tests run in parallel)."""

from __future__ import annotations

import json
import os
import subprocess
from typing import Any

from devenv.envs import cleanup

from .conftest import Devenv


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
    assert f"removed state of {info['name']}" in out and "kept the home volume" in out
    assert dv.containers() == [] and json.loads(dv.ok("list", "--all", "--json").stdout) == []
    assert (project / "keep.txt").read_text() == "mine\n" and volume_exists(volume)
    dv.up(project)  # a fresh record, the same home
    assert dv.ok("exec", str(project), "--", "cat", "/home/dev/note").stdout == "home\n"
    out = dv.ok("rm", "--volumes", info["name"]).stdout
    assert f"removed volume {volume}" in out and not volume_exists(volume)
    assert (project / "keep.txt").read_text() == "mine\n"
    assert dv.run("rm", "no-such-env").returncode == 5


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
