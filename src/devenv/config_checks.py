"""The checks of one config file's values and the bounds they keep (devenv.config loads
and merges; this says what a value may be)."""

from __future__ import annotations

import math
import re
from pathlib import Path

from devenv.errors import ConfigError, UsageError, safe_text

TYPE_CHECKING = False
if TYPE_CHECKING:
    from devenv.config_schema import FileConfig

PROJECT_ONLY = ("name", "dockerfile", "ssh_port")
# host_access opens the host to the container: the user's decision, never a repository's.
# trust_git_config lets the agent write the project's git config and hooks (docs/security.md).
# ssh_bind publishes sshd beyond this machine: the user's decision, never a repository's.
# grant_write gives the container user ACL write access: a repository must not grant itself.
# stop_time bounds how long 'devenv stop' waits: a repository must not make it hang.
USER_ONLY = ("port_range", "ssh_bind", "ca_bundle", "host_access", "trust_git_config",
             "grant_write", "stop_time")
DEFAULT_STOP_TIME = 10  # seconds a stop gives processes after SIGTERM
MAX_STOP_TIME = 600
# Seconds a workspace's init hook may run (devenv.workspaces.hook). Either file may set it,
# but the project file only lower (see _merge): a repository, or the agent that can write
# it, can then only have the trusted hook killed sooner -- as a failing hook, which leaves
# the workspace usable -- never make it hold a workspace's creation longer.
DEFAULT_INIT_TIMEOUT = 3600
MIN_INIT_TIMEOUT = 1
MAX_INIT_TIMEOUT = 86400
MAX_ENV_VALUE = 64 << 10  # one argument of `docker run` is limited to 128 KiB
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_RANGE = re.compile(r"^\s*(\d+)\s*-\s*(\d+)\s*$")
_MEMORY = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([bkmg]?)\s*$", re.IGNORECASE)
_MEMORY_UNITS = {"": 1, "b": 1, "k": 1024, "m": 1024**2, "g": 1024**3}
DEFAULT_PIDS = 4096  # a fork bomb stops here; a busy build (make -j, node, browsers) does not
MIN_PIDS = 64  # init, the supervisor, sshd, a shell and tmux must fit
MAX_PIDS = 4194304  # the kernel's own ceiling (pid_max)
MIN_MEMORY = 64 * 1024**2
MAX_MEMORY = 2**60  # beyond any machine; keeps the number within Docker's int64
MIN_CPUS = 0.01  # Docker's granularity
LIMITS = ("pids", "memory", "cpus")


def check(path: Path, cfg: FileConfig, where: str) -> None:
    """Refuse what one config file may not hold (the message names the file and field)."""
    wrong_place = PROJECT_ONLY if where == "user" else USER_ONLY
    for key in wrong_place:
        if getattr(cfg, key) is not None:
            other = "project file (.devenv/devenv.toml)" if where == "user" else "user file"
            raise ConfigError(f"{path}: {key}: belongs in the {other}")
    _check_env(path, cfg)
    for i, mount in enumerate(cfg.mounts or []):
        if not mount.target.startswith("/"):
            raise ConfigError(f"{path}: mounts[{i}].target: must be an absolute path in the "
                              f"container, got {mount.target!r}")
        if not mount.source or re.search(r"[\x00-\x1f]", mount.source + mount.target):
            raise ConfigError(f"{path}: mounts[{i}]: empty path or a control character in it")
    if cfg.ssh_port is not None and not 1 <= cfg.ssh_port <= 65535:
        raise ConfigError(f"{path}: ssh_port: {cfg.ssh_port} is out of range",
                          "use a number from 1 to 65535")
    if cfg.port_range is not None:
        parse_range(path, cfg.port_range)
    if cfg.ssh_bind is not None:
        bind_address(cfg.ssh_bind, f"{path}: ssh_bind", ConfigError)
    if cfg.stop_time is not None and not 0 <= cfg.stop_time <= MAX_STOP_TIME:
        raise ConfigError(f"{path}: stop_time: {cfg.stop_time} is out of range",
                          f"use 0 to {MAX_STOP_TIME} seconds")
    if cfg.init_timeout is not None and not (
            MIN_INIT_TIMEOUT <= cfg.init_timeout <= MAX_INIT_TIMEOUT):
        raise ConfigError(f"{path}: init_timeout: {cfg.init_timeout} is out of range",
                          f"use {MIN_INIT_TIMEOUT} to {MAX_INIT_TIMEOUT} seconds")
    _check_limits(path, cfg)
    _check_copy_ignored(path, cfg)
    for hook in ("post_create", "post_start"):
        value = getattr(cfg, hook)
        if value is not None and value in ("", []):
            raise ConfigError(f"{path}: {hook}: empty command")


