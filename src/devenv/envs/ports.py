"""SSH port choice: flag over ``DEVENV_SSH_PORT`` over ``ssh_port`` in config over the
remembered port over a new one.

New ports come from a range (default 22200-22999; ``port_range`` in the user config or
``DEVENV_PORT_RANGE=LOW-HIGH`` changes it),
skip every port another project remembers, and must pass a bind test on 127.0.0.1. Callers
hold the ``ports`` lock while they choose and record, so parallel devenvs never pick the same
port; Docker reporting a port taken anyway (a non-devenv process won the race) makes the
caller try the next one.
"""

from __future__ import annotations

import errno
import os
import socket
from collections.abc import Callable, Collection
from dataclasses import dataclass

from devenv.errors import ConflictError, DevenvError, UsageError

DEFAULT_RANGE = (22200, 22999)
ENV_PORT = "DEVENV_SSH_PORT"
ENV_RANGE = "DEVENV_PORT_RANGE"
ENV_BIND = "DEVENV_SSH_BIND"
LOOPBACK = "127.0.0.1"


def bind(configured: str | None) -> str:
    """Where sshd is published: ``DEVENV_SSH_BIND``, else ``ssh_bind`` from the user config,
    else 127.0.0.1. A bad value is a usage error."""
    from devenv.config_checks import bind_address

    raw = os.environ.get(ENV_BIND, "")
    if raw.strip():
        return bind_address(raw, ENV_BIND, UsageError)
    return configured or LOOPBACK


def publish_args(address: str, port: int, container_port: int) -> list[str]:
    """``docker run -p`` arguments for sshd on ``address``. devenv, its ssh_config and every
    client it configures connect to 127.0.0.1, so that stays published too (unless
    ``address`` is every interface, which includes it)."""
    import ipaddress

    ip = ipaddress.ip_address(address)
    published = ["-p", f"{f'[{address}]' if ip.version == 6 else address}:{port}:"
                       f"{container_port}"]
    if ip.is_unspecified or address == LOOPBACK:
        return published
    return ["-p", f"{LOOPBACK}:{port}:{container_port}", *published]


def exposed(address: str) -> bool:
    """Whether sshd on ``address`` is reachable from other machines."""
    import ipaddress

    return not ipaddress.ip_address(address).is_loopback


@dataclass(frozen=True)
class PortChoice:
    """A port and where it came from (``flag``, ``env``, ``config``, ``remembered`` or
    ``allocated``)."""

    port: int
    source: str

    @property
    def user_chosen(self) -> bool:
        return self.source in ("flag", "env", "config")


def parse_port(value: str | int, origin: str) -> int:
    """Validate a port given by the user; ``origin`` names where it came from."""
    try:
        port = int(value)
    except (TypeError, ValueError):
        raise UsageError(f"{origin}: {value!r} is not a port number",
                         "use a number from 1 to 65535") from None
    if not 1 <= port <= 65535:
        raise UsageError(f"{origin}: port {port} is out of range",
                         "use a number from 1 to 65535")
    return port


def port_range(environ: dict[str, str] | None = None,
               configured: tuple[int, int] | None = None) -> tuple[int, int]:
    """The allocation range: ``DEVENV_PORT_RANGE``, else the user config's, else the
    default."""
    raw = (environ if environ is not None else os.environ).get(ENV_RANGE, "").strip()
    if not raw:
        return configured or DEFAULT_RANGE
    low_s, sep, high_s = raw.partition("-")
    if not sep:
        raise UsageError(f"{ENV_RANGE}={raw!r} is not a range",
                         "write it as LOW-HIGH, e.g. 22200-22999")
    low = parse_port(low_s.strip(), ENV_RANGE)
    high = parse_port(high_s.strip(), ENV_RANGE)
    if low > high:
        raise UsageError(f"{ENV_RANGE}={raw!r}: {low} is above {high}",
                         "write it as LOW-HIGH with LOW <= HIGH")
    return low, high


def requested_port(flag: int | None, environ: dict[str, str] | None = None,
                   configured: int | None = None) -> PortChoice | None:
    """The port the user asked for: flag, then ``DEVENV_SSH_PORT``, then ``ssh_port`` from
    config; ``None`` if none of them."""
    if flag is not None:
        return PortChoice(parse_port(flag, "--port"), "flag")
    raw = (environ if environ is not None else os.environ).get(ENV_PORT, "").strip()
    if raw:
        return PortChoice(parse_port(raw, ENV_PORT), "env")
    if configured is not None:
        return PortChoice(configured, "config")
    return None


def is_free(port: int) -> bool:
    """Whether 127.0.0.1:``port`` can be bound right now (TIME_WAIT does not count as taken)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError as e:
            if e.errno in (errno.EADDRINUSE, errno.EACCES):
                return False
            raise
    return True


def choose(
    *,
    requested: PortChoice | None,
    remembered: int | None,
    reserved: Collection[int],
    avoid: Collection[int] = (),
    rng: tuple[int, int] = DEFAULT_RANGE,
    free: Callable[[int], bool] = is_free,
) -> PortChoice:
    """Pick the port for a start.

    :param requested: the user's choice (flag or env); it must be free and not reserved.
    :param remembered: the project's port from the last start; kept while it is free.
    :param reserved: ports other projects remember; never handed out.
    :param avoid: ports that just failed for this start (Docker said taken).
    """
    if requested is not None:
        if requested.port in reserved:
            raise ConflictError(f"port {requested.port} is reserved for another devenv project",
                                "choose another port, or leave --port out to get a free one")
        if not free(requested.port):
            raise ConflictError(f"port {requested.port} on 127.0.0.1 is busy",
                                "choose another port, or leave --port out to get a free one")
        return requested
    if remembered is not None and remembered not in avoid and free(remembered):
        return PortChoice(remembered, "remembered")
    low, high = rng
    for port in range(low, high + 1):
        if port in reserved or port in avoid or port == remembered:
            continue
        if free(port):
            return PortChoice(port, "allocated")
    raise DevenvError(f"no free SSH port in {low}-{high}",
                      f"stop some environments, or widen the range with {ENV_RANGE}=LOW-HIGH")
