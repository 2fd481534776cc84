"""Project files are read as hostile: no link in the project is followed (docs/security.md)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from devenv import hostile
from devenv.errors import ConfigError
from devenv.images import catalogue, layers


@pytest.fixture
def secret(tmp_path: Path) -> Path:
    path = tmp_path / "host-secret"
    path.write_text("HOST SECRET")
    path.chmod(0o600)
    return path


def recipe(project: Path, name: str = "evil") -> Path:
    root = project / ".devenv" / "tools" / name
    root.mkdir(parents=True)
    (root / "Dockerfile").write_text("ARG DEVENV_PARENT\nFROM ${DEVENV_PARENT}\nCOPY s /s\n")
    (root / "manifest.toml").write_text('summary = "x"\nversion = "true"\n')
    return root


def test_read_beneath_reads_plain_files_and_refuses_links(tmp_path: Path, secret: Path) -> None:
    (tmp_path / "p" / "a").mkdir(parents=True)
    (tmp_path / "p" / "a" / "f").write_text("ok")
    assert hostile.read_beneath(str(tmp_path / "p"), "a/f") == b"ok"
    assert hostile.read_beneath(str(tmp_path / "p"), "a/missing") is None
    (tmp_path / "p" / "a" / "link").symlink_to(secret)
    (tmp_path / "p" / "dirlink").symlink_to(tmp_path)
    for rel in ("a/link", "dirlink/host-secret"):
        with pytest.raises(hostile.LinkRefused, match="symbolic link"):
            hostile.read_beneath(str(tmp_path / "p"), rel)
    with pytest.raises(ConfigError):
        hostile.read_beneath(str(tmp_path / "p"), "../host-secret")


def test_a_project_recipe_cannot_carry_a_host_file_into_the_image(tmp_path: Path,
                                                                   secret: Path) -> None:
    project = tmp_path / "project"
    root = recipe(project)
    (root / "s").symlink_to(secret)
    with pytest.raises(hostile.LinkRefused, match="symbolic link"):
        catalogue.available(None, project)
    os.unlink(root / "s")
    (root / "s").write_text("plain")
    tools = catalogue.available(None, project)
    assert tools["evil"].files["s"] == b"plain"
    # The recipe directory itself, or .devenv/tools, as a link: refused too.
    other = tmp_path / "other"
    other_root = recipe(other, "linked")
    (project / ".devenv" / "tools" / "linked").symlink_to(other_root)
    with pytest.raises(hostile.LinkRefused):
        catalogue.available(None, project)


def test_the_project_dockerfile_stays_inside_the_project(tmp_path: Path, secret: Path) -> None:
    project = tmp_path / "project"
    (project / ".devenv").mkdir(parents=True)
    (project / ".devenv" / "Dockerfile").symlink_to(secret)
    with pytest.raises(hostile.LinkRefused):
        layers.project_dockerfile(str(project), None)
    with pytest.raises(ConfigError, match="outside the project"):
        layers.project_dockerfile(str(project), "../../host-secret")
    (project / "docker").mkdir()
    (project / "docker" / "Dockerfile").write_text("FROM x\n")
    assert layers.project_dockerfile(str(project), "../docker/Dockerfile") == \
        project / "docker" / "Dockerfile"


def test_the_project_build_context_is_staged_from_bytes_read_without_links(
        tmp_path: Path, secret: Path) -> None:
    project = tmp_path / "project"
    (project / ".devenv" / "files").mkdir(parents=True)
    dockerfile = project / ".devenv" / "Dockerfile"
    dockerfile.write_text("ARG DEVENV_BASE_IMAGE\nFROM ${DEVENV_BASE_IMAGE}\nCOPY . /ctx\n")
    (project / ".devenv" / "files" / "run.sh").write_text("#!/bin/sh\n")
    (project / ".devenv" / "files" / "run.sh").chmod(0o755)
    context = layers.project_context(str(project), dockerfile)
    assert context.files["files/run.sh"] == b"#!/bin/sh\n"
    assert context.modes["files/run.sh"] & 0o111  # scripts stay executable in the image
    assert context.files[layers.PROJECT_DOCKERFILE].startswith(b"ARG DEVENV_BASE_IMAGE")
    (project / ".devenv" / "files" / "key").symlink_to(secret)
    with pytest.raises(hostile.LinkRefused):
        layers.project_context(str(project), dockerfile)


@pytest.mark.parametrize("line", ["ADD http://127.0.0.1:8080/secret /x",
                                  "add --chown=1000 https://169.254.169.254/latest /m",
                                  "ADD \\\n  git@example.com:org/repo.git /src"])
def test_add_of_a_url_is_refused(line: str, tmp_path: Path) -> None:
    project = tmp_path / "project"
    (project / ".devenv").mkdir(parents=True)
    dockerfile = project / ".devenv" / "Dockerfile"
    dockerfile.write_text(f"FROM x\n{line}\n")
    with pytest.raises(ConfigError, match="ADD of a URL"):
        layers.project_context(str(project), dockerfile)
    dockerfile.write_text("FROM x\nADD files.tar /x\nRUN echo http://ok\n")
    assert layers.project_context(str(project), dockerfile).files


def test_a_project_may_not_mount_itself_or_its_git_directory(tmp_path: Path) -> None:
    from devenv import config
    from devenv.envs import container, identity

    project = tmp_path / "project"
    (project / ".git" / "objects").mkdir(parents=True)
    (project / "data").mkdir()
    (project / ".devenv").mkdir()
    for source in (".", ".git", ".git/objects"):
        (project / ".devenv" / "devenv.toml").write_text(
            f'[[mounts]]\nsource = "{source}"\ntarget = "/g"\nreadonly = false\n')
        with pytest.raises(ConfigError, match="git directory"):
            container.config_mounts(identity.project_path(str(project)),
                                    config.load(str(project)))
    (project / ".devenv" / "devenv.toml").write_text(
        '[[mounts]]\nsource = "data"\ntarget = "/data"\n')
    assert container.config_mounts(identity.project_path(str(project)),
                                   config.load(str(project)))


def test_the_home_directory_is_never_a_project(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    from devenv.envs import identity
    from devenv.errors import UsageError

    home = tmp_path / "home" / "me"
    home.mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    for path in (home, home.parent):
        with pytest.raises(UsageError, match="home directory"):
            identity.project_path(str(path))
    (home / "src").mkdir()
    assert identity.project_path(str(home / "src")).path == str(home / "src")


def test_read_beneath_stays_bounded_when_the_file_grows_after_its_size_was_read(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The agent can append to a file between devenv's fstat and its read: the read itself
    stops past the limit."""
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "f").write_bytes(b"x" * 5000)
    real_fstat = os.fstat

    def small(fd: int) -> os.stat_result:
        st = real_fstat(fd)
        return os.stat_result((st.st_mode, *st[1:6], 10, *st[7:]))  # st_size: 10

    monkeypatch.setattr(os, "fstat", small)
    with pytest.raises(hostile.TooLarge, match="larger than 1 KiB"):
        hostile.read_beneath(str(tmp_path / "p"), "f", limit=1024)
    assert hostile.read_beneath(str(tmp_path / "p"), "f", limit=5000) == b"x" * 5000
