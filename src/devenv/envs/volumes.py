"""The environment's Docker volumes: its home (``/home/dev``) and its workspaces
(``/workspaces``), named by :func:`container.home_volume` and
:func:`container.workspaces_volume`.

Both are made at a start when missing, labelled like the environment (so ``gc`` knows whose
they are), kept by ``stop``, ``rm`` and ``up --recreate``, and removed by ``rm --volumes``,
by ``gc`` once devenv no longer knows their environment, or by a failed first start that made
them. Docker copies the ownership of the image's directory into an empty volume mounted
over it, so the image makes both directories the container user's.
"""

from __future__ import annotations

import contextlib
import functools
import os

from devenv.engine import docker
from devenv.envs import container, identity
from devenv.envs.identity import ProjectPath
from devenv.errors import ConflictError, DevenvError


def names(name: str) -> dict[str, str]:
    """The environment's volumes, each with what it holds (for messages)."""
    return {container.home_volume(name): "home",
            container.workspaces_volume(name): "workspaces"}


def ensure(name: str, project: ProjectPath, instance: str, made: list[str]) -> None:
    """Create the environment's volumes that are missing (in parallel), adding each one to
    ``made`` as soon as it exists (a failed start removes those: :func:`discard`). A volume
    left by another project that still exists under the same name is refused: it holds that
    project's credentials or work."""
    docker.started(*(functools.partial(_ensure, volume, kind, name, project,
                                       instance=instance, made=made)
                     for volume, kind in names(name).items()))()


def _ensure(volume: str, kind: str, name: str, project: ProjectPath, *, instance: str,
            made: list[str]) -> None:
    found = docker.inspect("volume", [volume])
    if found:
        owner = (found[0].get("Labels") or {}).get(identity.LABEL_PATH, project.path)
        if owner != project.path and os.path.isdir(owner):
            raise ConflictError(f"the {kind} volume {volume} belongs to {owner!r}",
                                f"remove it with 'devenv rm --volumes {owner}' or "
                                "'docker volume rm', or give this project another --name")
        return
    docker.docker(["volume", "create", "--label", "devenv=true",
                   "--label", f"{identity.LABEL_NAME}={name}",
                   "--label", f"{identity.LABEL_PATH}={project.path}",
                   "--label", f"{identity.LABEL_INSTANCE}={instance}", volume], timeout=60)
    made.append(volume)


def discard(made: list[str]) -> None:
    """Best-effort removal of the volumes a failed first start made; never masks the real
    error."""
    for volume in made:
        with contextlib.suppress(DevenvError):
            docker.docker(["volume", "rm", volume], timeout=60)


def remove(name: str) -> list[str]:
    """Remove the environment's volumes (``rm --volumes``); return those that were there."""
    present = [str(v["Name"]) for v in docker.inspect("volume", list(names(name)))]
    for volume in present:
        docker.docker(["volume", "rm", volume], timeout=60)
    return present
