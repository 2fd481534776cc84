from __future__ import annotations

import csv

import pytest
from hypothesis import given
from hypothesis import strategies as st

from devenv.engine import docker
from devenv.errors import CommandError, DevenvError, EngineUnavailable


@given(st.text(min_size=1).filter(lambda s: "\x00" not in s and "\r" not in s
                                  and "\n" not in s),
       st.booleans())
def test_mount_arg_survives_any_path(path: str, readonly: bool) -> None:
    # Docker reads --mount as one CSV record (encoding/csv); Python's csv module agrees on
    # quoting, so it is the model here.
    value = docker.mount_arg("/src/" + path, "/workspace/" + path, readonly=readonly)
    fields = next(csv.reader([value]))
    assert fields[:3] == ["type=bind", f"source=/src/{path}", f"target=/workspace/{path}"]
    assert ("readonly" in fields) == readonly


@pytest.mark.parametrize(("stderr", "kind"), [
    ("Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker "
     "daemon running?", EngineUnavailable),
    ("docker: Error response from daemon: driver failed programming external connectivity "
     "on endpoint x: Bind for 127.0.0.1:22200 failed: port is already allocated.",
     docker.PortTaken),
    ('docker: Error response from daemon: Conflict. The container name "/devenv-x" is '
     'already in use by container "abc".', docker.NameTaken),
    ("Error: No such container: devenv-x", docker.NoSuchObject),
    ("Error response from daemon: No such image: devenv-default:x", docker.NoSuchObject),
])
def test_classify(stderr: str, kind: type) -> None:
    assert isinstance(docker.classify(CommandError(["docker", "x"], 1, stderr)), kind)


def test_unknown_failure_stays_a_command_error() -> None:
    error = CommandError(["docker", "run"], 125, "something odd\nreally odd")
    assert docker.classify(error) is error
    assert "docker run failed (exit 125): something odd really odd" in str(error)


def test_output_of_the_command_is_not_docker_speaking() -> None:
    # A build step or exec'd command may print these words; only docker's own lines count.
    stderr = ("E: Failed to fetch http://mirror/x  connect (111: Connection refused)\n"
              "curl: (7) Failed to connect: Is the docker daemon running? No such image here\n"
              "  bind: address already in use\nThe command '/bin/sh -c apt-get update' "
              "returned a non-zero code: 100")
    error = CommandError(["docker", "build"], 1, stderr)
    assert docker.classify(error) is error


def test_permission_denied_is_its_own_error() -> None:
    stderr = ("permission denied while trying to connect to the Docker daemon socket at "
              "unix:///var/run/docker.sock: Get ...: dial unix /var/run/docker.sock: connect: "
              "permission denied")
    got = docker.classify(CommandError(["docker", "ps"], 1, stderr))
    assert isinstance(got, EngineUnavailable)
    assert "permission denied" in got.message and "docker' group" in (got.hint or "")


def _fake_ps(monkeypatch: pytest.MonkeyPatch, out: str) -> list[list[str]]:
    from devenv.proc import Result

    calls: list[list[str]] = []

    def fake(args: list[str], **kwargs: object) -> Result:
        calls.append(list(args))
        return Result(["docker", *args], 0, out, "")

    monkeypatch.setattr(docker, "docker", fake)
    return calls


def test_listed_reads_one_json_array_a_container(monkeypatch: pytest.MonkeyPatch) -> None:
    line = ('["id1","devenv-a,other/alias","img:1","running","Up 2 seconds",'
            '"2026-01-01 00:00:00 +0000 UTC","a\\nb\\"c",""]')
    calls = _fake_ps(monkeypatch, line + "\n")
    (row,) = docker.listed({"devenv.instance": "x"}, ["devenv.name", "devenv.port"])
    assert row == {"Id": "id1", "Name": "devenv-a", "Image": "img:1", "State": "running",
                   "Status": "Up 2 seconds", "CreatedAt": "2026-01-01 00:00:00 +0000 UTC",
                   "Labels": {"devenv.name": 'a\nb"c'}}  # an empty label reads as absent
    assert calls[0][:5] == ["ps", "-a", "--no-trunc", "--filter", "label=devenv.instance=x"]


def test_listed_by_name_takes_exact_names_only(monkeypatch: pytest.MonkeyPatch) -> None:
    rows = ['["i1","devenv-a.b","img","running","Up 1 second","c"]',
            '["i2","devenv-aab","img","running","Up 1 second","c"]']
    calls = _fake_ps(monkeypatch, "\n".join(rows) + "\n")
    found = docker.listed({}, [], names=["devenv-a.b", "devenv-$(x)", "-x", "devenv-é"])
    assert [r["Id"] for r in found] == ["i1"]  # the filter is a pattern; names are exact
    assert calls[0][3:] == ["--filter", "name=^/?devenv-a\\.b$", "--format", calls[0][-1]]
    assert docker.listed({}, [], names=["devenv-$(x)", ""]) == []  # no name docker allows
    assert len(calls) == 1  # ... and docker was not asked


@pytest.mark.parametrize("out", ["not json\n", '{"a": 1}\n', '["too","few"]\n',
                                 '["i","n","img","running","Up",1]\n'])
def test_listed_refuses_what_it_did_not_ask_for(out: str,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_ps(monkeypatch, out)
    with pytest.raises(DevenvError, match="docker ps printed an unexpected line"):
        docker.listed({}, [])


def test_concurrently_keeps_the_order_and_raises_the_first_error() -> None:
    import time

    def slow(value: int) -> int:
        time.sleep(0.05)
        return value

    assert docker.concurrently(lambda: slow(1), lambda: 2, lambda: slow(3)) == [1, 2, 3]
    assert docker.concurrently() == []
    done: list[int] = []

    def fail(message: str) -> None:
        raise ValueError(message)

    with pytest.raises(ValueError, match="first"):
        docker.concurrently(lambda: done.append(slow(1)), lambda: fail("first"),
                            lambda: fail("second"))
    assert done == [1]  # every call ran to its end before the error was raised
    waiting = docker.started(lambda: slow(4))
    assert waiting() == [4]
