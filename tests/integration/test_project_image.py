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


def test_container_dying_at_start_is_reported_and_cleaned_up(dv: Devenv,
                                                             make_project: Any) -> None:
    project = make_project("nosshd")
    (project / ".devenv").mkdir()
    (project / ".devenv" / "Dockerfile").write_text(
        "ARG DEVENV_BASE_IMAGE\nFROM ${DEVENV_BASE_IMAGE}\nUSER root\nRUN rm /usr/sbin/sshd\n")
    got = dv.run("up", str(project))
    assert got.returncode == 1, got.stderr
    error = next(line for line in got.stderr.splitlines() if line.startswith("devenv: error"))
    # The container's own last words survive --rm, through the status dir.
    assert "exited while starting" in error and "/usr/sbin/sshd: not found" in error
    assert dv.containers() == []
    assert dv.run("list", "--all", "--json").stdout.strip() == "[]"
    subprocess.run(["docker", "rmi", "-f", f"devenv-project-{project.parent.name}-nosshd"],
                   capture_output=True, check=False)


def test_probes_do_not_fill_the_status_log(dv: Devenv, make_project: Any) -> None:
    project = make_project()
    info = dv.up(project)
    for _ in range(3):
        dv.ok("exec", str(project), "--", "true")
    assert dv.ssh(info["container"], "true").returncode == 0
    log = dv.home / "state" / "envs" / info["name"] / "status" / "init.log"
    assert log.exists() and log.read_text() == ""
