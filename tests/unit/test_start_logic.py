"""Start logic against a recording fake of the docker wrapper (the real engine is covered in
tests/integration): port retries, rollback, the name-conflict race."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from devenv import state
from devenv.engine import docker
from devenv.envs import start
from devenv.errors import ConflictError
from devenv.proc import Result


class FakeDocker:
    """Records docker argv; `run` fails according to a script of exceptions."""

    def __init__(self, run_failures: list[Exception]) -> None:
        self.calls: list[list[str]] = []
        self.run_failures = run_failures
        self.containers: dict[str, dict[str, Any]] = {}

    def docker(self, args: list[str], **kwargs: Any) -> Result:
        self.calls.append(list(args))
        if args[0] == "run" and self.run_failures:
            raise self.run_failures.pop(0)
        return Result(["docker", *args], 0, "[]" if "inspect" in args else "", "")

    def container(self, name: str) -> dict[str, Any] | None:
        return self.containers.get(name)

    def running_labels(self, labels: dict[str, str], key: str, value: str
                       ) -> dict[str, tuple[str, str]]:
        return {c["Config"]["Labels"][key]: ("", "") for c in self.containers.values()}

    def runs(self) -> list[list[str]]:
        return [c for c in self.calls if c[0] == "run"]


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeDocker:
    fake = FakeDocker([])
    monkeypatch.setattr(docker, "docker", fake.docker)
    monkeypatch.setattr(docker, "container", fake.container)
    monkeypatch.setattr(docker, "running_labels", fake.running_labels)
    monkeypatch.setattr(start.chain, "image_for", lambda *a, **k: "devenv-default:test")
    monkeypatch.setattr(start.drift, "labels", lambda *a, **k: {})
    monkeypatch.setattr(start.container, "wait_ready",
                        lambda cname, port, timeout=0, status_log=None: None)
    monkeypatch.setenv("DEVENV_PORT_RANGE", "29100-29120")
    return fake


def published_port(run: list[str]) -> int:
    return int(run[run.index("-p") + 1].split(":")[1])


def test_port_taken_by_docker_moves_to_the_next_port(fake: FakeDocker, tmp_path: Path) -> None:
    fake.run_failures = [docker.PortTaken("port is already allocated")]
    env = start.ensure_running(str(tmp_path))
    first, second = fake.runs()
    assert published_port(first) == 29100 and published_port(second) == 29101
    assert env.port == 29101 and env.started
    conn = state.connect()
    assert state.project_by_path(conn, str(tmp_path)).port == 29101  # type: ignore[union-attr]


def test_user_port_taken_is_a_conflict_and_leaves_nothing(fake: FakeDocker, tmp_path: Path,
                                                          devenv_home: Path) -> None:
    fake.run_failures = [docker.PortTaken("port is already allocated")]
    with pytest.raises(ConflictError, match=r"29110 on 127\.0\.0\.1 is busy"):
        start.ensure_running(str(tmp_path), port=29110)
    assert len(fake.runs()) == 1
    conn = state.connect()
    assert state.all_projects(conn) == []  # the new project's registration was undone
    assert list((devenv_home / "state" / "envs").iterdir()) == []  # no key dir left behind
    assert ["rm", "-f", fake.runs()[0][fake.runs()[0].index("--name") + 1]] in fake.calls


def test_failed_restart_keeps_the_remembered_port(fake: FakeDocker, tmp_path: Path) -> None:
    start.ensure_running(str(tmp_path))
    fake.run_failures = [RuntimeError("docker exploded")]
    with pytest.raises(RuntimeError):
        start.ensure_running(str(tmp_path), port=29115)
    conn = state.connect()
    project = state.project_by_path(conn, str(tmp_path))
    assert project is not None and project.port == 29100


def test_name_race_attaches_to_the_winner(fake: FakeDocker, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    def lose_race(args: list[str], **kwargs: Any) -> Result:
        fake.calls.append(list(args))
        if args[0] == "run":
            # Another devenv started the same project a moment ago.
            labels = dict(a.split("=", 1) for a in args[1::] if a.startswith("devenv."))
            fake.containers["devenv-" + labels["devenv.name"]] = {
                "Config": {"Labels": labels, "Image": "devenv-default:test"},
                "State": {"Running": True}}
            raise docker.NameTaken("already in use by container")
        return Result(["docker", *args], 0, "[]" if "inspect" in args else "", "")

    monkeypatch.setattr(docker, "docker", lose_race)
    env = start.ensure_running(str(tmp_path))
    assert not env.started and env.port == 29100


def test_a_failed_first_start_removes_the_volumes_it_made(fake: FakeDocker,
                                                          tmp_path: Path) -> None:
    fake.run_failures = [RuntimeError("docker exploded")]
    with pytest.raises(RuntimeError):
        start.ensure_running(str(tmp_path))
    made = sorted(c[-1] for c in fake.calls if c[:2] == ["volume", "create"])
    assert [name.split("-")[1] for name in made] == ["home", "ws"]
    assert sorted(c[-1] for c in fake.calls if c[:2] == ["volume", "rm"]) == made
