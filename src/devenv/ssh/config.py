"""devenv's own ``ssh_config`` and ``known_hosts``, regenerated from state.

Every known project gets a ``Host devenv-<name>`` block; its host key is pinned in devenv's
``known_hosts`` under ``HostKeyAlias devenv-<name>``, so trust is independent of the port and
survives stop/start, rebuilds and port changes with ``StrictHostKeyChecking yes``. The same
key is pinned as ``[127.0.0.1]:<port>`` too, for SSH clients that read neither
``HostKeyAlias`` nor ``Include`` (paramiko, asyncssh, libssh): with that file alone they
verify strictly. Both files are regenerated from state, so a port change moves the pin.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from devenv.lockfile import atomic_write
from devenv.paths import env_control_socket, private_dir, runtime_dir, ssh_dir
from devenv.runtime import wire
from devenv.runtime.dirs import MAX_CONTROL_DIR

CONNECT_TIMEOUT = 10  # seconds, for the TCP connect and the SSH handshake


@dataclass(frozen=True)
class HostEntry:
    """One environment as SSH sees it."""

    alias: str  # ``devenv-<name>``: the Host pattern and the HostKeyAlias
    port: int
    user: str
    host_pub: str  # "ssh-ed25519 AAAA... comment"


def config_path() -> Path:
    return ssh_dir() / "config"


def known_hosts_path() -> Path:
    return ssh_dir() / "known_hosts"


def ssh_argv(alias: str, *options: str) -> list[str]:
    """``ssh`` through devenv's ssh_config to ``alias`` (``devenv-<name>``). The config's
    ControlPath directory is verified private first (:func:`control_dir`): ssh itself would
    use a socket another user put there."""
    control_dir()
    return wire.ssh_argv(["-F", str(config_path()), *options], alias)


def _quote(value: str) -> str:
    """Quote a value for ssh_config (paths may hold spaces)."""
    return '"' + value + '"' if any(c in value for c in ' \t"#') else value


def control_dir() -> Path:
    """Where ControlMaster sockets live, created 0700 and verified on every call (owner,
    mode, no link; its base too, see :func:`devenv.paths.runtime_dir`): a socket there is
    trusted with commands, their input and output. Short, since a unix socket path is
    limited to ~100 bytes. One per devenv home."""
    # devenv's own state directory when the socket paths fit there: it outlives reboots
    # and nothing under /tmp, so no other user can prepare it for the ssh clients that use
    # devenv's ssh_config without devenv running (git, rsync, editors).
    local = ssh_dir() / "cm"
    if len(str(local)) <= MAX_CONTROL_DIR:
        return private_dir(local)
    return private_dir(runtime_dir() / fallback_control_name())


def fallback_control_name() -> str:
    """The control directory's name in the user's runtime directory, for a devenv home whose
    own path is too long for sockets."""
    import hashlib

    return f"cm-{hashlib.sha256(str(ssh_dir()).encode()).hexdigest()[:8]}"


def render_config(hosts: Iterable[HostEntry], identity: Path, known_hosts: Path,
                  control: Path | None = None) -> str:
    lines = ["# Written by devenv; regenerated on every 'devenv up'. Do not edit.", ""]
    for entry in hosts:
        host = entry.alias
        lines += [
            f"Host {host}",
            "  HostName 127.0.0.1",
            f"  Port {entry.port}",
            f"  User {entry.user}",
            f"  IdentityFile {_quote(str(identity))}",
            "  IdentitiesOnly yes",
            f"  UserKnownHostsFile {_quote(str(known_hosts))}",
            "  GlobalKnownHostsFile /dev/null",
            f"  HostKeyAlias {host}",
            "  StrictHostKeyChecking yes",
            "  CheckHostIP no",
            "  PasswordAuthentication no",
            "  ForwardAgent no",
            "  LogLevel ERROR",
            # The connection never leaves this machine (127.0.0.1): the classic key exchange
            # costs a new connection ~100 ms less than OpenSSH 9's post-quantum default
            # (docs/architecture.md, terminals).
            "  KexAlgorithms curve25519-sha256,curve25519-sha256@libssh.org",
            # Every connection has a bound: a paused or hung environment fails in seconds
            # (connect and handshake) instead of hanging (docs/reliability.md).
            f"  ConnectTimeout {CONNECT_TIMEOUT}",
        ]
        if control is not None:
            lines += [
                "  ControlMaster auto",
                f"  ControlPath {_quote(env_control_socket(str(control), entry.port))}",
                "  ControlPersist 60",
                "  ServerAliveInterval 5",
                "  ServerAliveCountMax 2",
            ]
        lines.append("")
    return "\n".join(lines)


def render_known_hosts(pins: Iterable[tuple[str, str]]) -> str:
    """known_hosts lines from (host patterns, "type key [comment]") pairs."""
    lines = []
    for patterns, host_pub in pins:
        keytype, key = host_pub.split()[:2]
        lines.append(f"{patterns} {keytype} {key}")
    return "\n".join(lines) + ("\n" if lines else "")


def pins(hosts: list[HostEntry]) -> list[tuple[str, str]]:
    """(patterns, key) per environment: its alias, and ``[127.0.0.1]:<port>`` when no other
    known environment remembers that port (a pin two keys shared would trust either)."""
    ports = [h.port for h in hosts]
    return [(h.alias + (f",[127.0.0.1]:{h.port}" if ports.count(h.port) == 1 else ""),
             h.host_pub) for h in hosts]


def write(hosts: list[HostEntry], identity: Path) -> Path:
    """Regenerate both files atomically from ``hosts``; return the config path. Callers
    serialise writers (they hold the lock under which they read ``hosts``)."""
    private_dir(ssh_dir())
    control = control_dir()
    atomic_write(known_hosts_path(), render_known_hosts(pins(hosts)), 0o644)
    atomic_write(config_path(), render_config(hosts, identity, known_hosts_path(), control),
                 0o600)
    return config_path()
