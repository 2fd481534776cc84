"""The image chain of a project: default image -> one layer per tool -> project Dockerfile.

Each tool layer is tagged ``devenv-tool-<tool>:<hash>``, the hash covering its parent's tag
(itself a hash), its recipe files and its build args: a tool set is built once and shared by
every project that uses it. The project layer, ``devenv-project-<name>:latest``, is built
from the project's Dockerfile (``ARG DEVENV_BASE_IMAGE`` / ``FROM ${DEVENV_BASE_IMAGE}``)
with ``.devenv/`` as its context, and rebuilt when a file there or its base changes.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from devenv import hostile
from devenv.engine import docker
from devenv.errors import ConfigError
from devenv.images import build
from devenv.lockfile import locked

TYPE_CHECKING = False
if TYPE_CHECKING:
    from devenv.images.catalogue import Tool

Report = Callable[[str], None]


@dataclass(frozen=True)
class Layer:
    """One tool layer: what it installs, its tag, and the image it builds on."""

    tool: Tool
    tag: str
    parent: str


def plan(base: str, tools: list[Tool]) -> list[Layer]:
    """The tool layers on top of ``base``, in order, with their content tags."""
    layers, parent = [], base
    for tool in tools:
        parts = {f"recipe/{k}": v for k, v in tool.files.items()}
        parts["parent"] = parent.encode()
        layer = Layer(tool, f"devenv-tool-{tool.name}:{build.digest(parts)}", parent)
        layers.append(layer)
        parent = layer.tag
    return layers


def build_tools(base: str, tools: list[Tool], *, no_cache: bool = False,
                report: Report | None = None) -> str:
    """Make sure every tool layer exists (building the missing ones); return the top tag."""
    layers = plan(base, tools)
    have = set() if no_cache else build.existing([layer.tag for layer in layers])
    for i, layer in enumerate(layers, 1):
        step = f"[{i}/{len(layers)}] {layer.tool.name}"
        if layer.tag in have:
            _say(report, f"{step}: cached ({layer.tag})")
            continue
        with locked(f"image-{build.safe(layer.tag)}", timeout=build.BUILD_TIMEOUT,
                    what=f"building {layer.tag}", machine=True):
            if not no_cache and docker.image(layer.tag) is not None:
                _say(report, f"{step}: cached ({layer.tag}, built by another devenv)")
                continue
            failure = None
            if layer.tool.manifest.download:
                failure = (f"building tool {layer.tool.name} failed; it needs downloads "
                           "from outside the package registries, so it builds only where "
                           f"those are reachable ({layer.tool.manifest.download})")
            seconds = build.build(layer.tool.files, layer.tag, no_cache=no_cache,
                                  failure=failure,
                                  args={"DEVENV_PARENT": layer.parent},
                                  labels={build.LABEL_IMAGE: "tool",
                                          "devenv.tool": layer.tool.name,
                                          "devenv.parent": layer.parent},
                                  what=f"tool {layer.tool.name}")
            _say(report, f"{step}: built in {seconds:.1f}s ({layer.tag})")
    return layers[-1].tag if layers else base


def project_dockerfile(project_dir: str, configured: str | None) -> Path | None:
    """The project's Dockerfile: ``dockerfile`` from config (relative to ``.devenv/``), else
    ``.devenv/Dockerfile`` when it exists. It must lie inside the project, reached without
    a link (the project is the agent's to write: docs/security.md)."""
    devenv_dir = Path(project_dir) / ".devenv"
    if configured is None:
        hostile.no_links_beneath(project_dir, ".devenv/Dockerfile")
        default = devenv_dir / "Dockerfile"
        return default if default.is_file() else None
    rel = os.path.normpath(os.path.join(".devenv", configured))
    if os.path.isabs(configured) or rel == ".." or rel.startswith("../"):
        raise ConfigError(f"{devenv_dir / 'devenv.toml'}: dockerfile: {configured!r} is "
                          "outside the project", "the path is relative to .devenv/ and must "
                          "stay inside the project")
    hostile.no_links_beneath(project_dir, rel)
    path = Path(project_dir) / rel
    if not path.is_file():
        raise ConfigError(f"{devenv_dir / 'devenv.toml'}: dockerfile: {configured!r} is not a "
                          f"file (looked for {path})", "the path is relative to .devenv/")
    return path


PROJECT_DOCKERFILE = ".devenv-project.Dockerfile"  # its name in the staged build context


@dataclass(frozen=True)
class ProjectContext:
    """A project layer's build context, read once without following links and staged for
    the build from these bytes (never from the project, which the agent could swap under
    Docker's feet): file name -> content, and file modes."""

    files: dict[str, bytes]
    modes: dict[str, int]


def project_context(project_dir: str, dockerfile: Path) -> ProjectContext:
    """``.devenv/`` and the Dockerfile, read as hostile (docs/security.md)."""
    root = os.path.join(project_dir, ".devenv")
    hostile.no_links_beneath(project_dir, ".devenv")
    files: dict[str, bytes] = {}
    modes: dict[str, int] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = os.path.relpath(dirpath, root)
        for name in [*dirnames, *filenames]:
            rel = name if rel_dir == "." else f"{rel_dir}/{name}"
            hostile.no_links_beneath(project_dir, f".devenv/{rel}")
        for name in filenames:
            rel = name if rel_dir == "." else f"{rel_dir}/{name}"
            data = hostile.read_beneath(project_dir, f".devenv/{rel}")
            if data is not None:
                files[rel] = data
                modes[rel] = os.lstat(os.path.join(dirpath, name)).st_mode
    text = hostile.read_beneath(project_dir, os.path.relpath(dockerfile, project_dir)) or b""
    build.refuse_remote_add(text, str(dockerfile))
    files[PROJECT_DOCKERFILE] = text
    return ProjectContext(files, modes)


def project_source(context: ProjectContext, base: str) -> str:
    """The content digest of a project layer: its base, Dockerfile and build context."""
    parts = {"base": base.encode(), "dockerfile": context.files[PROJECT_DOCKERFILE]}
    for rel, data in context.files.items():
        # devenv's own files there (config, tool recipes) do not change this image.
        if rel != PROJECT_DOCKERFILE and rel.split("/")[0] not in ("devenv.toml", "tools"):
            parts[f"ctx/{rel}"] = data + b"\0" + oct(context.modes.get(rel, 0) & 0o111).encode()
    return build.digest(parts)


def build_project(project_dir: str, dockerfile: Path, tag: str, base: str, *,
                  no_cache: bool = False, report: Report | None = None) -> str:
    """Build ``tag`` from ``dockerfile`` FROM ``base`` if it is stale; return ``tag``."""
    context = project_context(project_dir, dockerfile)
    source = project_source(context, base)

    def fresh() -> bool:
        current = docker.image(tag)
        return current is not None and docker.labels_of(current).get(build.LABEL_SOURCE) == source

    if not no_cache and fresh():
        _say(report, f"project: cached ({tag})")
        return tag
    with locked(f"image-{build.safe(tag)}", timeout=build.BUILD_TIMEOUT, what=f"building {tag}",
                machine=True):
        if no_cache or not fresh():
            seconds = build.build(context.files, tag, no_cache=no_cache,
                                  dockerfile=PROJECT_DOCKERFILE, modes=context.modes,
                                  args={"DEVENV_BASE_IMAGE": base},
                                  labels={build.LABEL_IMAGE: "project",
                                          build.LABEL_SOURCE: source, "devenv.parent": base},
                                  what=f"project image {tag}")
            _say(report, f"project: built in {seconds:.1f}s ({tag})")
    return tag


def _say(report: Report | None, line: str) -> None:
    if report is not None:
        report(line)
