"""The default image: Debian bookworm, the devenv user, sshd, git; built on demand.

Its tag is a hash of its recipe (package data), its build args (the user's UID/GID), the
CA certificates it must trust and the base image's id, so a change to any of them builds a
new image and an unchanged set is built once and shared by every project.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

from devenv.engine import docker
from devenv.errors import ConfigError, DevenvError
from devenv.images import build
from devenv.lockfile import locked

BASE_IMAGE = "debian:bookworm-slim"
DEFAULT_REPO = "devenv-default"
USER_NAME = "dev"
# Extra CA certificates trusted on the host (Debian's directory for local additions).
HOST_CA_DIR = Path("/usr/local/share/ca-certificates")


ROOT_HOST_IDS = (1000, 1000)  # the container user of a root-owned project on a root host


def container_ids(project_dir: str | None = None) -> tuple[int, int]:
    """UID/GID of the image user: the host user's. When devenv runs as root, the project
    directory's owner's, unless that is root too (then UID 1000, which may be given write
    access with ACLs: docs/security.md); the root group is never handed over (the owner's
    UID stands in for it)."""
    uid, gid = os.getuid(), os.getgid()
    if uid != 0:
        return uid, gid
    if project_dir is not None:
        try:
            st = os.stat(project_dir)
        except OSError:
            return ROOT_HOST_IDS
        if st.st_uid != 0:
            return st.st_uid, st.st_gid or st.st_uid
    return ROOT_HOST_IDS


def _recipe_files() -> dict[str, bytes]:
    root = resources.files("devenv.images") / "recipes" / "default"
    return {entry.name: entry.read_bytes() for entry in root.iterdir() if entry.is_file()}


def _cas(ca_bundle: str | None) -> dict[str, bytes]:
    """The certificates to trust: the host's extra ones, plus a bundle named in config."""
    cas = {}
    if HOST_CA_DIR.is_dir():
        cas = {p.name: p.read_bytes() for p in sorted(HOST_CA_DIR.rglob("*.crt")) if p.is_file()}
    if ca_bundle:
        try:
            cas["config-ca-bundle.crt"] = Path(ca_bundle).expanduser().read_bytes()
        except (OSError, RuntimeError, ValueError) as e:
            reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
            raise ConfigError(f"ca_bundle: cannot read {ca_bundle!r}: {reason}",
                              "fix the path in the user config file") from None
    return cas


BASE_ID_FRESH = 10.0  # seconds a looked-up base image id is used again
_base_id: dict[str, tuple[float, str]] = {}  # BASE_IMAGE -> (when, id)


def base_image_id() -> str:
    """The id of :data:`BASE_IMAGE`. A start needs it twice (the image, and the config's
    fingerprint): it is looked up again only after :data:`BASE_ID_FRESH` seconds."""
    import time

    now = time.monotonic()
    known = _base_id.get(BASE_IMAGE)
    if known is not None and now - known[0] < BASE_ID_FRESH:
        return known[1]
    base = docker.image(BASE_IMAGE)
    if base is None:
        raise DevenvError(f"the base image {BASE_IMAGE} is missing",
                          "run scripts/engine.sh (pulls it, or builds it with debootstrap)")
    _base_id[BASE_IMAGE] = (now, str(base["Id"]))
    return str(base["Id"])


def _plan(ca_bundle: str | None, project_dir: str | None
          ) -> tuple[str, dict[str, str], dict[str, bytes]]:
    """The default image's tag, build args and build context (no building)."""
    base_id = base_image_id()
    uid, gid = container_ids(project_dir)
    args = {"BASE_IMAGE": BASE_IMAGE, "USER_NAME": USER_NAME,
            "USER_UID": str(uid), "USER_GID": str(gid)}
    context = dict(_recipe_files())
    context.update({f"ca-certificates/{k}": v for k, v in _cas(ca_bundle).items()})
    parts = {f"ctx/{k}": v for k, v in context.items()}
    parts.update({f"arg/{k}": v.encode() for k, v in args.items()})
    parts["base"] = base_id.encode()
    return f"{DEFAULT_REPO}:{build.digest(parts)}", args, context


def default_tag(ca_bundle: str | None = None, project_dir: str | None = None) -> str:
    """What the default image's tag is now for the project (it may not be built yet)."""
    return _plan(ca_bundle, project_dir)[0]


def default_image(ca_bundle: str | None = None, project_dir: str | None = None) -> str:
    """The project's default image's tag (its user: :func:`container_ids`), built first if
    missing."""
    tag, args, context = _plan(ca_bundle, project_dir)
    if docker.image(tag) is not None:
        return tag
    with locked("image-default", timeout=build.BUILD_TIMEOUT,
                what="building the default image", machine=True):
        if docker.image(tag) is None:  # another devenv may have built it while we waited
            context.setdefault("ca-certificates/.keep", b"")  # COPY needs the directory
            build.build(context, tag, args=args, labels={build.LABEL_IMAGE: "default"},
                        what="default image")
    return tag
