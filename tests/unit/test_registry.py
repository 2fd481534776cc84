"""Registration, rollback and derived files, on real sqlite and real files (Docker's list of
running containers is the only thing faked)."""

from __future__ import annotations

from pathlib import Path

import pytest

from devenv import paths, state
from devenv.engine import docker
from devenv.envs import registry
from devenv.envs.identity import ProjectPath
from devenv.errors import ConflictError


@pytest.fixture
def running(monkeypatch: pytest.MonkeyPatch) -> set[str]:
    names: set[str] = set()

    def running_labels(labels: dict[str, str], key: str, value: str
                       ) -> dict[str, tuple[str, str]]:
        assert key == "devenv.name" and value == "devenv.cfgstamp"
        assert "devenv.instance" in labels
        return {name: ("0,0,0", f"id-{name}") for name in names}

    monkeypatch.setattr(docker, "running_labels", running_labels)
    return names


def mkproject(root: Path, *parts: str) -> ProjectPath:
    path = root.joinpath(*parts)
    path.mkdir(parents=True)
    return ProjectPath(str(path))


def test_collision_with_a_living_project(tmp_path: Path, running: set[str]) -> None:
    conn = state.connect()
    registry.claim(conn, mkproject(tmp_path, "a", "x", "api"), "x-api")
    with pytest.raises(ConflictError, match="already used by"):
        registry.claim(conn, mkproject(tmp_path, "b", "x", "api"), "x-api")


def test_release_after_a_move_restores_the_old_record(tmp_path: Path,
                                                      running: set[str]) -> None:
    conn = state.connect()
    old = mkproject(tmp_path, "one", "app")
    registry.claim(conn, old, "one-app")
    registry.assign_port(conn, old, None, set())
    original = state.project_by_path(conn, old.path)
    Path(old.path).rename(tmp_path / "moved")
    new = ProjectPath(str(tmp_path / "moved"))
    before = registry.claim(conn, new, "one-app")  # the moved project takes the name over
    taken = state.project_by_path(conn, new.path)
    assert taken is not None and original is not None
    assert (taken.host_key, taken.port) == (original.host_key, original.port)
    registry.release(conn, new, before)  # its first start failed
    assert state.project_by_path(conn, old.path) == original
    assert state.project_by_path(conn, new.path) is None


def test_release_of_a_new_project_removes_everything(tmp_path: Path, devenv_home: Path,
                                                     running: set[str]) -> None:
    conn = state.connect()
    project = mkproject(tmp_path, "p", "new")
    before = registry.claim(conn, project, "p-new")
    record = state.project_by_path(conn, project.path)
    assert record is not None
    registry.prepare_mounts(record)
    registry.release(conn, project, before)
    assert state.all_projects(conn) == []
    assert not (devenv_home / "state" / "envs" / "p-new").exists()


def test_index_lists_only_running_environments(tmp_path: Path, running: set[str]) -> None:
    conn = state.connect()
    projects = [mkproject(tmp_path, "q", f"p{i}") for i in range(3)]
    for i, project in enumerate(projects):
        registry.claim(conn, project, f"q-p{i}")
        registry.assign_port(conn, project, None, set())
    running.update({"q-p0", "q-p2"})
    config = Path(registry.refresh_files(conn)).read_text()
    assert all(f"Host devenv-q-p{i}\n" in config for i in range(3))  # every known project
    lines = Path(paths.index_file()).read_text().splitlines()
    assert lines[0] == f"instance\t{state.instance_id(conn)}"
    assert lines[1].startswith("control\t")
    # Every known project (PATH resolves to the project it is in: devenv.envs.root) ...
    assert sorted(line for line in lines if line.startswith("project\t")) == [
        f"project\t{p.path}" for p in projects]
    # ... and the running environments.
    running_lines = [line.split("\t") for line in lines[2:] if len(line.split("\t")) == 5]
    assert sorted(fields[1] for fields in running_lines) == ["q-p0", "q-p2"]
    assert sorted(fields[4] for fields in running_lines) == ["id-q-p0", "id-q-p2"]


def test_record_running_repairs_state(tmp_path: Path, running: set[str]) -> None:
    conn = state.connect()
    project = mkproject(tmp_path, "r", "app")
    registry.record_running(conn, project, "r-app", 29500)  # e.g. after an interrupted start
    record = state.project_by_path(conn, project.path)
    assert record is not None and (record.name, record.port) == ("r-app", 29500)


def test_release_survives_a_name_taken_meanwhile(tmp_path: Path, running: set[str]) -> None:
    conn = state.connect()
    p = mkproject(tmp_path, "r", "m")
    registry.claim(conn, p, "m")
    before = registry.claim(conn, p, "x")  # `up --name x P` is starting ...
    q = mkproject(tmp_path, "s", "q")
    registry.claim(conn, q, "m")  # ... while another project takes the old name
    registry.release(conn, p, before)  # P's start fails: no crash, nothing lost
    assert state.project_by_path(conn, p.path).name == "x"  # type: ignore[union-attr]
    assert state.project_by_path(conn, q.path).name == "m"  # type: ignore[union-attr]


def test_record_running_keeps_the_key_the_container_serves(
        tmp_path: Path, running: set[str]) -> None:
    conn = state.connect()
    project = mkproject(tmp_path, "k", "app")
    registry.claim(conn, project, "k-app")
    record = state.project_by_path(conn, project.path)
    assert record is not None
    registry.prepare_mounts(record)
    with state.transaction(conn):  # the record is lost while the container runs
        state.remove_project(conn, project.path)
    registry.record_running(conn, project, "k-app", 29600)
    repaired = state.project_by_path(conn, project.path)
    assert repaired is not None
    assert (repaired.host_key, repaired.host_pub.split()[:2], repaired.port) == (
        record.host_key, record.host_pub.split()[:2], 29600)


def test_wezterm_files_follow_state(tmp_path: Path, running: set[str]) -> None:
    import devenv.commands  # noqa: F401 - the commands subscribe the integrations
    from devenv.integrations import wezterm

    conn = state.connect()
    a, b = mkproject(tmp_path, "w", "a"), mkproject(tmp_path, "w", "b")
    for project, name in ((a, "w-a"), (b, "w-b")):
        registry.claim(conn, project, name)
        registry.assign_port(conn, project, None, set())
    with state.transaction(conn):
        state.set_tools(conn, a.path, ["wezterm-mux", "node"])  # the tools of its last start
    registry.refresh_files(conn)
    module = wezterm.module_path().read_text()
    assert module.count('multiplexing = "WezTerm"') == 1
    assert module.count('multiplexing = "None"') == 1
    known = wezterm.known_hosts_path().read_text().splitlines()
    for name in ("w-a", "w-b"):
        record = state.project_by_name(conn, name)
        assert record is not None
        key = " ".join(record.host_pub.split()[:2])
        assert f"[127.0.0.1]:{record.port},devenv-{name} {key}" in known
