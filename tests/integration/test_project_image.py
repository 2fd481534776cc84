from __future__ import annotations

import subprocess
import uuid
from typing import Any

from .conftest import Devenv, inspect


def test_project_dockerfile_builds_from_the_default_image(dv: Devenv, make_project: Any,
                                                          default_image: str) -> None:
    project = make_project("custom")
    (project / ".devenv").mkdir()
    dockerfile = project / ".devenv" / "Dockerfile"
    dockerfile.write_text("ARG DEVENV_BASE_IMAGE\nFROM ${DEVENV_BASE_IMAGE}\n"
                          "USER root\nRUN echo v1 > /etc/project-marker\n")
    info = dv.up(project)
    tag = f"devenv-project-{info['name']}:latest"
    assert info["image"] == tag and inspect(info["container"])["Config"]["Image"] == tag
    assert dv.ok("exec", str(project), "--", "cat", "/etc/project-marker").stdout == "v1\n"
    # Still the devenv user, sshd and all, on top of the default image.
    assert dv.ssh(info["container"], "id", "-un").stdout.strip() == "dev"

    # A changed Dockerfile rebuilds on the next start; an unchanged one does not.
    dv.ok("stop", str(project))
    image_id = inspect_image(tag)
    dv.up(project)
    assert inspect_image(tag) == image_id
    dv.ok("stop", str(project))
    dockerfile.write_text(dockerfile.read_text().replace("v1", "v2"))
    dv.up(project)
    assert dv.ok("exec", str(project), "--", "cat", "/etc/project-marker").stdout == "v2\n"
    dv.ok("stop", str(project))
    subprocess.run(["docker", "rmi", "-f", tag], capture_output=True, check=False)


def inspect_image(tag: str) -> str:
    return subprocess.run(["docker", "image", "inspect", "--format", "{{.Id}}", tag],
                          capture_output=True, text=True, check=True).stdout.strip()


def test_broken_project_dockerfile_is_a_clear_error(dv: Devenv, make_project: Any) -> None:
    project = make_project("broken")
    (project / ".devenv").mkdir()
    marker = uuid.uuid4().hex
    (project / ".devenv" / "Dockerfile").write_text(
        f"ARG DEVENV_BASE_IMAGE\nFROM ${{DEVENV_BASE_IMAGE}}\nRUN echo {marker} && exit 42\n")
    got = dv.run("up", str(project))
    assert got.returncode == 1
    assert "building project image" in got.stderr and "build log" in got.stderr
    assert "Traceback" not in got.stderr
    assert dv.containers() == []
    # No intermediate build container is left behind.
    commands = subprocess.run(["docker", "ps", "-a", "--no-trunc", "--format", "{{.Command}}"],
                              capture_output=True, text=True, check=True).stdout
    assert marker not in commands
