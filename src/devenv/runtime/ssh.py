"""Runtimes over SSH: :class:`SSHRuntime`, any host the system ``ssh`` reaches (so the
user's ``~/.ssh/config``, agent and ProxyJump apply), on :class:`SSHBase`, which
:class:`devenv.envs.env_runtime.EnvRuntime` shares. They go through the connection pool
(:mod:`.pool`) and the marker protocol (:mod:`.script`)."""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable
from dataclasses import dataclass

from devenv.runtime import pool as pool_mod
from devenv.runtime import process, script, wire
from devenv.runtime.base import Command, ShellRuntime, pty_script
from devenv.runtime.dirs import RuntimeDirs
from devenv.runtime.errors import InvalidArgument
from devenv.runtime.master import Endpoint, run_short
from devenv.runtime.pool import Pool
from devenv.runtime.process import Execution
from devenv.runtime.pty import PtySession, open_session

CONNECT_TIMEOUT = 15
# Sessions on a pool master: never a master themselves, and never a silent direct
# connection (OpenSSH falls back to one when the master is gone or refuses the session, past
# the pool's health, backoff and sshd's MaxStartups): such a session fails at once instead,
# with no start marker, and is retried after the pool has probed the master.
SESSION_OPTIONS = ("-o", "ControlMaster=no", "-o", "ProxyCommand=false")
_HOST = re.compile(r"[A-Za-z0-9_.:%\[\]-]+\Z")
_USER = re.compile(r"[A-Za-z0-9_.][A-Za-z0-9_.-]*\Z")


@dataclass(frozen=True)
class SSHTarget:
    """Where and how to connect. ``host`` may be an alias of the user's ssh config;
    ``port``, ``user`` and ``identity_file`` override it. ``src_base_dir`` is where
    workspaces live on the host, ``bg_output_dir`` where background processes write.
    ``config_file`` replaces ``~/.ssh/config`` (``ssh -F``); ``options`` are extra
    ``-o`` settings (``("StrictHostKeyChecking=yes", ...)``)."""

    host: str
    port: int | None = None
    user: str | None = None
    identity_file: str | None = None
    src_base_dir: str = "~/devenv/src"
    bg_output_dir: str = "~/.cache/devenv/bg"
    config_file: str | None = None
    options: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.host or self.host.startswith("-") or not _HOST.match(self.host):
            raise InvalidArgument(f"invalid SSH host {self.host!r}",
                                  "give a host name, address or ssh config alias")
        if self.port is not None and not 0 < self.port < 65536:
            raise InvalidArgument(f"invalid SSH port {self.port}", "use 1-65535")
        if self.user is not None and not _USER.match(self.user):
            raise InvalidArgument(f"invalid SSH user {self.user!r}")

    @classmethod
    def from_cli(cls, spec: str) -> SSHTarget:
        """A ``[user@]host[:port]`` given on the command line; ``DEVENV_SSH_CONFIG`` names an
        ssh config file to use instead of ``~/.ssh/config``."""
        return cls.parse(spec, config_file=os.environ.get("DEVENV_SSH_CONFIG") or None)

    @classmethod
    def parse(cls, spec: str, **kwargs: object) -> SSHTarget:
        """``[user@]host[:port]`` (IPv6: ``[addr]:port``)."""
        user, _, rest = spec.rpartition("@")
        port: int | None = None
        if rest.startswith("["):
            host, _, tail = rest[1:].partition("]")
            if tail.startswith(":"):
                port = _port(tail[1:], spec)
        elif rest.count(":") == 1:
            host, _, p = rest.partition(":")
            port = _port(p, spec)
        else:
            host = rest
        return cls(host, port=port, user=user or None, **kwargs)  # type: ignore[arg-type]

    @property
    def label(self) -> str:
        who = f"{self.user}@" if self.user else ""
        where = f":{self.port}" if self.port else ""
        return f"{who}{self.host}{where}"


def _port(text: str, spec: str) -> int:
    if not (text.isascii() and text.isdecimal()):
        raise InvalidArgument(f"invalid port in {spec!r}", "write [user@]host[:port]")
    return int(text)


