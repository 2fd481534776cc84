"""Running one command as a local child process (``sh`` or ``ssh``), with streamed output,
stdin, a deadline, cancellation and the marker protocol of :mod:`devenv.runtime.script`."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from devenv.runtime import child, wire
from devenv.runtime.errors import PathError, RuntimeFailure, TransportError
from devenv.runtime.pty import (
    eof_for,
    read_nonblocking,
    set_size,
    until_raw,
    write_fd,
)
from devenv.runtime.types import ExecResult
from devenv.runtime.wire import MarkerParser

Sink = Callable[[bytes], Awaitable[None] | None]
Stdin = bytes | AsyncIterable[bytes] | None

# After the command ended (end marker, or the local child exited), output still in flight is
# read for this long; a background child that keeps the pipes open does not hold the call.
DRAIN_GRACE = 0.5
# ssh's terminal turns raw by then, once the remote command runs (see pty.until_raw).
RAW_WAIT = 5.0
# A killed command gets TERM, then KILL after this many seconds.
# The remote kill of a timed-out or cancelled command (TERM, 1 s, KILL over another channel)
# gets this long; then the local ssh is ended anyway. On a hung connection it cannot get
# through, and the call must still end soon after the caller's timeout, not when ServerAlive
# gives up; the remote backstop (``timeout -s KILL``) covers the command there.
KILL_REMOTE_TIMEOUT = 3.0
CHUNK = 1 << 18


@dataclass
class Plan:
    """How to start one command.

    ``nonce`` turns on the marker protocol (remote commands); ``kill_remote`` kills a remote
    process group over another channel; ``transport`` names the target in errors.
    """

    argv: list[str]
    env: dict[str, str] | None = None
    cwd: str | None = None
    nonce: bytes | None = None
    pty: bool = False
    kill_remote: Callable[[int], Awaitable[None]] | None = None
    transport: str = "local"
    on_transport_failure: Callable[[str, bool], None] | None = None  # (message, started)
    on_transport_success: Callable[[], None] | None = None
    cwd_shown: str | None = None


class Execution:
    """A started command. ``await wait()`` gives its :class:`ExecResult`; ``cancel()``
    kills it (the result then says ``aborted``)."""

    def __init__(self, plan: Plan, proc: asyncio.subprocess.Process, master_fd: int | None,
                 *, deadline: float | None, started: float) -> None:
        self.plan = plan
        self.proc = proc
        self.master_fd = master_fd
        self.deadline = deadline
        self.started = started
        self.timed_out = False
        self.aborted = False
        self.stderr_tail = bytearray()
        self._ended = asyncio.Event()
        self._started = asyncio.Event()  # the start marker arrived
        self._killing: asyncio.Task[None] | None = None
        self._parser = MarkerParser(plan.nonce) if plan.nonce else None
        self._activity = time.monotonic()  # the last read, or the end of a sink call
        self._in_sink = 0

    # -- marker handling -------------------------------------------------------------------

    @property
    def pgid(self) -> int | None:
        """The command's process group: the local child's own, or the one the start marker
        named (``None`` before it)."""
        return self.proc.pid if self._parser is None else self._parser.pgid

    def _before_start(self) -> bool:
        """No marker yet: only ssh (or the login shell's profile) has spoken."""
        p = self._parser
        return p is not None and p.pgid is None and not p.bad_cwd and p.code is None

    def _events(self, events: list[tuple[str, str]]) -> None:
        assert self._parser is not None  # noqa: S101 - only marked runs have events
        for kind, _ in events:
            if kind == "S" and self._parser.pgid is not None:
                self._started.set()
            elif kind == "E" and self._parser.code is not None:
                self._ended.set()
            if kind in ("S", "C") and self.plan.on_transport_success:
                self.plan.on_transport_success()

    async def _pump(self, reader: asyncio.StreamReader | None, sink: Sink, *,
                    parse: bool, tail: bool) -> None:
        if reader is None:
            return
        while True:
            chunk = await reader.read(CHUNK)
            if not chunk:
                break
            self._activity = time.monotonic()
            if parse and self._parser is not None:
                chunk, events = self._parser.feed(chunk)
                self._events(events)
                if self._before_start():
                    # Before the start marker only ssh (or the login shell's profile)
                    # speaks: that goes into error messages, not the command's stderr.
                    self.stderr_tail += chunk
                    del self.stderr_tail[:-4096]
                    continue
            if tail:
                self.stderr_tail += chunk
                del self.stderr_tail[:-4096]
            if chunk:
                await self._deliver(sink, chunk)
        if parse and self._parser is not None:
            rest = self._parser.flush()
            if rest:
                await self._deliver(sink, rest)

    async def _deliver(self, sink: Sink, chunk: bytes) -> None:
        self._in_sink += 1
        try:
            done = sink(chunk)
            if done is not None:
                await done
        finally:
            self._in_sink -= 1
            self._activity = time.monotonic()

    async def _pump_pty(self, sink: Sink) -> None:
        assert self.master_fd is not None  # noqa: S101
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[bytes] = asyncio.Queue()
        fd = self.master_fd

        def readable() -> None:
            data = read_nonblocking(fd)
            if data is None:
                return
            if not data:
                loop.remove_reader(fd)
            queue.put_nowait(data)

        loop.add_reader(fd, readable)
        try:
            while True:
                data = await queue.get()
                if not data:
                    break
                self._activity = time.monotonic()
                if self._parser is not None:
                    data, events = self._parser.feed(data)
                    self._events(events)
                    if self._before_start():
                        self.stderr_tail += data  # ssh's own words: for error messages
                        del self.stderr_tail[:-4096]
                        continue
                if data:
                    await self._deliver(sink, data)
        finally:
            loop.remove_reader(fd)

    async def _feed(self, stdin: Stdin) -> None:
        """Send ``stdin``, then end it: close the pipe, or on a terminal (which has no
        closing) send its end-of-input character, so the command reads EOF either way."""
        chunks = _once(stdin or b"") if stdin is None or isinstance(stdin, bytes) else stdin
        if self.master_fd is not None:
            if self.plan.nonce is not None:
                # ssh on a local terminal: input goes once the remote command runs (by then
                # ssh has made its terminal raw; before, our terminal would take the
                # end-of-input character as ssh's own EOF and the remote never sees it).
                await self._started.wait()
                await until_raw(self.master_fd, RAW_WAIT)
            last = b""
            with contextlib.suppress(OSError):
                async for chunk in chunks:
                    await write_fd(self.master_fd, chunk)
                    last = chunk or last
                await write_fd(self.master_fd, eof_for(last))
            return
        writer = self.proc.stdin
        if writer is None:
            return
        try:
            async for chunk in chunks:
                writer.write(chunk)
                await writer.drain()
        except (BrokenPipeError, ConnectionResetError):
            return
        finally:
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                writer.close()

    # -- killing ----------------------------------------------------------------------------

    def cancel(self) -> None:
        """Kill the command; :meth:`wait` then reports ``aborted``."""
        if not self.timed_out:
            self.aborted = True
        self._start_kill()

    def _start_kill(self) -> None:
        if self._killing is None:
            self._killing = asyncio.ensure_future(self._kill())

    async def _kill(self) -> None:
        if self.plan.kill_remote is not None and self.pgid is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.plan.kill_remote(self.pgid), KILL_REMOTE_TIMEOUT)
        await child.end(self.proc)  # the local child's group, or the ssh client

    # -- the whole run ----------------------------------------------------------------------

    async def wait(self, stdin: Stdin = None, on_stdout: Sink | None = None,
                   on_stderr: Sink | None = None) -> ExecResult:
        out = bytearray()
        err = bytearray()

        def collect(buf: bytearray) -> Sink:
            def sink(chunk: bytes) -> None:
                buf.extend(chunk)
            return sink

        stdout_sink = on_stdout or collect(out)
        stderr_sink = on_stderr or collect(err)
        marked = self.plan.nonce is not None
        if self.master_fd is not None:
            pumps = [asyncio.ensure_future(self._pump_pty(stdout_sink))]
        else:
            # The markers come on stderr, or on stdout when a remote PTY merges the two.
            pumps = [
                asyncio.ensure_future(self._pump(self.proc.stdout, stdout_sink,
                                                 parse=marked and self.plan.pty, tail=False)),
                asyncio.ensure_future(self._pump(self.proc.stderr, stderr_sink,
                                                 parse=marked and not self.plan.pty,
                                                 tail=True)),
            ]
        feeder = asyncio.ensure_future(self._feed(stdin))
        exited = asyncio.ensure_future(child.wait_exit(self.proc))
        ended = asyncio.ensure_future(self._ended.wait())
        try:
            await self._until_done(exited, ended)
            await self._drain(pumps)
            if not exited.done():
                await asyncio.wait([exited], timeout=DRAIN_GRACE)
            if not exited.done():
                await child.end(self.proc)
            if self._killing is not None:
                await self._killing
        except asyncio.CancelledError:
            self.aborted = True
            await asyncio.shield(self._kill())
            raise
        finally:
            for task in (*pumps, feeder, ended):
                task.cancel()
            if self.master_fd is not None:
                with contextlib.suppress(OSError):
                    os.close(self.master_fd)
            # Pipes a background child still holds are closed on our side now (asyncio
            # has no public way to do it; the transport would otherwise outlive its loop).
            transport = getattr(self.proc, "_transport", None)
            if transport is not None:
                transport.close()
        return self._result(bytes(out), bytes(err))

    async def _drain(self, pumps: Sequence[asyncio.Future[None]]) -> None:
        """After the end: read what is still in flight, until the streams end -- or until
        nothing arrived for DRAIN_GRACE while no sink was busy (a background child holds
        the pipes open). A slow consumer never loses output."""
        while pending := [p for p in pumps if not p.done()]:
            await asyncio.wait(pending, timeout=0.05)
            if not self._in_sink and time.monotonic() - self._activity > DRAIN_GRACE:
                return

    async def _until_done(self, exited: asyncio.Future[Any], ended: asyncio.Future[Any]
                          ) -> None:
        while True:
            timeout = None if self.deadline is None else max(0.0,
                                                             self.deadline - time.monotonic())
            waiting: set[asyncio.Future[Any]] = {exited, ended}
            if self._killing is not None:
                waiting.add(self._killing)
            done, _ = await asyncio.wait(waiting, timeout=timeout,
                                         return_when=asyncio.FIRST_COMPLETED)
            if exited in done or ended in done:
                return
            if self._killing is not None and self._killing in done:
                await exited
                return
            if not done and self.deadline is not None and not self.timed_out:
                self.timed_out = True
                self.deadline = None
                self._start_kill()

    def _result(self, out: bytes, err: bytes) -> ExecResult:
        duration = time.monotonic() - self.started
        rc = self.proc.returncode
        killed = self.timed_out or self.aborted
        if self.plan.nonce is None:  # a local child: its status is the truth
            if rc is not None and rc < 0:
                return ExecResult(None, duration, signal=-rc, timed_out=self.timed_out,
                                  aborted=self.aborted, stdout=out, stderr=err)
            return ExecResult(rc, duration, timed_out=self.timed_out, aborted=self.aborted,
                              stdout=out, stderr=err)
        assert self._parser is not None  # noqa: S101 - the local case returned above
        verdict = wire.outcome(self._parser, rc)
        if verdict == wire.BAD_CWD:
            raise PathError(f"{self.plan.cwd_shown}: no such directory on {self.plan.transport}",
                            "create it first (ensure_dir) or pass another cwd")
        if verdict == wire.ENDED and not killed:
            code = self._parser.code
            assert code is not None  # noqa: S101 - ENDED means the end marker came
            return ExecResult(code if code >= 0 else None, duration, stdout=out, stderr=err)
        if killed:
            return ExecResult(None, duration, timed_out=self.timed_out, aborted=self.aborted,
                              stdout=out, stderr=err)
        message = _cause(bytes(self.stderr_tail)) or f"ssh exited with {rc}"
        if verdict == wire.NOT_STARTED:
            if self.plan.on_transport_failure:
                self.plan.on_transport_failure(message, False)
            raise TransportError(f"could not run the command on {self.plan.transport}: "
                                 f"{message}", "check the host is up and reachable "
                                 "(ssh -v); devenv retries with backoff", retry_safe=True)
        if verdict == wire.REFUSED:
            raise RuntimeFailure(f"{self.plan.transport}: the target's shell did not run the "
                                 f"command (exit {rc}): {message}",
                                 "the login shell must run POSIX sh commands")
        if self.plan.on_transport_failure:
            self.plan.on_transport_failure(message, True)
        raise TransportError(
            f"the connection to {self.plan.transport} was lost while the command ran "
            f"(remote process group {self.pgid}): {message}",
            "the command may still be running there; retry when the host is back",
            started=True)


