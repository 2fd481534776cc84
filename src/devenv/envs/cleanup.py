"""Forgetting environments (``devenv rm``) and reclaiming space (``devenv gc``).

Nothing here ever touches a project's own files. ``rm`` removes devenv's record of an
environment (state, keys, hook log) and, only when asked, its volumes (home and workspaces:
devenv.envs.volumes). ``gc`` removes devenv images and volumes that nothing uses: an image is
in use when a container runs it, when a project devenv knows would start from it now, or
when an image in use builds on it; a volume (home or workspaces alike) is in use while
devenv knows its environment; an environment's network is in use while a container is
attached (``stop`` removes it; what is left is a crash's leftover).
"""

from __future__ import annotations

import contextlib
import shutil
from dataclasses import dataclass, field
from typing import Any

from devenv import config, state
from devenv.engine import docker
from devenv.envs import chain, container, grant, registry, stopping
from devenv.envs import volumes as envvolumes
from devenv.envs.identity import LABEL_INSTANCE, LABEL_NAME, ProjectPath, project_image
from devenv.errors import DevenvError
from devenv.paths import env_dir


def remove(names: list[str], *, volumes: bool, force: bool = False,
           revoke_write: bool = False) -> list[str]:
    """Stop and forget the named environments; return what was removed, for the user.
    Running persistent sessions refuse it (nothing removed) unless ``force``. A write grant
    (devenv.envs.grant) is taken back; ``revoke_write``: the container user's ACL entries
    go even when devenv has no record of a grant."""
    removed: list[str] = []
    stopping.stop(names, force=force, doing="removing", tidy=True)
    conn = state.connect()
    try:
        for name in names:
            project = state.project_by_name(conn, name)
            if project is not None:
                revoked = grant.revoke(project.path, force=revoke_write)
                if revoked:
                    removed.append(revoked)
                with state.transaction(conn):
                    state.remove_project(conn, project.path)
                removed.append(f"state of {name} ({project.path}; its files are untouched)")
            if env_dir(name).exists():
                shutil.rmtree(env_dir(name))
                removed.append(f"keys and logs of {name}")
            if volumes:
                removed += [f"volume {volume}" for volume in envvolumes.remove(name)]
        registry.refresh_files(conn)
    finally:
        conn.close()
    return removed


@dataclass
class Garbage:
    """What ``gc`` would remove."""

    images: list[str] = field(default_factory=list)
    volumes: list[str] = field(default_factory=list)
    networks: list[dict[str, Any]] = field(default_factory=list)
    sizes: dict[str, int] = field(default_factory=dict)

    @property
    def network_names(self) -> list[str]:
        return [str(n.get("Name", "")) for n in self.networks]


def _wanted_by_projects(projects: list[state.Project]) -> set[str]:
    """Image tags the known projects would start from now (their chains, not built)."""
    wanted: set[str] = set()
    for project in projects:
        with contextlib.suppress(DevenvError, OSError):  # a broken project keeps nothing
            path = ProjectPath(project.path)
            cfg = config.load(project.path)
            key = chain.chain_key(path, cfg)
            wanted.add(key.split("+project:")[0])
            if "+project:" in key:
                wanted.add(project_image(project.name))
    return wanted


def find() -> Garbage:
    conn = state.connect()
    try:
        projects = state.all_projects(conn)
        instance = state.instance_id(conn)
    finally:
        conn.close()
    out = docker.docker(["image", "ls", "--filter", "label=devenv=true", "--format",
                         "{{.Repository}}:{{.Tag}}"], timeout=60).stdout.split()
    tags = [t for t in out if not t.startswith("<none>")]
    images: dict[str, dict[str, Any]] = {}
    for data in docker.inspect("image", tags):
        for tag in data.get("RepoTags") or []:
            images[tag] = data
    used = {str((c.get("Config") or {}).get("Image", ""))
            for c in docker.containers({"devenv": "true"})}
    used |= _wanted_by_projects(projects)
    # Everything a used image builds on is used too.
    stack = [tag for tag in used if tag in images]
    while stack:
        parent = docker.labels_of(images[stack.pop()]).get("devenv.parent")
        if parent and parent not in used:
            used.add(parent)
            if parent in images:
                stack.append(parent)
    garbage = Garbage()
    for tag in sorted(set(images) - used):
        garbage.images.append(tag)
        garbage.sizes[tag] = int(images[tag].get("Size", 0))
    known = {p.name for p in projects}
    for volume in docker.inspect("volume", _volume_names()):
        labels = volume.get("Labels") or {}
        if labels.get(LABEL_INSTANCE) == instance and labels.get(LABEL_NAME) not in known:
            garbage.volumes.append(str(volume["Name"]))
    garbage.networks = container.unused_networks(instance)
    return garbage


def _volume_names() -> list[str]:
    out = docker.docker(["volume", "ls", "-q", "--filter", "label=devenv=true"], timeout=60)
    return out.stdout.split()


def collect(garbage: Garbage) -> list[str]:
    """Remove what :func:`find` found; return what could not be removed (still in use)."""
    failed = []
    for tag in garbage.images:
        try:
            docker.docker(["image", "rm", tag], timeout=120)
        except DevenvError:
            failed.append(tag)
    for volume in garbage.volumes:
        try:
            docker.docker(["volume", "rm", volume], timeout=60)
        except DevenvError:
            failed.append(volume)
    for network in garbage.networks:
        if not container.remove_unused_network(network):
            failed.append(str(network.get("Name", "")))
    return failed
