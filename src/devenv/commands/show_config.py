"""``devenv config [PATH] [--json]``: the effective config and where each value came from."""

from __future__ import annotations

import json
from typing import Any

from devenv import config
from devenv.envs import chain, identity, start
from devenv.images import layers


def run(path: str, *, as_json: bool = False) -> int:
    where = start.locate(path)  # the project PATH is in
    where.say()
    project = identity.project_path(where.path)
    cfg = config.load(project.path)
    layers_of = [tool.name for tool in chain.tool_chain(project, cfg)]
    values = config.as_dict(cfg)
    dockerfile = layers.project_dockerfile(project.path, cfg.dockerfile)
    if values["dockerfile"] is None and dockerfile is not None:
        values["dockerfile"] = str(dockerfile)  # found in .devenv/ without being configured
    if as_json:
        print(json.dumps({"values": values, "tool_layers": layers_of,
                          "files": {"user": str(config.user_file()),
                                    "project": str(config.project_file(project.path))}},
                         indent=2))
        return 0
    print(f"# user file:    {config.user_file()}")
    print(f"# project file: {config.project_file(project.path)}")
    for key, value in values.items():
        print(_line(key, value, cfg))
    print(f"# tool layers, in build order: {', '.join(layers_of) or '(none)'}")
    return 0


def _line(key: str, value: Any, cfg: config.Config) -> str:
    if key == "tools" and value:
        origins = "; ".join(f"{t} from {cfg.origin(f'tools.{t}')}" for t in value)
        return f"tools = {json.dumps(value)}    # {origins}"
    if key == "env" and value:
        parts = [f"{k}={v!r} ({cfg.origin(f'env.{k}')})" for k, v in value.items()]
        return "env: " + "; ".join(parts)
    if key == "mounts" and value:
        parts = [f"{m['source']} -> {m['target']}{' (ro)' if m['readonly'] else ''} "
                 f"({cfg.origin(f'mounts.{i}')})" for i, m in enumerate(value)]
        return "mounts: " + "; ".join(parts)
    shown = json.dumps(value) if value not in (None, [], {}) else "(not set)"
    return f"{key} = {shown}    # {cfg.origin(key) if value not in (None, [], {}) else 'default'}"