def _cause(stderr: bytes) -> str:
    """ssh's own words for why a session failed: its refusal when the server would not open
    the session (a fallback's error follows it), else its last line."""
    lines = [line for line in stderr.decode("utf-8", "replace").splitlines() if line.strip()]
    for line in lines:
        if wire.session_refused(line):
            return line.strip()
    return lines[-1].strip() if lines else ""


async def _once(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def start(plan: Plan, *, deadline: float | None, pipe_stdin: bool) -> Execution:
    """Start ``plan``'s process (:func:`.child.spawn`)."""
    started = time.monotonic()
    if not plan.pty:
        proc = await child.spawn(plan.argv, env=plan.env, cwd=plan.cwd,
                                 stdin=child.PIPE if pipe_stdin else child.DEVNULL)
        return Execution(plan, proc, None, deadline=deadline, started=started)
    # A terminal here for ssh -tt too: ssh (and through a master, the mux client) takes the
    # remote terminal's modes from its own stdin; a pipe would give a raw one, where the
    # end-of-input character is just a byte.
    master_fd, slave_fd = os.openpty()
    try:
        set_size(slave_fd, 80, 24)
        os.set_blocking(master_fd, False)
        proc = await child.spawn(plan.argv, env=plan.env, cwd=plan.cwd, terminal=slave_fd)
    except BaseException:
        os.close(master_fd)
        raise
    finally:
        os.close(slave_fd)
    return Execution(plan, proc, master_fd, deadline=deadline, started=started)
