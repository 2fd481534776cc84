"""Which image a project's environment runs, built as needed from its config."""

from __future__ import annotations

from devenv import config as config_mod
from devenv.config import Config
from devenv.envs import container, identity
from devenv.envs.identity import ProjectPath
from devenv.images import default, layers

TYPE_CHECKING = False
if TYPE_CHECKING:
    from devenv.images.catalogue import Tool


def tool_chain(project: ProjectPath, cfg: Config) -> list[Tool]:
    """The project's tools and their dependencies, in layer order (validates the names)."""
    if not cfg.tools:
        return []
    from devenv.images import catalogue  # msgspec: only for projects that use tools

    available = catalogue.available(config_mod.user_file().parent / "tools",
                                    project.path)
    requested = [(tool, str(cfg.origin(f"tools.{tool}"))) for tool in cfg.tools]
    return catalogue.resolve(requested, available)


def check(project: ProjectPath, cfg: Config) -> None:
    """Everything that can be wrong with the config, found before anything is built or
    started: tool names and dependencies, the Dockerfile, the mounts."""
    tool_chain(project, cfg)
    layers.project_dockerfile(project.path, cfg.dockerfile)
    container.config_mounts(project, cfg)


def image_for(project: ProjectPath, name: str, cfg: Config, *, no_cache: bool = False,
              report: layers.Report | None = None) -> str:
    """The project's image tag: default image -> tool layers -> project Dockerfile."""
    tools = tool_chain(project, cfg)
    dockerfile = layers.project_dockerfile(project.path, cfg.dockerfile)
    base = default.default_image(cfg.ca_bundle, project.path)
    top = layers.build_tools(base, tools, no_cache=no_cache, report=report)
    if dockerfile is None:
        return top
    return layers.build_project(project.path, dockerfile, identity.project_image(name), top,
                                no_cache=no_cache, report=report)


def chain_key(project: ProjectPath, cfg: Config) -> str:
    """What the project's image would be built from now, without building anything: the
    top tool layer's tag, plus the project layer's content digest when there is one."""
    base = default.default_tag(cfg.ca_bundle, project.path)
    top = layers.plan(base, tool_chain(project, cfg))
    key = top[-1].tag if top else base
    dockerfile = layers.project_dockerfile(project.path, cfg.dockerfile)
    if dockerfile is not None:
        key += "+project:" + layers.project_source(
            layers.project_context(project.path, dockerfile), key)
    return key