def _check_env(path: Path, cfg: FileConfig) -> None:
    for key, value in (cfg.env or {}).items():
        if not _ENV_NAME.match(key):
            raise ConfigError(f"{path}: env.{safe_text(key)}: not a valid variable name",
                              "use letters, digits and '_', not starting with a digit")
        if "\x00" in value:
            raise ConfigError(f"{path}: env.{key}: holds a NUL character",
                              "environment values cannot carry NUL; remove it")
        if len(value.encode()) > MAX_ENV_VALUE:
            raise ConfigError(f"{path}: env.{key}: longer than {MAX_ENV_VALUE >> 10} KiB",
                              "pass large data in a file in the project instead")
    for i, entry in enumerate(cfg.trust_git_config or []):
        if not entry or "\x00" in entry:
            raise ConfigError(f"{path}: trust_git_config[{i}]: not a path")


def bind_address(value: str, where: str, error: type[ConfigError] | type[UsageError]) -> str:
    """``value`` as an IP address to publish sshd on (normalised), or ``error``."""
    import ipaddress

    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        raise error(f"{where}: {safe_text(value)!r} is not an IP address",
                    "e.g. 0.0.0.0 (every interface), 127.0.0.1 (the default) or one of "
                    "this machine's addresses") from None


def _check_limits(path: Path, cfg: FileConfig) -> None:
    if cfg.pids is not None and not MIN_PIDS <= cfg.pids <= MAX_PIDS:
        raise ConfigError(f"{path}: pids: {cfg.pids} is out of range",
                          f"use a number from {MIN_PIDS} to {MAX_PIDS} "
                          f"(the default is {DEFAULT_PIDS})")
    if cfg.memory is not None:
        _parse_memory(path, cfg.memory)
    if cfg.cpus is not None and not (math.isfinite(cfg.cpus) and cfg.cpus >= MIN_CPUS):
        raise ConfigError(f"{path}: cpus: {cfg.cpus} is not a number of CPUs",
                          f"use a number from {MIN_CPUS} up, e.g. cpus = 2 or cpus = 1.5")


def memory_bytes(value: str) -> int | None:
    """``"8g"``, ``"512m"``, ``"1.5g"``, ``"1073741824"`` in bytes (``None``: not a size)."""
    match = _MEMORY.match(value)
    if not match:
        return None
    return int(float(match[1]) * _MEMORY_UNITS[match[2].lower()])


def _parse_memory(path: Path, value: str) -> int:
    size = memory_bytes(value)
    if size is None:
        raise ConfigError(f"{path}: memory: {value!r} is not a size",
                          'a number with an optional unit b, k, m or g, e.g. memory = "8g"')
    if not MIN_MEMORY <= size <= MAX_MEMORY:
        raise ConfigError(f"{path}: memory: {value!r} is out of range",
                          'use at least "64m"')
    return size


def parse_range(path: Path, value: str) -> tuple[int, int]:
    match = _RANGE.match(value)
    low, high = (int(match[1]), int(match[2])) if match else (0, 0)
    if not match or not 1 <= low <= high <= 65535:
        raise ConfigError(f"{path}: port_range: {value!r} is not a range LOW-HIGH",
                          'e.g. port_range = "22200-22999"')
    return low, high


def _check_copy_ignored(path: Path, cfg: FileConfig) -> None:
    """Paths inside the project only: the project file is the agent's to write, and what
    it names is read on this machine (without following links: devenv.workspaces)."""
    for i, rel in enumerate(cfg.copy_ignored or []):
        parts = rel.split("/")
        if (not rel or rel.startswith("/") or any(p in ("", ".", "..") for p in parts)
                or re.search(r"[\x00-\x1f]", rel)):
            raise ConfigError(f"{path}: copy_ignored[{i}]: {rel!r} is not a path inside the "
                              "project", "write paths relative to the project, like .env or "
                              "config/local.toml")


