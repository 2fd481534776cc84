"""The quick stop's decisions (devenv.envs.quickstop), against a recording fake ``docker`` on
PATH; the real engine is covered in tests/integration (test_list_stop, test_collision,
test_sessions)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from devenv.envs import index, quickstop, tidy

ID = "ab" * 32
OTHER_ID = "cd" * 32
TOP = "PID COMMAND\n"  # docker top ID -o pid,comm
IDLE = TOP + "1 docker-init\n7 devenv-init\n9 sshd\n12 sshd\n"
BUSY = IDLE + "20 tmux: server\n"


@pytest.fixture
def world(devenv_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
          ) -> tuple[Path, Path, list[object]]:
    """A project the index lists as running (with container id ``ID``), a fake docker
    whose ``top`` prints ``$FAKE_TOP`` and whose ``stop`` exits ``$FAKE_STOP`` (argv
    recorded), and the tidy hand-over recorded instead of spawned."""
    project = tmp_path / "proj"
    project.mkdir()
    (devenv_home / "state").mkdir(parents=True)
    stamp = index.config_stamp(str(project))
    (devenv_home / "state" / "index").write_text(
        "instance\tabc123\n"
        f"{project}\tx-proj\t22200\t{stamp}\t{ID}\n"
        f"{tmp_path}/other\tx-other\t22201\t{stamp}\t{OTHER_ID}\n")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "calls"
    fake = bin_dir / "docker"
    fake.write_text(f"#!/bin/sh\necho \"$*\" >> {calls}\n"
                    'case "$1" in top) printf "%s" "$FAKE_TOP";; '
                    'stop) exit "${FAKE_STOP:-0}";; events) echo destroy;; esac\n')
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_TOP", IDLE)
    monkeypatch.setattr(quickstop, "_CGROUP_PROCS", ())  # no cgroup: docker top answers
    handed: list[object] = []
    monkeypatch.setattr(tidy, "later", lambda this, stopped: handed.append((this, stopped)))
    return project, calls, handed


def test_an_idle_environment_is_stopped_by_its_id(
        world: tuple[Path, Path, list[object]], capsys: pytest.CaptureFixture[str]) -> None:
    project, calls, handed = world
    assert quickstop.run(str(project)) == 0
    made = calls.read_text().splitlines()
    assert made[0] == f"top {ID} -o pid,comm" and f"stop {ID}" in made
    # ... and it waited for Docker to remove it (its destroy event, asked for meanwhile).
    events = [c for c in made if c.startswith("events ")]
    assert len(events) == 1 and len(made) == 3
    assert events[0].endswith(f"--filter container={ID} --filter event=destroy "
                              "--format {{.Action}}")
    assert capsys.readouterr().out == "stopped x-proj\n"
    # The index keeps the other environment, and the network is left to the tidying.
    lines = Path(os.environ["DEVENV_HOME"], "state", "index").read_text().splitlines()
    assert [line.split("\t")[1] for line in lines[1:]] == ["x-other"]
    assert handed == [("abc123", [(ID, "x-proj")])]


def test_by_name_too(world: tuple[Path, Path, list[object]]) -> None:
    _, calls, _ = world
    assert quickstop.run("x-other") == 0
    assert f"stop {OTHER_ID}" in calls.read_text().splitlines()


@pytest.mark.parametrize("top", [BUSY, TOP, ""])
def test_sessions_or_no_answer_leave_it_to_the_full_path(
        world: tuple[Path, Path, list[object]], monkeypatch: pytest.MonkeyPatch,
        top: str) -> None:
    project, calls, handed = world
    monkeypatch.setenv("FAKE_TOP", top)
    before = Path(os.environ["DEVENV_HOME"], "state", "index").read_text()
    assert quickstop.run(str(project)) is None
    assert calls.read_text().splitlines() == [f"top {ID} -o pid,comm"]  # nothing stopped
    assert Path(os.environ["DEVENV_HOME"], "state", "index").read_text() == before
    assert handed == []


def test_a_failed_stop_leaves_it_to_the_full_path(world: tuple[Path, Path, list[object]],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    project, _, handed = world
    monkeypatch.setenv("FAKE_STOP", "1")
    assert quickstop.run(str(project)) is None
    assert "x-proj" in Path(os.environ["DEVENV_HOME"], "state", "index").read_text()
    assert handed == []


def test_the_kernels_list_stands_in_for_docker_top(
        world: tuple[Path, Path, list[object]], monkeypatch: pytest.MonkeyPatch,
        tmp_path: Path) -> None:
    project, calls, _ = world
    procs = tmp_path / "cgroup" / ID / "cgroup.procs"
    procs.parent.mkdir(parents=True)
    monkeypatch.setattr(quickstop, "_CGROUP_PROCS", (f"{tmp_path}/cgroup/{{id}}/cgroup.procs",))
    monkeypatch.setattr(quickstop, "_PROC", str(tmp_path / "proc").encode())
    for pid, name in ((1, "docker-init"), (7, "devenv-init"), (9, "sshd"), (12, "sleep")):
        (tmp_path / "proc" / str(pid)).mkdir(parents=True)
        (tmp_path / "proc" / str(pid) / "comm").write_text(name + "\n")
    procs.write_text("1\n7\n9\n12\n")
    assert quickstop.run(str(project)) is None  # a session's process
    assert not calls.exists()  # no docker call at all
    procs.write_text("1\n7\n9\n31\n")  # 31 has just ended
    assert quickstop.run(str(project)) == 0
    assert sorted(c.split()[0] for c in calls.read_text().splitlines()) == ["events", "stop"]


def test_idle_means_nothing_but_init_supervisor_and_sshd() -> None:
    assert quickstop.idle(["docker-init", "devenv-init", "sshd", "sshd", "sshd"])
    assert quickstop.idle(["docker-init", "sshd"])  # an image from before the supervisor
    assert not quickstop.idle(["docker-init", "devenv-init", "sshd", "tmux: server"])
    assert not quickstop.idle(["docker-init", "devenv-init", "sshd", "bash"])
    assert not quickstop.idle([])


@pytest.mark.parametrize("listed_id", ["", "id", "AB" * 32, "ab" * 31, "../" + "a" * 61])
def test_only_a_full_container_id_is_used(devenv_home: Path, tmp_path: Path,
                                          listed_id: str) -> None:
    project = tmp_path / "proj"
    project.mkdir()
    (devenv_home / "state").mkdir(parents=True)
    (devenv_home / "state" / "index").write_text(
        f"instance\tabc123\n{project}\tx-proj\t22200\t{index.config_stamp(str(project))}"
        f"\t{listed_id}\n")
    assert quickstop.run(str(project)) is None
