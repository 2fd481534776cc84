"""devenv's environments: starting, finding and reaching them. :class:`EnvRuntime` (the
runtime library on an environment) is exported here, loaded on first use."""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from devenv.envs.env_runtime import EnvRuntime

__all__ = ["EnvRuntime"]


def __getattr__(name: str) -> object:
    if name != "EnvRuntime":
        raise AttributeError(f"module 'devenv.envs' has no attribute {name!r}")
    from devenv.envs.env_runtime import EnvRuntime

    return EnvRuntime