class SSHBase(ShellRuntime):
    """What SSH runtimes share: the pool, the wrapper, remote kills, terminals; a subclass
    sets :attr:`endpoint` (and may set :attr:`posix_login`, :attr:`preamble`). ``dirs``
    (default: the pool's, else :meth:`RuntimeDirs.default`) holds the sockets, locks and
    health records."""

    endpoint: Endpoint
    max_wait: float = pool_mod.DEFAULT_MAX_WAIT
    posix_login = False  # the login shell is known to run POSIX sh code (devenv's images)
    preamble = ""  # shell code run before every command's exports

    def __init__(self, pool: Pool | None, dirs: RuntimeDirs | None) -> None:
        self._pool = pool
        self.dirs = dirs or (pool.dirs if pool is not None else RuntimeDirs.default())

    @property
    def pool(self) -> Pool:
        if self._pool is None:
            self._pool = pool_mod.default_pool(self.dirs)
        return self._pool

    async def _launch(self, command: Command, *, cwd: str | None, env: dict[str, str],
                      timeout: float | None, login: bool, pty: bool, deadline: float | None,
                      pipe_stdin: bool, probe: bool) -> tuple[Execution, Callable[[], None]]:
        tools = script.Tools(bash=True) if probe else await self.tools(deadline)
        wrapped = script.wrap(command, cwd=cwd, env=env, timeout=timeout, login=login,
                              tools=tools, posix_login=self.posix_login,
                              preamble=self.preamble)
        lease = await self.pool.acquire(self.endpoint, max_wait=self.max_wait,
                                        deadline=deadline)
        ep = self.endpoint

        def failed(error: str, started: bool) -> None:
            if started:  # the connection died under a running command
                self.pool.note_failure(ep, error)
            elif wire.session_refused(error):  # the master is fine, and full
                self.pool.note_refused(lease.master)
            else:  # the master would not take the session: the next acquire probes it
                lease.master.ready_at = 0.0

        argv = ep.argv(lease.control_path, *SESSION_OPTIONS, "-tt" if pty else "-T",
                       command=wrapped.command)
        plan = process.Plan(
            argv, nonce=wrapped.nonce, pty=pty, kill_remote=self._kill_group,
            transport=ep.label, cwd_shown=cwd, on_transport_failure=failed,
            on_transport_success=lambda: self.pool.note_success(ep))
        try:
            execution = await process.start(plan, deadline=deadline, pipe_stdin=pipe_stdin)
        except BaseException:
            lease.release()
            raise
        return execution, lease.release

    async def _pty(self, command: Command | None, *, cwd: str | None, env: dict[str, str],
                   cols: int, rows: int) -> PtySession:
        lease = await self.pool.acquire(self.endpoint, max_wait=self.max_wait)
        term = env.pop("TERM")  # ssh sends its own TERM to the remote PTY
        remote = "exec /bin/sh -c " + wire.quote(self.preamble + pty_script(command, cwd, env))
        argv = self.endpoint.argv(lease.control_path, *SESSION_OPTIONS, "-tt",
                                  command=remote)
        try:
            return await open_session(argv, env={**os.environ, "TERM": term}, cwd=None,
                                      cols=cols, rows=rows, on_close=lease.release)
        except BaseException:
            lease.release()
            raise

    async def _kill_group(self, pgid: int) -> None:
        """Kill a remote process group over another channel (TERM, 1 s, KILL)."""
        lease = await self.pool.acquire(self.endpoint, max_wait=5)
        try:
            argv = self.endpoint.argv(lease.control_path, *SESSION_OPTIONS, "-T",
                                      command=wire.kill_group(pgid))
            await run_short(argv, 10)
        finally:
            lease.release()

    async def close(self) -> None:
        """Close the masters this process opened to the target."""
        await self.pool.close(self.endpoint)


class SSHRuntime(SSHBase):
    """Commands and files on an SSH host (see :class:`SSHTarget`)."""

    def __init__(self, target: SSHTarget, *, pool: Pool | None = None,
                 dirs: RuntimeDirs | None = None, root: str | None = None,
                 max_wait: float = pool_mod.DEFAULT_MAX_WAIT, max_channels: int = 8,
                 max_masters: int = 8) -> None:
        super().__init__(pool, dirs)
        self.target = target
        self.root = root
        self.label = target.label
        self.bg_dir = target.bg_output_dir
        self.max_wait = max_wait
        options: list[str] = []
        if target.config_file:
            options += ["-F", target.config_file]
        options += ["-o", "BatchMode=yes", "-o", "ServerAliveInterval=5",
                    "-o", "ServerAliveCountMax=2", "-o", f"ConnectTimeout={CONNECT_TIMEOUT}",
                    "-o", "LogLevel=ERROR"]
        if target.port:
            options += ["-p", str(target.port)]
        if target.user:
            options += ["-l", target.user]
        if target.identity_file:
            options += ["-i", os.path.expanduser(target.identity_file),
                        "-o", "IdentitiesOnly=yes"]
        for option in target.options:
            options += ["-o", option]
        key = "ssh:" + "\0".join([os.environ.get("USER", str(os.getuid())), target.host,
                                   str(target.port or ""), target.user or "",
                                   target.identity_file or "", target.config_file or "",
                                   *target.options])
        digest = hashlib.sha256(key.encode()).hexdigest()[:12]
        self.endpoint = Endpoint(key, target.label, target.host, tuple(options),
                                 os.path.join(self.dirs.control_dir, f"h{digest}"),
                                 max_channels, max_masters)
