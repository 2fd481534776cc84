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
