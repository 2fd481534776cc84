"""The config files' schema (msgspec Structs), kept apart so that only code that reads an
existing config file pays for importing msgspec."""

from __future__ import annotations

import msgspec


class Mount(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, frozen=True):
    """A host path made visible in the container (read-only unless ``readonly = false``)."""

    source: str
    target: str
    readonly: bool = True


class FileConfig(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, omit_defaults=True):
    """One config file as written; ``None`` means "not set here"."""

    name: str | None = None
    tools: list[str] | None = None
    dockerfile: str | None = None
    env: dict[str, str] | None = None
    mounts: list[Mount] | None = None
    post_create: str | list[str] | None = None
    post_start: str | list[str] | None = None
    ssh_port: int | None = None
    port_range: str | None = None
    ssh_bind: str | None = None
    ca_bundle: str | None = None
    pids: int | None = None
    memory: str | None = None
    cpus: float | None = None
    host_access: bool | None = None
    trust_git_config: list[str] | None = None
    grant_write: bool | None = None
    stop_time: int | None = None
    init_timeout: int | None = None
    copy_ignored: list[str] | None = None
