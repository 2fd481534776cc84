from __future__ import annotations

import socket
from pathlib import Path

from devenv.envs import fast


def write_index(home: Path, text: str) -> None:
    (home / "state").mkdir(parents=True, exist_ok=True)
    (home / "state" / "index").write_text(text)


def test_lookup_needs_index_entry_and_open_port(devenv_home: Path, tmp_path: Path) -> None:
    project = tmp_path / "my proj"
    project.mkdir()
    assert fast.lookup(str(project)) is None  # no index yet
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        write_index(devenv_home, f"{project}x\tother\t1\n{project}\tx-my-proj\t{port}\n")
        hit = fast.lookup(str(project))
        assert hit is not None
        assert (hit.container, hit.workspace) == ("devenv-x-my-proj", "/workspace/my proj")
    assert fast.lookup(str(project)) is None  # port closed: the environment is not running


def test_exec_argv() -> None:
    target = fast.Target("devenv-x", "/workspace/x")
    assert fast.exec_argv(target, ["id", "-u"], tty=False) == [
        "docker", "exec", "-i", "-w", "/workspace/x", "devenv-x", "id", "-u"]
    tty = fast.exec_argv(target, ["bash"], tty=True)
    assert tty[:4] == ["docker", "exec", "-i", "-t"]
