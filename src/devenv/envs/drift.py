"""Config drift: what a running environment was made from, against what its config says now.

Every container carries a fingerprint label (image chain, env, mounts, hooks, SSH port,
resource limits, host access, its own network, its workspaces volume) and a stamp of its
config files' modification times. The exec fast path compares the stamp (a ``stat`` per file
under ``.devenv/``); when they changed, the full path compares fingerprints and says what
differs and how to apply it (``devenv up --recreate``).
"""

from __future__ import annotations

import json
from typing import Any

from devenv.config import Config
from devenv.envs import chain, index
from devenv.envs.identity import ProjectPath

LABEL_CONFIG = "devenv.config"
LABEL_STAMP = "devenv.cfgstamp"
# The network arrangement: containers started before environments had networks of their own
# have no such key and are reported as drift (they share Docker's default bridge).
NETWORK = "own"
# The same for the workspaces volume: containers started before it existed do not mount
# /workspaces, so they have no such key and are reported as drift (devenv.envs.volumes).
WORKSPACES = "volume"


def fingerprint(project: ProjectPath, cfg: Config) -> dict[str, Any]:
    """What an environment started now would be made from."""
    return {
        "image": chain.chain_key(project, cfg),
        "env": dict(sorted(cfg.env.items())),
        "mounts": [f"{m.source}:{m.target}:{'ro' if m.readonly else 'rw'}" for m in cfg.mounts],
        "post_create": cfg.post_create,
        "post_start": cfg.post_start,
        "ssh_port": cfg.ssh_port,
        "pids": cfg.pids,
        "memory": cfg.memory_bytes,  # in bytes: "8g" and "8192m" are the same limit
        "cpus": cfg.cpus,
        "host_access": cfg.host_access,
        "network": NETWORK,
        "workspaces": WORKSPACES,
    }


def labels(project: ProjectPath, cfg: Config) -> dict[str, str]:
    return {LABEL_CONFIG: json.dumps(fingerprint(project, cfg), separators=(",", ":")),
            LABEL_STAMP: index.config_stamp(project.path)}


def differences(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Human descriptions of what changed between two fingerprints."""
    changes = []
    if old.get("image") != new.get("image"):
        changes.append("image (tools, a recipe, the Dockerfile or the default image)")
    old_env, new_env = old.get("env") or {}, new.get("env") or {}
    for key in sorted(set(old_env) | set(new_env)):
        if key not in old_env:
            changes.append(f"env.{key} added")
        elif key not in new_env:
            changes.append(f"env.{key} removed")
        elif old_env[key] != new_env[key]:
            changes.append(f"env.{key} changed")
    for key in ("mounts", "post_create", "post_start", "ssh_port", "pids", "memory", "cpus",
                "host_access"):
        if old.get(key) != new.get(key):
            changes.append(f"{key} changed")
    if old.get("network") != new.get("network"):
        changes.append("network (it shares Docker's default bridge with other containers; "
                       "environments now get a network of their own)")
    if old.get("workspaces") != new.get("workspaces"):
        changes.append("workspaces (the container does not mount its workspaces volume at "
                       "/workspaces)")
    return changes


def report(found_labels: dict[str, str], project: ProjectPath, cfg: Config) -> list[str]:
    """What differs between a running container and its config now (empty: nothing)."""
    try:
        old = json.loads(found_labels.get(LABEL_CONFIG, "{}"))
    except ValueError:
        old = {}
    return differences(old, fingerprint(project, cfg))
