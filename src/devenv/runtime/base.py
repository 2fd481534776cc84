"""The :class:`Runtime` protocol and :class:`ShellRuntime`, which implements it on top of
one primitive -- start a command on the target (:meth:`ShellRuntime._launch`) -- with the
POSIX shell scripts of :mod:`devenv.runtime.script` and :mod:`devenv.runtime.background`."""

from __future__ import annotations

import asyncio
import contextlib
import posixpath
import tempfile
import time
from abc import ABC, abstractmethod
from collections.abc import AsyncIterable, AsyncIterator, Callable, Mapping, Sequence
from typing import Protocol, runtime_checkable

from devenv.runtime import background as bg
from devenv.runtime import script, wire
from devenv.runtime.errors import InvalidArgument, PathError, RuntimeFailure, TransportError
from devenv.runtime.parse import parse_list, parse_stat
from devenv.runtime.process import Execution, Sink, Stdin
from devenv.runtime.pty import PtySession
from devenv.runtime.types import BackgroundInfo, DirEntry, ExecResult, FileStat

Command = str | Sequence[str]
Data = bytes | AsyncIterable[bytes]
FILE_TIMEOUT = 300.0
QUICK_TIMEOUT = 30.0
PROBE_TIMEOUT = 30.0  # the first call on a target finds out what it offers
# A session that failed before starting within this many seconds is tried again (after the
# pool probed the master, or lowered its limit when the server refused the session), up to
# ATTEMPTS times in all (a refused session: REFUSED_ATTEMPTS, below).
RETRY_WITHIN = 2.0
ATTEMPTS = 3
# A session the server refused (its MaxSessions reached: it frees slots as sessions end)
# surely did not start and cost one round trip: tried again, a little later each time
# (REFUSED_PAUSE more per try, at most REFUSED_MAX_PAUSE), for up to REFUSED_WAIT seconds
# in all and never past the call's own deadline. A server this busy is waited for, as a
# full pool is (a loaded machine made 16 of 100 sessions wait longer than 2.5 s).
REFUSED_WAIT = 30.0
REFUSED_PAUSE = 0.05
REFUSED_MAX_PAUSE = 0.5
# Streamed data held in memory before it spills to a temp file (write_file of a stream).
SPOOL_MEMORY = 8 << 20


@runtime_checkable
class Runtime(Protocol):
    """One target -- a local directory, a git worktree, an SSH host, an environment -- to
    run commands and move files on. Every method is a coroutine; paths may start with
    ``~`` and relative paths are taken from the runtime's root."""

    label: str

    async def exec(self, command: Command, *, cwd: str | None = None,
                   env: Mapping[str, str] | None = None, timeout: float | None = None,
                   stdin: Stdin = None, pty: bool = False, login: bool = False,
                   on_stdout: Sink | None = None, on_stderr: Sink | None = None,
                   cancel: asyncio.Event | None = None, defaults: bool = True
                   ) -> ExecResult: ...

    def read_file(self, path: str) -> AsyncIterator[bytes]: ...

    async def read_bytes(self, path: str) -> bytes: ...

    async def write_file(self, path: str, data: Data, *, parents: bool = True,
                         size: int | None = None) -> None: ...

    async def stat(self, path: str, *, follow: bool = True) -> FileStat: ...

    async def ensure_dir(self, path: str) -> None: ...

    async def list_dir(self, path: str) -> list[DirEntry]: ...

    async def remove(self, path: str, *, recursive: bool = False,
                     missing_ok: bool = False) -> None: ...

    async def resolve_path(self, path: str) -> str: ...

    async def spawn(self, command: Command, *, cwd: str | None = None,
                    env: Mapping[str, str] | None = None,
                    login: bool = False) -> BackgroundInfo: ...

    async def read_output(self, bg_id: str, offset: int = 0) -> tuple[bytes, int]: ...

    async def terminate(self, bg_id: str) -> int: ...

    async def background(self) -> list[BackgroundInfo]: ...

    async def pty(self, command: Command | None = None, *, cwd: str | None = None,
                  env: Mapping[str, str] | None = None, cols: int = 80, rows: int = 24,
                  term: str = "xterm-256color") -> PtySession: ...

    async def close(self) -> None: ...


