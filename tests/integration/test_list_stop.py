from __future__ import annotations

import json
from typing import Any

from .conftest import Devenv


def test_list_stop_all(dv: Devenv, make_project: Any) -> None:
    assert json.loads(dv.ok("list", "--json").stdout) == []
    infos = [dv.up(make_project(f"l{i}")) for i in range(3)]
    listed = json.loads(dv.ok("list", "--json").stdout)
    assert sorted(r["name"] for r in listed) == sorted(i["name"] for i in infos)
    for row in listed:
        match = next(i for i in infos if i["name"] == row["name"])
        assert row["path"] == match["path"] and row["port"] == match["port"]
        assert row["status"] == "running" and row["image"] == match["image"]
        assert row["age"].endswith(("second", "seconds", "minute", "minutes"))
    table = dv.ok("list").stdout.splitlines()
    assert table[0].split() == ["NAME", "PROJECT", "PORT", "STATUS", "STARTED", "IMAGE"]
    assert len(table) == 4 and all("running" in line for line in table[1:])

    dv.ok("stop", infos[0]["path"])
    assert len(json.loads(dv.ok("list", "--json").stdout)) == 2
    out = dv.ok("stop", "--all").stdout
    assert sorted(out.splitlines()) == sorted(f"stopped {i['name']}" for i in infos[1:])
    assert json.loads(dv.ok("list", "--json").stdout) == []
    assert dv.ok("list").stdout.strip() == "no environments running"
    assert dv.containers() == []
    # --all still shows the known projects, stopped, with their remembered ports.
    known = json.loads(dv.ok("list", "--all", "--json").stdout)
    assert {(r["name"], r["status"], r["port"]) for r in known} == {
        (i["name"], "stopped", i["port"]) for i in infos}


def test_stop_by_name_and_unknown_names(dv: Devenv, make_project: Any) -> None:
    info = dv.up(make_project("named"))
    assert dv.ok("stop", info["name"]).stdout.strip() == f"stopped {info['name']}"
    assert dv.ok("stop", info["container"]).stdout.strip() == f"{info['name']} was not running"
    typo = dv.run("stop", info["name"][:-1] + "x")
    assert typo.returncode == 5
    assert "no environment named" in typo.stderr and info["name"] in typo.stderr


def test_list_ignores_other_installations(dv: Devenv, make_project: Any,
                                          tmp_path: Any) -> None:
    from .conftest import Devenv as Other

    other = Other(tmp_path / "other-home")
    theirs = other.up(make_project("theirs"))
    try:
        assert json.loads(dv.ok("list", "--json").stdout) == []
        dv.ok("stop", "--all")
        assert other.containers() == [theirs["container"]]
    finally:
        other.clean()


def test_stop_a_project_whose_directory_is_gone(dv: Devenv, make_project: Any) -> None:
    import shutil

    project = make_project("doomed")
    info = dv.up(project)
    shutil.rmtree(project)
    got = dv.ok("stop", str(project))
    assert got.stdout.strip() == f"stopped {info['name']}"
    assert dv.containers() == []


def _columns(lines: list[str]) -> list[list[str]]:
    """A table's rows, split into its columns (two or more spaces between them)."""
    import re

    return [re.split(r"\s{2,}", line.strip()) for line in lines]


def test_the_quick_list_prints_what_the_full_listing_prints(dv: Devenv,
                                                             make_project: Any) -> None:
    import subprocess
    import sys

    infos = [dv.up(make_project(f"q{i}")) for i in range(2)]
    paused = infos[1]["container"]
    subprocess.run(["docker", "pause", paused], capture_output=True, check=True, timeout=60)
    try:
        quick = dv.ok("list").stdout.splitlines()  # devenv.envs.quicklist
        full = subprocess.run(  # the listing argparse dispatches to (docker inspect)
            [sys.executable, "-c", "from devenv.commands import listing; listing.run()"],
            env=dv.env, capture_output=True, text=True, check=True, timeout=60,
        ).stdout.splitlines()
    finally:
        subprocess.run(["docker", "unpause", paused], capture_output=True, timeout=60,
                       check=False)
    assert len(quick) == len(full) == 3
    assert {r[1]: r[3] for r in _columns(quick)[1:]} == {infos[0]["path"]: "running",
                                                         infos[1]["path"]: "paused"}
    started = 4  # the ages may differ by the second between the two calls
    for mine, theirs in zip(_columns(quick), _columns(full), strict=True):
        assert mine[:started] + mine[started + 1:] == theirs[:started] + theirs[started + 1:]
        assert mine[started].endswith(("seconds ago", "second ago", "minute ago", "STARTED"))


def test_the_quick_stop_of_an_idle_environment(dv: Devenv, make_project: Any) -> None:
    """'devenv stop PATH|NAME' of an idle environment takes the quick path (devenv.envs.
    quickstop): it stops it, the index no longer lists it, and the next exec starts it again
    (through the full path)."""
    from pathlib import Path

    a, b = make_project("qa"), make_project("qb")
    info_a, info_b = dv.up(a), dv.up(b)
    index = Path(dv.home) / "state" / "index"
    listed = [line.split("\t") for line in index.read_text().splitlines()[2:]
              if not line.startswith("project\t")]
    assert {(row[1], len(row[4])) for row in listed} == {(info_a["name"], 64),
                                                        (info_b["name"], 64)}
    assert dv.ok("stop", info_a["name"]).stdout == f"stopped {info_a['name']}\n"
    assert [line.split("\t")[1] for line in index.read_text().splitlines()[2:]
            if not line.startswith("project\t")] == [info_b["name"]]
    assert dv.containers() == [info_b["container"]]
    assert dv.ok("exec", str(a), "--", "echo", "back").stdout == "back\n"
    assert sorted(dv.containers()) == sorted([info_a["container"], info_b["container"]])


def test_stopping_an_idle_environment_is_quick(dv: Devenv, make_project: Any) -> None:
    # A gross-regression guard (real figures come from bench/): an environment whose init
    # ignored TERM would take docker stop's whole grace period (5 s).
    import time

    project = make_project("quick")
    dv.up(project)
    start = time.monotonic()
    assert dv.ok("stop", str(project)).stdout.strip().startswith("stopped ")
    assert time.monotonic() - start < 4.0
    assert dv.containers() == []
