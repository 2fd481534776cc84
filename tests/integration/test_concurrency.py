from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from .conftest import Devenv


def test_eight_parallel_ups_of_one_project_make_one_container(dv: Devenv,
                                                              make_project: Any) -> None:
    project = make_project()
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: dv.run("up", "--json", str(project)), range(8)))
    assert [r.returncode for r in results] == [0] * 8, [r.stderr for r in results]
    infos = [json.loads(r.stdout) for r in results]
    assert sum(i["started"] for i in infos) == 1
    assert len({i["port"] for i in infos}) == 1
    assert dv.containers() == [infos[0]["container"]]


def test_parallel_attach_and_up_race(dv: Devenv, make_project: Any) -> None:
    project = make_project()
    with ThreadPoolExecutor(6) as pool:
        results = list(pool.map(
            lambda i: dv.run("exec", str(project), "--", "true") if i % 2 else
            dv.run("up", str(project)), range(6)))
    assert [r.returncode for r in results] == [0] * 6, [r.stderr for r in results]
    assert len(dv.containers()) == 1


def test_six_projects_in_parallel_get_six_ports(dv: Devenv, make_project: Any) -> None:
    projects = [make_project(f"p{i}") for i in range(6)]
    with ThreadPoolExecutor(6) as pool:
        results = list(pool.map(lambda p: dv.run("up", "--json", str(p)), projects))
    assert [r.returncode for r in results] == [0] * 6, [r.stderr for r in results]
    infos = [json.loads(r.stdout) for r in results]
    assert len({i["port"] for i in infos}) == 6
    assert len(dv.containers()) == 6
    for info in infos:
        got = dv.ssh(info["container"], "cat", "/var/lib/devenv/workspace")
        assert got.returncode == 0, got.stderr
        assert got.stdout.strip() == info["workspace"]


def test_parallel_starts_under_two_names_make_one_container(dv: Devenv,
                                                            make_project: Any) -> None:
    project = make_project()
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(
            lambda i: dv.run("up", "--name", "other-name", str(project)) if i % 2 else
            dv.run("up", str(project)), range(4)))
    # One start wins; the other name is refused while it runs (or was used first).
    assert any(r.returncode == 0 for r in results)
    assert all(r.returncode in (0, 4) for r in results), [r.stderr for r in results]
    assert len(dv.containers()) == 1
