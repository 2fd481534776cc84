"""Project identity: paths, environment names, container names, labels.

The environment name is ``<parent>-<basename>`` of the project's absolute path, sanitised to
lower-case words joined by dashes (valid both as a container name and as an image-name
component, since ``devenv-project-<name>`` is a tag), deterministic, and at most
:data:`MAX_NAME` characters (longer names keep a prefix and gain a short hash of the full
path pair).
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

# Docker's rule for an image-name component (names also become project image tags).
NAME_RE = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$")
_SEPARATOR_RUN = re.compile(r"[^a-z0-9]+")
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
    try:
        path = Path(raw).expanduser()
        exists, is_dir = path.exists(), path.is_dir()
        resolved = str(path.resolve()) if exists else ""
    except (OSError, RuntimeError) as e:  # name too long, unknown ~user, deleted cwd, ...
        reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
        raise UsageError(f"cannot use project path {raw!r}: {reason}",
                         "pass an existing directory you can read") from None
    if not exists:
        raise UsageError(f"project path does not exist: {raw!r}",
                         "create the directory first, or check the spelling")
    if not is_dir:
        raise UsageError(f"project path is not a directory: {raw!r}",
                         "pass the project's directory, not a file in it")
    if _CONTROL.search(resolved):
        raise UsageError(f"project path contains a control character (e.g. a newline): "
                         f"{resolved!r}", "rename the directory without control characters")
    try:
        resolved.encode("utf-8")
    except UnicodeEncodeError:
        raise UsageError(f"project path is not valid UTF-8: {resolved!r}",
                         "rename the directory with a UTF-8 name") from None
    if resolved == "/":
        raise UsageError("the root directory cannot be a project",
                         "pass the project's own directory")
    home = os.path.realpath(os.path.expanduser("~"))
    if resolved == home or home.startswith(resolved + "/"):
        # The agent would get the user's whole home, writable: keys, shell start-up files.
        raise UsageError(f"{resolved} is your home directory or holds it; devenv will not "
                         "hand it to an environment", "pass the project's own directory")
    for sock in docker_sockets():
        if sock.startswith(resolved + "/"):
            raise UsageError(f"{resolved} contains the Docker socket {sock}; mounting it "
                             "would hand the container the Docker engine",
                             "pass the project's own directory")
    return ProjectPath(resolved)


def docker_sockets() -> list[str]:
    """Docker sockets that must never end up inside a container's mounts."""
    found = ["/var/run/docker.sock", "/run/docker.sock"]
    host = os.environ.get("DOCKER_HOST", "")
    if host.startswith("unix://"):
        found.append(host.removeprefix("unix://"))
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime:
        found.append(os.path.join(runtime, "docker.sock"))
    return [os.path.realpath(p) for p in found if os.path.exists(p)]


def sanitize(text: str) -> str:
    """Map arbitrary text onto ``[a-z0-9]`` words joined by single dashes (valid as a
    container name and an image-name component); may return ``""``."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return _SEPARATOR_RUN.sub("-", ascii_text.lower()).strip("-")


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
        name = name[: MAX_NAME - 9].rstrip("-") + "-" + _short_hash(project.label)
    return name


def check_name(name: str) -> str:
    """Validate a user-chosen ``--name``; return it."""
    if len(name) > MAX_NAME or not NAME_RE.match(name):
        raise UsageError(
            f"invalid environment name {name!r}",
            f"use up to {MAX_NAME} of a-z and 0-9, with single '.', '_' or '-' between "
            "them (e.g. my-api)",
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
