"""Project identity: paths, environment names, container names, labels.

The environment name is ``<parent>-<basename>`` of the project's absolute path, sanitised to
Docker's name rules (``[a-z0-9][a-z0-9_.-]*``; lower case so the same name also works as an
image name), deterministic, and at most :data:`MAX_NAME` characters (longer names keep a
prefix and gain a short hash of the full path pair).
"""

from __future__ import annotations

import hashlib
import os
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from devenv.errors import UsageError

MAX_NAME = 60
CONTAINER_PREFIX = "devenv-"
LABEL = "devenv"
LABEL_PROJECT = "devenv.project"
LABEL_PATH = "devenv.path"
LABEL_NAME = "devenv.name"
LABEL_PORT = "devenv.port"
LABEL_INSTANCE = "devenv.instance"
LABEL_WORKSPACE = "devenv.workspace"

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")
_INVALID_RUN = re.compile(r"[^a-z0-9_.-]+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class ProjectPath:
    """A validated project directory."""

    path: str  # absolute, symlinks resolved

    @property
    def basename(self) -> str:
        return os.path.basename(self.path) or "root"

    @property
    def parent(self) -> str:
        return os.path.basename(os.path.dirname(self.path)) or "root"

    @property
    def label(self) -> str:
        """``<parent>/<basename>``, the ``devenv.project`` label."""
        return f"{self.parent}/{self.basename}"

    @property
    def workspace(self) -> str:
        """Where the project is mounted inside the container."""
        return f"/workspace/{self.basename}"


def project_path(raw: str) -> ProjectPath:
    """Validate a PATH argument: it must exist, be a directory, and be mountable."""
    if not raw:
        raise UsageError("project path is empty", "pass a directory, e.g. 'devenv .'")
    path = Path(raw).expanduser()
    if not path.exists():
        raise UsageError(f"project path does not exist: {raw!r}",
                         "create the directory first, or check the spelling")
    if not path.is_dir():
        raise UsageError(f"project path is not a directory: {raw!r}",
                         "pass the project's directory, not a file in it")
    resolved = str(path.resolve())
    if _CONTROL.search(resolved):
        raise UsageError(f"project path contains a control character (e.g. a newline): "
                         f"{resolved!r}", "rename the directory without control characters")
    return ProjectPath(resolved)


def sanitize(text: str) -> str:
    """Map arbitrary text onto Docker's name alphabet; may return ``""``."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return _INVALID_RUN.sub("-", ascii_text.lower()).strip("-_.")


def _short_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()[:8]


def default_name(project: ProjectPath) -> str:
    """The deterministic environment name for ``project``."""
    parts = [sanitize(project.parent), sanitize(project.basename)]
    name = "-".join(part for part in parts if part)
    if not sanitize(project.basename):
        # Nothing of the basename survived (e.g. all non-Latin): keep names distinct.
        name = "-".join(filter(None, [name, _short_hash(project.label)]))
    if len(name) > MAX_NAME:
        name = name[: MAX_NAME - 9].rstrip("-_.") + "-" + _short_hash(project.label)
    return name


def check_name(name: str) -> str:
    """Validate a user-chosen ``--name``; return it."""
    if len(name) > MAX_NAME or not NAME_RE.match(name):
        raise UsageError(
            f"invalid environment name {name!r}",
            f"use 1-{MAX_NAME} characters from a-z, 0-9, '_', '.', '-', starting with a "
            "letter or digit",
        )
    return name


def container_name(name: str) -> str:
    return CONTAINER_PREFIX + name


def hostname(name: str) -> str:
    """A valid host name (RFC 1123 label) for the container."""
    return re.sub(r"[^a-z0-9-]", "-", name)[:63].strip("-") or "devenv"


def project_image(name: str) -> str:
    """Tag of the image built from a project's own ``.devenv/Dockerfile``."""
    return f"devenv-project-{name}:latest"


def labels(project: ProjectPath, name: str, port: int, instance: str) -> dict[str, str]:
    return {
        LABEL: "true",
        LABEL_PROJECT: project.label,
        LABEL_PATH: project.path,
        LABEL_NAME: name,
        LABEL_PORT: str(port),
        LABEL_INSTANCE: instance,
        LABEL_WORKSPACE: project.workspace,
    }
