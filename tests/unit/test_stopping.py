"""``devenv stop`` against a recording fake of the docker CLI (the real engine is covered in
tests/integration): what it asks Docker, and that its checks still hold when the docker calls
run side by side."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from devenv import state
from devenv.engine import docker
from devenv.envs import known, stopping, tidy
from devenv.errors import ConflictError, DevenvError
from devenv.proc import Result

IDLE_TOP = "PID COMMAND\n1 docker-init\n7 devenv-init\n9 sshd\n"  # docker top -o pid,comm
BUSY_TOP = IDLE_TOP + "20 tmux: server\n"
SESSION = "work\t0\t1700000000\t1\tbash\t/workspace/p\t\n"


class FakeDocker:
    """Answers the docker calls a stop makes; ``containers``: name -> (instance, top)."""

    def __init__(self, containers: dict[str, tuple[str, str]]) -> None:
        self.containers = containers
        self.calls: list[list[str]] = []
        self.tidied: list[list[tuple[str, str]]] = []  # what each stop left to tidy.later
        self.lock = threading.Lock()

    def __call__(self, args: list[str], **kwargs: object) -> Result:
        with self.lock:
            self.calls.append(list(args))
        out = ""
        if args[:2] == ["ps", "-a"]:  # docker.listed
            names = [a.split("^/?", 1)[1].rstrip("$").replace("\\", "")
                     for a in args if a.startswith("name=")]
            out = "".join(json.dumps(
                [f"id-{n}", n, "img", "running", "Up 1 minute", "c", n[7:], f"/p/{n}",
                 "x/p", "22200", self.containers[n][0]], separators=(",", ":")) + "\n"
                for n in names if n in self.containers)
        elif args[0] == "top":
            if args[1] not in self.containers:
                raise docker.NoSuchObject(f"No such container: {args[1]}")
            out = self.containers[args[1]][1]
        elif args[0] == "exec":
            out = SESSION
        elif "inspect" in args:
            out = "[]"
        return Result(["docker", *args], 0, out, "")

    def verbs(self) -> list[str]:
        return [c[0] if c[0] != "network" else " ".join(c[:2]) for c in self.calls]


@pytest.fixture
def instance(devenv_home: Path) -> str:
    conn = state.connect()
    try:
        return state.instance_id(conn)
    finally:
        conn.close()


def fake(monkeypatch: pytest.MonkeyPatch, containers: dict[str, tuple[str, str]]) -> FakeDocker:
    recorder = FakeDocker(containers)
    monkeypatch.setattr(docker, "docker", recorder)
    monkeypatch.setattr(docker, "running_labels", lambda *a, **k: {})
    monkeypatch.setattr(tidy, "later", lambda this, stopped: recorder.tidied.append(stopped))
    return recorder


def test_an_idle_environment_is_stopped_without_exec(monkeypatch: pytest.MonkeyPatch,
                                                     instance: str) -> None:
    recorder = fake(monkeypatch, {"devenv-a": (instance, IDLE_TOP)})
    assert stopping.stop(["a"]) == [("a", True)]
    assert "exec" not in recorder.verbs()  # docker top showed init and sshd only
    assert ["stop", "id-devenv-a"] in recorder.calls
    assert recorder.verbs().count("stop") == 1
    # Its network is left to a detached process, which waits for this container to go.
    assert recorder.tidied == [[("id-devenv-a", "a")]]
    assert "network rm" not in recorder.verbs()


def test_time_is_dockers_grace(monkeypatch: pytest.MonkeyPatch, instance: str) -> None:
    recorder = fake(monkeypatch, {"devenv-a": (instance, IDLE_TOP)})
    assert stopping.stop(["a"], grace=3) == [("a", True)]
    assert ["stop", "-t", "3", "id-devenv-a"] in recorder.calls


def test_sessions_refuse_the_stop_of_every_named_one(monkeypatch: pytest.MonkeyPatch,
                                                     instance: str) -> None:
    recorder = fake(monkeypatch, {"devenv-a": (instance, BUSY_TOP),
                                  "devenv-b": (instance, IDLE_TOP)})
    with pytest.raises(ConflictError, match=r"would end running sessions: a \(work\)"):
        stopping.stop(["a", "b"])
    assert "stop" not in recorder.verbs()  # nothing was stopped, not even b
    assert recorder.verbs().count("exec") == 1  # only the busy one was asked
    recorder.calls.clear()
    assert stopping.stop(["a", "b"], force=True) == [("a", True), ("b", True)]
    assert "top" not in recorder.verbs() and "exec" not in recorder.verbs()


def test_a_container_of_another_installation_is_never_stopped(
        monkeypatch: pytest.MonkeyPatch, instance: str) -> None:
    recorder = fake(monkeypatch, {"devenv-a": ("someone-else", IDLE_TOP),
                                  "devenv-b": (instance, IDLE_TOP)})
    with pytest.raises(DevenvError, match="devenv-a belongs to another devenv installation"):
        stopping.stop(["a", "b"])
    assert [c for c in recorder.calls if c[0] == "stop"] == [["stop", "id-devenv-b"]]
    assert "exec" not in recorder.verbs()  # nobody's sessions were asked about


def test_a_missing_container_was_not_running(monkeypatch: pytest.MonkeyPatch,
                                             instance: str) -> None:
    recorder = fake(monkeypatch, {})
    assert stopping.stop(["gone"]) == [("gone", False)]
    assert "stop" not in recorder.verbs()


def test_busy_asks_tmux_only_when_more_than_init_and_sshd_run(
        monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[str] = []

    def sessions(env: known.EnvInfo, this: str | None = None) -> list[object]:
        asked.append(env.name)
        return []

    monkeypatch.setattr(stopping, "sessions", sessions)
    env = known.EnvInfo("a", "devenv-a", "/p", "x/p", 1, "running", None, "img")
    assert stopping._busy(env, "i", IDLE_TOP) == "" and asked == []
    assert stopping._busy(env, "i", BUSY_TOP) == "" and asked == ["a"]
    assert stopping._busy(env, "i", None) == "" and asked == ["a", "a"]  # top did not answer
