"""User and project configuration: TOML read with ``tomllib``, validated with msgspec.

Two files, both optional:

- the user file, ``$XDG_CONFIG_HOME/devenv/config.toml`` (``$DEVENV_HOME/config/config.toml``):
  defaults for every project, plus machine-wide keys (``port_range``, ``ca_bundle``);
- the project file, ``<project>/.devenv/devenv.toml``.

Merging: scalars from the project file win over the user file; ``tools`` and ``mounts`` are
concatenated (user first, duplicates dropped); ``env`` is merged key by key, the project
winning. Resource limits (``pids``, ``memory``, ``cpus``) and ``init_timeout`` are the
exception: the project file may only lower them, because a project file is anything a cloned
repository (or an agent in the environment, which can write the project) says. Every error
names the file and the field, e.g.
``.devenv/devenv.toml: tools[2]: unknown tool 'nodee' (did you mean 'node'?)``.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devenv.config_checks import (
    DEFAULT_INIT_TIMEOUT,
    DEFAULT_PIDS,
    DEFAULT_STOP_TIME,
    LIMITS,
    check,
    memory_bytes,
    parse_range,
)
from devenv.errors import ConfigError
from devenv.paths import PROJECT_FILE, config_file

TYPE_CHECKING = False
if TYPE_CHECKING:
    from devenv.config_schema import FileConfig, Mount


MAX_FILE_BYTES = 1 << 20  # a config file is a few settings; this bounds what is read


KEYS = ("name", "tools", "dockerfile", "env", "mounts", "post_create", "post_start",
        "ssh_port", "port_range", "ssh_bind", "ca_bundle", "pids", "memory", "cpus",
        "host_access", "trust_git_config", "grant_write", "stop_time", "init_timeout",
        "copy_ignored")
MOUNT_KEYS = ("source", "target", "readonly")


@dataclass(frozen=True)
class Origin:
    """Where a value came from: a file and the field in it, or a built-in default."""

    file: str | None
    field: str
    scope: str = "default"  # "user", "project" or "default"

    def __str__(self) -> str:
        return f"{self.file}: {self.field}" if self.file else "default"


@dataclass
class Config:
    """The effective configuration of one project, with the origin of every value."""

    name: str | None = None
    tools: list[str] = field(default_factory=list)
    dockerfile: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    mounts: list[Mount] = field(default_factory=list)
    post_create: str | list[str] | None = None
    post_start: str | list[str] | None = None
    ssh_port: int | None = None
    port_range: tuple[int, int] | None = None
    ssh_bind: str | None = None  # an IP address to publish sshd on (see envs/ports.py)
    ca_bundle: str | None = None
    pids: int = DEFAULT_PIDS  # the container's process limit (--pids-limit)
    memory: str | None = None  # as written, e.g. "8g"; validated (see memory_bytes)
    cpus: float | None = None
    host_access: bool = False  # host.docker.internal and a bridge outside the host rule
    # Projects (real paths) whose git config and hooks the agent may write (user file only).
    trust_git_config: list[str] = field(default_factory=list)
    grant_write: bool = False  # ACL write access on a root host (user file only)
    # Seconds a stop gives processes after SIGTERM (docker run --stop-timeout; user file).
    stop_time: int = DEFAULT_STOP_TIME
    # Seconds a workspace's init hook may run (the project file may only lower it).
    init_timeout: int = DEFAULT_INIT_TIMEOUT
    # Ignored files (paths relative to the project) copied into each new workspace.
    copy_ignored: list[str] = field(default_factory=list)
    origins: dict[str, Origin] = field(default_factory=dict)

    def origin(self, key: str) -> Origin:
        return self.origins.get(key, Origin(None, key))

    @property
    def memory_bytes(self) -> int | None:
        """The memory limit in bytes (``None``: no limit)."""
        return None if self.memory is None else memory_bytes(self.memory)


def user_file() -> Path:
    return config_file()


def project_file(project_dir: str) -> Path:
    return Path(project_dir) / PROJECT_FILE


def read_file(path: Path, *, where: str) -> FileConfig | None:
    """Parse and validate one file (missing file: ``None``).

    :param where: ``"user"`` or ``"project"``: which keys are allowed.
    """
    try:
        if where == "project":  # the agent's to write: no link followed (docs/security.md)
            from devenv import hostile

            found = hostile.read_beneath(str(path.parent.parent), PROJECT_FILE,
                                         limit=MAX_FILE_BYTES)
            if found is None:
                return None
            raw = found
        else:
            with open(path, "rb") as f:
                raw = f.read(MAX_FILE_BYTES + 1)
            if len(raw) > MAX_FILE_BYTES:
                raise ConfigError(f"{path} is larger than {MAX_FILE_BYTES >> 10} KiB",
                                  "a devenv config file holds a few settings")
    except FileNotFoundError:
        return None
    except OSError as e:
        raise ConfigError(f"{path}: cannot read: {e.strerror}") from None
    # Imported only when a file exists: projects without config keep msgspec (and tomllib)
    # off the start path.
    import tomllib

    import msgspec

    from devenv.config_schema import FileConfig

    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: invalid TOML: {e}",
                          "see https://toml.io for the syntax") from None
    except RecursionError:
        raise ConfigError(f"{path}: invalid TOML: nested too deeply",
                          "a devenv config file is a few flat settings") from None
    env = data.get("env")
    if isinstance(env, dict):
        for key, value in env.items():
            if not isinstance(value, str):
                raise ConfigError(f"{path}: env.{key}: expected a string, got "
                                  f"{type(value).__name__}", 'quote it: KEY = "value"')
    try:
        parsed = msgspec.convert(data, FileConfig)
    except msgspec.ValidationError as e:
        raise _field_error(path, str(e)) from None
    check(path, parsed, where)
    return parsed


def _field_error(path: Path, text: str) -> ConfigError:
    message, _, at = text.partition(" - at `")
    location = at.rstrip("`").removeprefix("$").lstrip(".")
    unknown = re.match(r"Object contains unknown field `(.+)`", message)
    if unknown:
        key = f"{location}.{unknown[1]}" if location else unknown[1]
        known = KEYS if not location else MOUNT_KEYS
        return ConfigError(f"{path}: {key}: unknown key",
                           f"known keys here: {', '.join(known)}")
    missing = re.match(r"Object missing required field `(.+)`", message)
    if missing:
        return ConfigError(f"{path}: {location}.{missing[1]}: missing (required)")
    message = re.sub(r" \| null", "", message).replace("Expected", "expected").replace("`", "")
    return ConfigError(f"{path}: {location or 'top level'}: {message}")


def load(project_dir: str | None) -> Config:
    """The effective config for ``project_dir`` (or only the user file when ``None``)."""
    user_path = user_file()
    files = [(user_path, read_file(user_path, where="user"))]
    if project_dir is not None:
        path = project_file(project_dir)
        files.append((path, read_file(path, where="project")))
    cfg = Config()
    for (path, part), scope in zip(files, ("user", "project"), strict=False):
        if part is not None:
            _merge(cfg, path, part, scope)
    return cfg


def _merge(cfg: Config, path: Path, part: FileConfig, scope: str) -> None:
    shown = _display(path)
    for key in ("name", "dockerfile", "post_create", "post_start", "ssh_port", "ssh_bind",
                "ca_bundle", "host_access", "grant_write", "stop_time"):
        value = getattr(part, key)
        if value is not None:
            setattr(cfg, key, value)
            cfg.origins[key] = Origin(shown, key, scope)
    for key in (*LIMITS, "init_timeout"):
        value = getattr(part, key)
        if value is None:
            continue
        if scope == "project":
            _refuse_raising(cfg, path, key, value)
        setattr(cfg, key, value)
        cfg.origins[key] = Origin(shown, key, scope)
    if part.port_range is not None:
        cfg.port_range = parse_range(path, part.port_range)
        cfg.origins["port_range"] = Origin(shown, "port_range", scope)
    for i, tool in enumerate(part.tools or []):
        if tool not in cfg.tools:
            cfg.tools.append(tool)
            cfg.origins[f"tools.{tool}"] = Origin(shown, f"tools[{i}]", scope)
    for key, value in (part.env or {}).items():
        cfg.env[key] = value
        cfg.origins[f"env.{key}"] = Origin(shown, f"env.{key}", scope)
    _merge_lists(cfg, shown, part, scope)


def _merge_lists(cfg: Config, shown: str, part: FileConfig, scope: str) -> None:
    for i, mount in enumerate(part.mounts or []):
        if mount not in cfg.mounts:
            cfg.mounts.append(mount)
            cfg.origins[f"mounts.{len(cfg.mounts) - 1}"] = Origin(shown, f"mounts[{i}]", scope)
    for rel in part.copy_ignored or []:
        if rel not in cfg.copy_ignored:
            cfg.copy_ignored.append(rel)
        cfg.origins["copy_ignored"] = Origin(shown, "copy_ignored", scope)
    for entry in part.trust_git_config or []:
        real = os.path.realpath(os.path.expanduser(entry))
        if real not in cfg.trust_git_config:
            cfg.trust_git_config.append(real)
        cfg.origins["trust_git_config"] = Origin(shown, "trust_git_config", scope)


def _refuse_raising(cfg: Config, path: Path, key: str, value: int | float | str) -> None:
    """A project file may lower a limit, never raise it above the user file's (or the
    default): an agent in the environment can write the project file, and the limits are
    what keeps it from taking the machine down."""
    ceiling: int | float | str | None = getattr(cfg, key)
    if ceiling is None:
        return  # no limit set: any limit is lower
    if key == "memory":
        above = (memory_bytes(str(value)) or 0) > (memory_bytes(str(ceiling)) or 0)
    else:
        above = float(value) > float(ceiling)
    if above:
        raise ConfigError(f"{path}: {key}: {value!r} is above the limit of {ceiling!r} "
                          f"({cfg.origin(key)}); a project file may only lower limits",
                          f"raise it in the user file ({_display(user_file())}) if this "
                          "project needs more")


def _display(path: Path) -> str:
    """A path as the user would recognise it (``~`` for the home directory)."""
    home = os.path.expanduser("~")
    text = str(path)
    return "~" + text[len(home):] if home != "/" and text.startswith(home + "/") else text


def as_dict(cfg: Config) -> dict[str, Any]:
    """The effective values, for ``devenv config --json``."""
    return {
        "name": cfg.name, "tools": cfg.tools, "dockerfile": cfg.dockerfile, "env": cfg.env,
        "mounts": [{"source": m.source, "target": m.target, "readonly": m.readonly}
                   for m in cfg.mounts],
        "post_create": cfg.post_create, "post_start": cfg.post_start,
        "ssh_port": cfg.ssh_port, "ssh_bind": cfg.ssh_bind,
        "port_range": f"{cfg.port_range[0]}-{cfg.port_range[1]}" if cfg.port_range else None,
        "ca_bundle": cfg.ca_bundle,
        "pids": cfg.pids, "memory": cfg.memory, "cpus": cfg.cpus,
        "host_access": cfg.host_access, "trust_git_config": cfg.trust_git_config,
        "grant_write": cfg.grant_write, "stop_time": cfg.stop_time,
        "init_timeout": cfg.init_timeout, "copy_ignored": cfg.copy_ignored,
    }
