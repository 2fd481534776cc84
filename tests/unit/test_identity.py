from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from devenv.envs import identity
from devenv.envs.identity import NAME_RE, ProjectPath, default_name
from devenv.errors import UsageError


def test_name_is_parent_dash_basename() -> None:
    assert default_name(ProjectPath("/home/me/work/api")) == "work-api"
    assert identity.container_name("work-api") == "devenv-work-api"


def test_sanitising_maps_to_dockers_alphabet() -> None:
    assert default_name(ProjectPath("/x/My Projects/Hello World!")) == "my-projects-hello-world"
    assert default_name(ProjectPath("/x/café/naïve")) == "cafe-naive"
    assert default_name(ProjectPath("/x/.hidden/_under")) == "hidden-under"


def test_non_latin_basenames_stay_distinct() -> None:
    a = default_name(ProjectPath("/x/p/日本"))
    b = default_name(ProjectPath("/x/p/中国"))
    assert a != b
    assert NAME_RE.match(a) and NAME_RE.match(b)


def test_long_names_are_capped_and_distinct() -> None:
    a = default_name(ProjectPath("/x/p/" + "a" * 200))
    b = default_name(ProjectPath("/x/p/" + "a" * 199 + "b"))
    assert len(a) <= identity.MAX_NAME and len(b) <= identity.MAX_NAME
    assert a != b


@given(st.text(min_size=1, max_size=80).filter(lambda s: "/" not in s and "\x00" not in s),
       st.text(min_size=1, max_size=80).filter(lambda s: "/" not in s and "\x00" not in s))
def test_any_path_gives_a_valid_deterministic_name(parent: str, base: str) -> None:
    project = ProjectPath(f"/root/{parent}/{base}")
    name = default_name(project)
    assert NAME_RE.match(name), name
    assert len(name) <= identity.MAX_NAME
    assert default_name(ProjectPath(f"/root/{parent}/{base}")) == name
    assert identity.check_name(name) == name
    host = identity.hostname(name)
    assert 1 <= len(host) <= 63 and not host.startswith("-") and not host.endswith("-")


def test_labels_carry_identity() -> None:
    labels = identity.labels(ProjectPath("/a/x/api"), "x-api", 22201, "abc")
    assert labels["devenv"] == "true"
    assert labels["devenv.project"] == "x/api"
    assert labels["devenv.path"] == "/a/x/api"
    assert labels["devenv.port"] == "22201"
    assert labels["devenv.workspace"] == "/workspace/api"


@pytest.mark.parametrize("bad", ["", "-x", "UPPER", "a b", "x" * 61, "ü", "a/b", "a..b",
                                 "a-.b", "a_", "a___b", "._a"])
def test_check_name_rejects(bad: str) -> None:
    with pytest.raises(UsageError):
        identity.check_name(bad)


@pytest.mark.parametrize("good", ["api", "my_app", "a.b", "a__b", "a--b", "x1-2.y_3"])
def test_check_name_accepts_image_name_components(good: str) -> None:
    assert identity.check_name(good) == good


def test_separator_runs_collapse() -> None:
    assert default_name(ProjectPath("/x/a..b/c._-d")) == "a-b-c-d"


def test_project_path_validation(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="does not exist"):
        identity.project_path(str(tmp_path / "missing"))
    (tmp_path / "file").write_text("x")
    with pytest.raises(UsageError, match="not a directory"):
        identity.project_path(str(tmp_path / "file"))
    bad = tmp_path / "new\nline"
    bad.mkdir()
    with pytest.raises(UsageError, match="control character"):
        identity.project_path(str(bad))
    with pytest.raises(UsageError, match="cannot use project path"):
        identity.project_path(str(tmp_path / ("x" * 300)))
    with pytest.raises(UsageError, match="cannot use project path"):
        identity.project_path("~no-such-user-devenv/x")
    with pytest.raises(UsageError, match="root directory"):
        identity.project_path("/")
    latin1 = os.path.join(os.fsencode(tmp_path), b"\xff")
    os.mkdir(latin1)
    with pytest.raises(UsageError, match="not valid UTF-8"):
        identity.project_path(os.fsdecode(latin1))
    link = tmp_path / "link"
    (tmp_path / "real").mkdir()
    os.symlink(tmp_path / "real", link)
    assert identity.project_path(str(link)).path == str((tmp_path / "real").resolve())


def test_a_directory_holding_the_docker_socket_is_refused(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    project = tmp_path / "proj"
    (project / "run").mkdir(parents=True)
    sock_path = project / "run" / "docker.sock"
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(sock_path))
        monkeypatch.setenv("DOCKER_HOST", f"unix://{sock_path}")
        with pytest.raises(UsageError, match="contains the Docker socket"):
            identity.project_path(str(project))
        with pytest.raises(UsageError, match="contains the Docker socket"):
            identity.project_path(str(project / "run"))
        (tmp_path / "other").mkdir()  # an unrelated directory is fine
        assert identity.project_path(str(tmp_path / "other")).path == str(tmp_path / "other")
