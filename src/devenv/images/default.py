"""The default image and per-project images, built on demand and tagged by content.

The default image's tag is a hash of its recipe (package data), its build args (the user's
UID/GID), the host's extra CA certificates and the base image's id, so a change to any of them
builds a new image and an unchanged set is built once and shared by every project. A project
with ``.devenv/Dockerfile`` gets ``devenv-project-<name>:latest`` built FROM the default image
(``ARG DEVENV_BASE_IMAGE`` / ``FROM ${DEVENV_BASE_IMAGE}``), rebuilt when its files change.
"""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile
from collections.abc import Mapping
from importlib import resources
from pathlib import Path

from devenv import proc
from devenv.engine import docker
from devenv.errors import DevenvError
from devenv.lockfile import locked
from devenv.paths import ensure_private_dir, log_dir

BASE_IMAGE = "debian:bookworm-slim"
DEFAULT_REPO = "devenv-default"
USER_NAME = "dev"
LABEL_IMAGE = "devenv.image"
LABEL_SOURCE = "devenv.source"
# Extra CA certificates trusted on the host (Debian's directory for local additions).
HOST_CA_DIR = Path("/usr/local/share/ca-certificates")
BUILD_TIMEOUT = 1800


def container_ids() -> tuple[int, int]:
    """UID/GID of the image user: the host user's, or 1000 when the host user is root."""
    uid, gid = os.getuid(), os.getgid()
    return (1000, 1000) if uid == 0 else (uid, gid)


def _recipe_files() -> dict[str, bytes]:
    root = resources.files("devenv.images") / "recipes" / "default"
    return {entry.name: entry.read_bytes() for entry in root.iterdir() if entry.is_file()}


def _host_cas() -> dict[str, bytes]:
    if not HOST_CA_DIR.is_dir():
        return {}
    return {p.name: p.read_bytes() for p in sorted(HOST_CA_DIR.rglob("*.crt")) if p.is_file()}


def _digest(parts: Mapping[str, bytes]) -> str:
    h = hashlib.sha256()
    for key in sorted(parts):
        h.update(key.encode() + b"\0" + hashlib.sha256(parts[key]).digest())
    return h.hexdigest()[:16]


def default_image() -> str:
    """The default image's tag, built first if missing."""
    base = docker.image(BASE_IMAGE)
    if base is None:
        raise DevenvError(f"the base image {BASE_IMAGE} is missing",
                          "run scripts/engine.sh (pulls it, or builds it with debootstrap)")
    uid, gid = container_ids()
    build_args = {"BASE_IMAGE": BASE_IMAGE, "USER_NAME": USER_NAME,
                  "USER_UID": str(uid), "USER_GID": str(gid)}
    recipe = _recipe_files()
    cas = _host_cas()
    parts = {f"recipe/{k}": v for k, v in recipe.items()}
    parts.update({f"ca/{k}": v for k, v in cas.items()})
    parts.update({f"arg/{k}": v.encode() for k, v in build_args.items()})
    parts["base"] = str(base["Id"]).encode()
    tag = f"{DEFAULT_REPO}:{_digest(parts)}"
    if docker.image(tag) is not None:
        return tag
    with locked("image-default", timeout=BUILD_TIMEOUT, what="building the default image"):
        if docker.image(tag) is not None:  # another devenv built it while we waited
            return tag
        with tempfile.TemporaryDirectory(prefix="devenv-build-") as tmp:
            ctx = Path(tmp)
            for name, data in recipe.items():
                (ctx / name).write_bytes(data)
            (ctx / "ca-certificates").mkdir()
            for name, data in cas.items():
                (ctx / "ca-certificates" / name).write_bytes(data)
            _build(ctx, tag, build_args, {LABEL_IMAGE: "default"}, "default image")
    return tag


def project_dockerfile(project_dir: str) -> Path | None:
    path = Path(project_dir) / ".devenv" / "Dockerfile"
    return path if path.is_file() else None


def project_image(project_dir: str, tag: str, base_tag: str) -> str:
    """Build ``tag`` from the project's ``.devenv/`` (context) FROM ``base_tag`` if stale."""
    context = Path(project_dir) / ".devenv"
    parts = {"base": base_tag.encode()}
    for path in sorted(context.rglob("*")):
        if path.is_file():
            parts[f"ctx/{path.relative_to(context)}"] = path.read_bytes()
    source = _digest(parts)
    current = docker.image(tag)
    if current is not None and docker.labels_of(current).get(LABEL_SOURCE) == source:
        return tag
    with locked(f"image-{tag.replace(':', '_').replace('/', '_')}", timeout=BUILD_TIMEOUT,
                what=f"building {tag}"):
        current = docker.image(tag)
        if current is None or docker.labels_of(current).get(LABEL_SOURCE) != source:
            _build(context, tag, {"DEVENV_BASE_IMAGE": base_tag},
                   {LABEL_IMAGE: "project", LABEL_SOURCE: source}, f"project image {tag}")
    return tag


def _build(context: Path, tag: str, args: Mapping[str, str], labels: Mapping[str, str],
           what: str) -> None:
    log = ensure_private_dir(log_dir()) / f"build-{tag.replace(':', '_').replace('/', '_')}.log"
    print(f"devenv: building {what} (log: {log})", file=sys.stderr, flush=True)
    # --force-rm: a failed step leaves no intermediate container behind (legacy builder).
    argv = ["build", "--force-rm", "-t", tag, "--label", "devenv=true"]
    for key, value in labels.items():
        argv += ["--label", f"{key}={value}"]
    for key, value in args.items():
        argv += ["--build-arg", f"{key}={value}"]
    argv.append(str(context))
    # Not docker.docker(): a build's output is the build's, and a step that prints, say,
    # "Connection refused" must not be mistaken for the engine being down.
    result = proc.run([docker.DOCKER, *argv], timeout=BUILD_TIMEOUT, check=False)
    log.write_text(result.stdout + result.stderr)
    if result.returncode != 0:
        docker.ping()  # raises EngineUnavailable if that is what really happened
        raise DevenvError(f"building {what} failed: {_last(result.stderr or result.stdout)}",
                          f"read the build log: {log}")


def _last(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "no output"
