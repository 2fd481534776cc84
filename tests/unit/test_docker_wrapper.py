from __future__ import annotations

import csv

import pytest
from hypothesis import given
from hypothesis import strategies as st

from devenv.engine import docker
from devenv.errors import CommandError, EngineUnavailable


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
