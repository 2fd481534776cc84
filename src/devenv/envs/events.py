"""The notification point between the environments and the integrations: whenever devenv
rewrites the files derived from its state, it tells the subscribers which environments it
knows. The core never imports an integration (docs/architecture.md); the commands subscribe
the integrations here (:mod:`devenv.commands`), by name, so one that no command needs is
never imported."""

from __future__ import annotations

from dataclasses import dataclass

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pathlib import Path

_subscribers: list[str] = []  # "module:function"


@dataclass(frozen=True)
class KnownEnv:
    """An environment devenv knows and can reach over SSH."""

    name: str
    port: int
    user: str  # the account inside the container
    tools: tuple[str, ...]  # the tools of its last start
    host_pub: str  # its pinned host key: "ssh-ed25519 AAAA... comment"


def subscribe(target: str) -> None:
    """Call ``target`` ("package.module:function", taking ``(envs, identity)``) on every
    :func:`environments_changed`."""
    if target not in _subscribers:
        _subscribers.append(target)


def environments_changed(envs: list[KnownEnv], identity: Path) -> None:
    """The known environments are now ``envs``; ``identity`` is devenv's client key."""
    import importlib

    for target in _subscribers:
        module, _, function = target.partition(":")
        getattr(importlib.import_module(module), function)(envs, identity)