class ShellRuntime(ABC):
    """Shared implementation: subclasses start commands (:meth:`_launch`) and terminals
    (:meth:`_pty`) their way; everything else is shell scripts run through them."""

    label = "target"
    root: str | None = None
    bg_dir = "~/.cache/devenv/bg"
    _tools: script.Tools | None = None
    _probing: asyncio.Future[script.Tools] | None = None  # the first callers' shared probe

    @abstractmethod
    async def _launch(self, command: Command, *, cwd: str | None, env: dict[str, str],
                      timeout: float | None, login: bool, pty: bool, deadline: float | None,
                      pipe_stdin: bool, probe: bool) -> tuple[Execution, Callable[[], None]]:
        """Start ``command``; return the execution and what to call when it ended.
        ``probe``: this is the tool probe itself (do not wait for :meth:`tools`)."""

    @abstractmethod
    async def _pty(self, command: Command | None, *, cwd: str | None, env: dict[str, str],
                   cols: int, rows: int) -> PtySession:
        """Open an interactive terminal running ``command`` (or a login shell)."""

    def _where(self, cwd: str | None) -> str | None:
        """A command's working directory: the root by default; relative ones from the root."""
        if cwd is None:
            return self.root
        if self.root and not cwd.startswith(("/", "~")):
            return posixpath.join(self.root, cwd)
        return cwd

    async def tools(self, deadline: float | None = None) -> script.Tools:
        """What the target offers (probed once per runtime: GNU/BSD/busybox tools). The
        probe takes at most :data:`PROBE_TIMEOUT`, less before a caller's ``deadline``; a
        target that does not answer it is a :class:`TransportError`, never a target that
        seems to lack every tool. Concurrent first callers share one probe (each waits at
        most until its own deadline); a failed probe is tried again by the next call."""
        if self._tools is not None:
            return self._tools
        if self._probing is None or self._probing.done():
            # Its own bound, not the first caller's deadline: callers share it, and each
            # waits for it only until its own deadline.
            self._probing = asyncio.ensure_future(self._probe())
            # Every caller may have given up waiting: the failure is then nobody's to log.
            self._probing.add_done_callback(lambda f: f.cancelled() or f.exception())
        probing = self._probing
        if deadline is None:
            return await asyncio.shield(probing)
        try:
            return await asyncio.wait_for(asyncio.shield(probing),
                                          max(0.1, deadline - time.monotonic()))
        except TimeoutError:
            raise TransportError(f"{self.label} did not answer devenv's probe in time",
                                 "check that the target is not hung or overloaded",
                                 retry_safe=False) from None

    async def _probe(self) -> script.Tools:
        timeout = PROBE_TIMEOUT
        result = await self._exec(script.Script(script.PROBE), cwd=None, env={},
                                  timeout=timeout, probe=True)
        if result.timed_out or result.exit_code != 0:
            why = f"within {timeout:.0f}s" if result.timed_out else \
                f"(exit {result.exit_code})"
            raise TransportError(f"{self.label} did not answer devenv's probe {why}",
                                 "check that the target is not hung or overloaded",
                                 retry_safe=False)
        self._tools = script.parse_probe(result.stdout.decode("utf-8", "replace"))
        return self._tools

    # -- exec ---------------------------------------------------------------------------

    async def exec(self, command: Command, *, cwd: str | None = None,
                   env: Mapping[str, str] | None = None, timeout: float | None = None,
                   stdin: Stdin = None, pty: bool = False, login: bool = False,
                   on_stdout: Sink | None = None, on_stderr: Sink | None = None,
                   cancel: asyncio.Event | None = None, defaults: bool = True
                   ) -> ExecResult:
        """Run ``command`` (a string is shell code, a sequence an argv) and return how it
        ended. Output streams to ``on_stdout``/``on_stderr`` as it comes, or is collected in
        the result. ``timeout`` counts from this call (connecting included); on expiry or
        ``cancel`` the command's whole process group is killed (TERM, then KILL).

        ``env`` adds variables; unless ``pty`` (or ``defaults=False``) the non-interactive
        defaults come first (TERM=dumb, PAGER=cat, GIT_TERMINAL_PROMPT=0, CI=true...).
        ``login`` runs the command in a login shell, so profile-set tools resolve. A relative
        ``cwd`` is taken from the runtime's root."""
        return await self._exec(command, cwd=cwd,
                                env=script.effective_env(env, pty=pty or not defaults),
                                timeout=timeout, stdin=stdin, pty=pty, login=login,
                                on_stdout=on_stdout, on_stderr=on_stderr, cancel=cancel)

    async def _exec(self, command: Command, *, cwd: str | None, env: dict[str, str],
                    timeout: float | None, stdin: Stdin = None, pty: bool = False,
                    login: bool = False, on_stdout: Sink | None = None,
                    on_stderr: Sink | None = None,
                    cancel: asyncio.Event | None = None, probe: bool = False) -> ExecResult:
        began = time.monotonic()
        deadline = None if timeout is None else began + timeout
        cwd = self._where(cwd)
        attempt = refused = 0
        while True:
            attempt += 1
            tried = time.monotonic()
            try:
                execution, done = await self._launch(
                    command, cwd=cwd, env=env, timeout=timeout, login=login, pty=pty,
                    deadline=deadline, pipe_stdin=stdin is not None or pty, probe=probe)
                result = await self._wait(execution, done, stdin, on_stdout=on_stdout,
                                          on_stderr=on_stderr, cancel=cancel)
            except TransportError as e:
                # Refused at once, surely before it started (a stale master socket, a full
                # master): again, after the pool probed the master or lowered its limit --
                # unless a stream was read part way already, or the failure took long (a
                # dead host: the caller's bounds were spent once already).
                quick = time.monotonic() - tried < RETRY_WITHIN
                # A refusal is certain, however long it took to arrive (a loaded server
                # answers late): it has its own budget below.
                refusal = wire.session_refused(e.message)
                if not e.retry_safe or not (quick or refusal) or not isinstance(
                        stdin, bytes | None):
                    raise
                if refusal:
                    refused += 1
                    attempt -= 1  # a refusal is not a failure of the connection
                    pause = min(REFUSED_PAUSE * refused, REFUSED_MAX_PAUSE)
                    now = time.monotonic()
                    if now + pause - began > REFUSED_WAIT or (
                            deadline is not None and now + pause >= deadline):
                        raise
                    await asyncio.sleep(pause)
                elif attempt == ATTEMPTS:
                    raise
                continue
            result.duration = time.monotonic() - began
            return result

    async def _wait(self, execution: Execution, done: Callable[[], None], stdin: Stdin, *,
                    on_stdout: Sink | None, on_stderr: Sink | None,
                    cancel: asyncio.Event | None) -> ExecResult:
        watcher = None
        if cancel is not None:
            async def watch() -> None:
                await cancel.wait()
                execution.cancel()
            watcher = asyncio.ensure_future(watch())
        try:
            result = await execution.wait(stdin, on_stdout, on_stderr)
        finally:
            if watcher is not None:
                watcher.cancel()
            done()
        return result

    async def _script(self, code: str, path: str, *, stdin: Stdin = None,
                      timeout: float = QUICK_TIMEOUT, on_stdout: Sink | None = None
                      ) -> ExecResult:
        """Run one of devenv's own scripts; map its exit codes to :class:`PathError`."""
        result = await self._exec(script.Script(code), cwd=None, env={}, timeout=timeout,
                                  stdin=stdin, on_stdout=on_stdout)
        if result.timed_out:
            raise RuntimeFailure(f"{self.label}: {path}: no answer within {timeout:g}s")
        if result.exit_code != 0:
            raise _path_error(self.label, path, result)
        return result

    # -- files --------------------------------------------------------------------------

    async def read_file(self, path: str) -> AsyncIterator[bytes]:
        """The file's bytes, streamed in chunks as they arrive."""
        queue: asyncio.Queue[bytes | None] = asyncio.Queue(maxsize=16)

        async def sink(chunk: bytes) -> None:
            await queue.put(chunk)

        async def run() -> ExecResult:
            try:
                return await self._script(script.read_file(path), path, on_stdout=sink,
                                          timeout=FILE_TIMEOUT)
            finally:
                await queue.put(None)

        task = asyncio.ensure_future(run())
        try:
            while (chunk := await queue.get()) is not None:
                yield chunk
            await task
        finally:
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

    async def read_bytes(self, path: str) -> bytes:
        return b"".join([chunk async for chunk in self.read_file(path)])

    async def write_file(self, path: str, data: Data, *, parents: bool = True,
                         size: int | None = None) -> None:
        """Replace ``path`` atomically with ``data`` (see :func:`script.write_file`):
        readers see the old or the new content, never a mix. A stream of known ``size`` is
        sent as it comes (a short one replaces nothing); otherwise it is spooled first to
        learn its size. ``parents`` creates missing parent directories."""
        tools = await self.tools()
        if isinstance(data, bytes | bytearray | memoryview):
            payload = bytes(data)
            await self._script(script.write_file(path, len(payload), tools, parents=parents),
                               path, stdin=payload, timeout=FILE_TIMEOUT)
            return
        if size is not None:
            await self._script(script.write_file(path, size, tools, parents=parents), path,
                               stdin=data, timeout=FILE_TIMEOUT)
            return
        # A stream's length is learnt by spooling it, so that a writer that dies part way
        # can never rename a short file into place.
        with tempfile.SpooledTemporaryFile(SPOOL_MEMORY) as spool:
            async for chunk in data:
                spool.write(chunk)
            size = spool.tell()
            spool.seek(0)

            async def chunks() -> AsyncIterator[bytes]:
                while block := spool.read(1 << 20):
                    yield block

            await self._script(script.write_file(path, size, tools, parents=parents), path,
                               stdin=chunks(), timeout=FILE_TIMEOUT)

    async def stat(self, path: str, *, follow: bool = True) -> FileStat:
        tools = await self.tools()
        if tools.stat == "none":
            raise RuntimeFailure(f"{self.label} has no stat command")
        result = await self._script(script.stat(path, tools, follow=follow), path)
        return parse_stat(result.stdout.decode("utf-8", "replace"), bsd=tools.stat == "bsd",
                          path=path)

    async def ensure_dir(self, path: str) -> None:
        await self._script(script.ensure_dir(path), path)

    async def list_dir(self, path: str) -> list[DirEntry]:
        result = await self._script(script.list_dir(path, await self.tools()), path)
        return parse_list(result.stdout)

    async def remove(self, path: str, *, recursive: bool = False,
                     missing_ok: bool = False) -> None:
        """Remove a file or symlink; a directory only with ``recursive=True``."""
        await self._script(script.remove(path, recursive=recursive, missing_ok=missing_ok),
                           path)

    async def resolve_path(self, path: str) -> str:
        """``path`` made absolute on the target: ``~`` is the home directory, a relative
        path is taken from the runtime's root. Symlinks are not resolved."""
        result = await self._script(script.resolve_path(path, self.root), path)
        return posixpath.normpath(result.stdout.decode().rstrip("\n"))

    # -- background processes -----------------------------------------------------------

    async def spawn(self, command: Command, *, cwd: str | None = None,
                    env: Mapping[str, str] | None = None,
                    login: bool = False) -> BackgroundInfo:
        """Start ``command`` in the background (see :mod:`devenv.runtime.background`)."""
        tools = await self.tools()
        bg_id = bg.new_id()
        code = bg.spawn(self.bg_dir, bg_id, command, cwd=cwd if cwd is not None else self.root,
                        env=script.effective_env(env, pty=False), login=login, tools=tools)
        result = await self._script(code, cwd or self.bg_dir)
        pid = int(result.stdout.split()[-1])
        return BackgroundInfo(bg_id, pid, f"{self.bg_dir}/{bg_id}", bg.describe(command),
                              time.time(),
                              alive=True)

    async def read_output(self, bg_id: str, offset: int = 0) -> tuple[bytes, int]:
        """Output of background process ``bg_id`` from byte ``offset``; and the next
        offset."""
        result = await self._script(bg.read_output(self.bg_dir, bg_id, offset), bg_id,
                                    timeout=FILE_TIMEOUT)
        return result.stdout, offset + len(result.stdout)

    async def terminate(self, bg_id: str) -> int:
        """End background process ``bg_id`` (TERM, 2 s, KILL); return its exit code."""
        result = await self._script(bg.terminate(self.bg_dir, bg_id), bg_id)
        return int(result.stdout.split()[-1])

    async def background(self) -> list[BackgroundInfo]:
        result = await self._script(bg.listing(self.bg_dir), self.bg_dir)
        return bg.parse_listing(result.stdout, self.bg_dir)

    # -- interactive terminals -------------------------------------------------------------

    async def pty(self, command: Command | None = None, *, cwd: str | None = None,
                  env: Mapping[str, str] | None = None, cols: int = 80, rows: int = 24,
                  term: str = "xterm-256color") -> PtySession:
        """An interactive terminal running ``command`` (default: the user's login shell)
        in ``cwd`` (default: the root); see :class:`devenv.runtime.pty.PtySession`."""
        if cols <= 0 or rows <= 0:
            raise InvalidArgument(f"invalid terminal size {cols}x{rows}")
        variables = {"TERM": term, **script.check_env(env)}
        return await self._pty(command, cwd=self._where(cwd), env=variables, cols=cols,
                               rows=rows)

    async def close(self) -> None:
        return None


def pty_script(command: Command | None, cwd: str | None, env: Mapping[str, str]) -> str:
    """Shell code that enters ``cwd`` and runs ``command`` or a login shell."""
    words = (script.command_words(command, login=False) if command is not None
             else 'exec "${SHELL:-/bin/sh}" -l')
    cd = (f"cd -- {script.quote_path(cwd)} || exit 125; " if cwd is not None else "")
    return f"{cd}{script.exports(env)}{words}"


def _path_error(label: str, path: str, result: ExecResult) -> PathError:
    code = result.exit_code
    if code in script.FILE_ERRORS:
        return PathError(f"{path}: {script.FILE_ERRORS[code]} (on {label})")
    lines = result.stderr.decode("utf-8", "replace").strip().splitlines()
    detail = lines[-1] if lines else f"exit {code}"
    return PathError(f"{path}: {detail} (on {label})")
