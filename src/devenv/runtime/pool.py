"""The SSH connection pool: OpenSSH ControlMaster connections with shared health.

Every command reaches a target through a master connection (``ControlMaster``) whose socket
lives in devenv's private 0700 control directory. Before a command, :meth:`Pool.acquire`
makes sure a master is there and the target is believed healthy:

* healthy results are trusted for 15 s (:data:`devenv.runtime.health.HEALTHY_TTL`);
* otherwise a probe runs: ``ssh -O check`` on the master (one that fails it is closed with
  ``-O exit`` and replaced), then ``echo ok`` through it, bounded by 10 s;
* a failed probe puts the target in backoff (1, 2, 4, 7, 10 s, ±20 %), recorded in the
  health store (:class:`~devenv.runtime.dirs.RuntimeDirs`) so every process honours it;
  callers wait for at most ``max_wait`` (0: fail fast);
* concurrent callers in one process share one probe (singleflight), and a file lock per
  master does the same across processes, so a dead host (its callers all wait on the first
  master) sees a bounded number of connection attempts per minute however many callers
  ask, and a busy one opens its extra masters side by side;
* each master carries at most ``max_channels`` concurrent commands (below sshd's
  ``MaxSessions``); more commands open more masters, up to ``max_masters``, then wait;
* a session the server refuses anyway (sshd counts sessions it has not freed yet, or its
  ``MaxSessions`` is lower) lowers that master's limit to what it carried for
  :data:`REFUSED_HOLD` (:meth:`Pool.note_refused`), and the command is retried.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from devenv.runtime import health
from devenv.runtime import master as master_mod
from devenv.runtime.dirs import RuntimeDirs
from devenv.runtime.errors import RuntimeFailure, TransportError
from devenv.runtime.locks import async_locked
from devenv.runtime.master import Endpoint
from devenv.runtime.private import private_dir

PROBE_TIMEOUT = 10.0
DEFAULT_MAX_WAIT = 30.0
# Passive health: a success seen by a command is written at most this often per target.
_PASSIVE_EVERY = 5.0
# Callers wait this long for a channel on the masters there are before another master
# opens: a new connection (key exchange, an sshd process) costs more than a short wait for
# one, measured with 200 concurrent short commands (bench/run's "concurrent" row).
GROW_AFTER = 0.25
# A master the server refused a session on takes no more than it then carried for this long.
REFUSED_HOLD = 1.0
# A target's record is read from the store at most this often by one process (concurrent
# callers share the read); what this process learns itself is seen at once.
_READ_EVERY = 0.5


@dataclass
class _Master:
    path: str
    channels: int = 0
    ready_at: float = 0.0  # monotonic time this process last saw it working
    limit: int = 0  # fewer channels than the endpoint's max_channels, until limit_until
    limit_until: float = 0.0

    def room(self, max_channels: int) -> bool:
        """Whether it takes one more command."""
        if self.limit and time.monotonic() < self.limit_until:
            max_channels = min(max_channels, self.limit)
        return self.channels < max_channels


@dataclass
class _Target:
    masters: list[_Master] = field(default_factory=list)
    changed: asyncio.Condition = field(default_factory=asyncio.Condition)  # a channel freed
    probes: dict[str, asyncio.Future[None]] = field(default_factory=dict)
    passive_at: float = 0.0
    record: health.Health | None = None  # the last record read or written, and when
    read_at: float = 0.0
    reading: asyncio.Future[health.Health] | None = None
    writes: set[asyncio.Future[None]] = field(default_factory=set)


class Lease:
    """One channel on one master; :meth:`release` when the command ended."""

    def __init__(self, pool: Pool, endpoint: Endpoint, master: _Master) -> None:
        self.pool = pool
        self.endpoint = endpoint
        self.master = master
        self.released = False

    @property
    def control_path(self) -> str:
        return self.master.path

    def release(self) -> None:
        if not self.released:
            self.released = True
            self.pool._release(self.endpoint, self.master)


class Pool:
    """Connection pool shared by the runtimes of one process (see the module docstring)."""

    def __init__(self, dirs: RuntimeDirs | None = None, *,
                 probe_timeout: float = PROBE_TIMEOUT) -> None:
        self.dirs = dirs or RuntimeDirs.default()
        self.store = self.dirs.health
        self.probe_timeout = probe_timeout
        self._targets: dict[str, _Target] = {}

    def _target(self, ep: Endpoint) -> _Target:
        t = self._targets.get(ep.key)
        if t is None:
            t = self._targets[ep.key] = _Target()
        return t

    # -- acquiring --------------------------------------------------------------------------

    async def acquire(self, ep: Endpoint, *, max_wait: float = DEFAULT_MAX_WAIT,
                      deadline: float | None = None) -> Lease:
        """A channel on a working master of ``ep``, or :class:`TransportError` once
        ``max_wait`` (or the caller's monotonic ``deadline``) is spent."""
        t = self._target(ep)
        began = time.monotonic()
        give_up = began + max_wait
        if deadline is not None:
            give_up = min(give_up, deadline)
        probed = False
        full_since: float | None = None  # when this caller first found every channel taken
        while True:
            now_wall = time.time()
            h = await self._health(ep, t)
            left = h.backoff_left(now_wall)
            if left > 0:
                wait = min(left, give_up - time.monotonic())
                if wait <= 0:
                    raise self._backoff_error(ep, h, left)
                await asyncio.sleep(wait)
                continue
            now = time.monotonic()
            # Another master once callers waited GROW_AFTER for a channel, or at once when
            # the caller cannot wait that long (max_wait=0: fail fast, not fail busy).
            master = self._free_master(ep, t, grow=full_since is not None and (
                now - full_since >= GROW_AFTER or give_up - now < GROW_AFTER))
            if master is None:
                full_since = now if full_since is None else full_since
                await self._wait_for_channel(ep, t, full_since, give_up)
                continue
            if h.fresh(now_wall) and time.monotonic() - master.ready_at < health.HEALTHY_TTL \
                    and os.path.exists(master.path):
                master.channels += 1
                return Lease(self, ep, master)
            budget = give_up - time.monotonic()
            if budget <= 0 and not probed:
                # max_wait bounds waiting (backoff, busy masters), it does not forbid trying:
                # with max_wait=0 ("fail fast") a process without a master it already probed
                # could otherwise never connect, even to a healthy target. One attempt, then;
                # the caller's deadline still bounds it.
                budget = self.probe_timeout if deadline is None else \
                    deadline - time.monotonic()
            if budget <= 0:
                if h.failures:  # say why: the backoff and the last error
                    raise self._backoff_error(ep, h, h.backoff_left(time.time()))
                raise TransportError(f"{ep.label}: no healthy connection within "
                                     f"{max(give_up - began, 0):g}s", "check the host (ssh -v)")
            probed = True
            # The probe talks to the socket there and may start a master in it: the
            # directory is verified first, every time (a bad one raises, nothing runs).
            private_dir(os.path.dirname(master.path))
            if not await self._probe_once(ep, t, master, budget):
                raise TransportError(f"{ep.label}: no healthy connection within "
                                     f"{max(give_up - began, budget):.3g}s (still probing)",
                                     "check the host (ssh -v)")
            _fail_if_permanent(ep, await self._health(ep, t))
            # Callers that shared the probe re-check the channel limit: the master may have
            # filled up while they waited (sshd refuses sessions past MaxSessions).
            if master.ready_at and time.monotonic() - master.ready_at < 1.0 \
                    and master.room(ep.max_channels):
                master.channels += 1
                return Lease(self, ep, master)

    async def _wait_for_channel(self, ep: Endpoint, t: _Target, full_since: float,
                                give_up: float) -> None:
        """Every channel is taken: wait for one to free (until it is time to open another
        master, when one may still open: then return at once if the caller cannot wait),
        or fail at ``give_up``."""
        now = time.monotonic()
        remaining = give_up - now
        may_grow = len(t.masters) < ep.max_masters
        if may_grow and remaining < GROW_AFTER:
            return  # the caller's next look opens another master
        if remaining <= 0:
            raise TransportError(f"{ep.label}: all {ep.max_masters} connections are "
                                 f"busy ({ep.max_channels} commands each)",
                                 "run fewer commands at once or raise max_masters")
        if may_grow:
            remaining = min(remaining, full_since + GROW_AFTER - now)
        async with t.changed:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(t.changed.wait(), max(remaining, 0.001))

    def _free_master(self, ep: Endpoint, t: _Target, *, grow: bool) -> _Master | None:
        """A master with a free channel; a new one only when there is none yet or ``grow``
        (callers waited :data:`GROW_AFTER` for a channel: a new connection costs more than a
        short wait for one)."""
        for m in t.masters:
            if m.room(ep.max_channels):
                return m
        if (grow or not t.masters) and len(t.masters) < ep.max_masters:
            m = _Master(ep.control_path(len(t.masters)))
            t.masters.append(m)
            return m
        return None

    def _release(self, ep: Endpoint, master: _Master) -> None:
        master.channels = max(0, master.channels - 1)
        t = self._targets.get(ep.key)
        if t is not None:
            cond = t.changed

            async def notify() -> None:
                async with cond:
                    cond.notify_all()

            with contextlib.suppress(RuntimeError):
                asyncio.get_running_loop().create_task(notify())

    def _backoff_error(self, ep: Endpoint, h: health.Health, left: float) -> TransportError:
        return TransportError(
            f"{ep.label} is unreachable ({h.failures} failed attempts in a row; next try in "
            f"{left:.1f}s): {h.last_error or 'no detail'}",
            "devenv backs off 1-10 s between attempts; check the host (ssh -v)")

    # -- probing ----------------------------------------------------------------------------

    async def _probe_once(self, ep: Endpoint, t: _Target, master: _Master,
                          wait: float) -> bool:
        """Singleflight: concurrent callers for one master share one probe. The probe always
        gets its full bound (a caller in a hurry must not declare a slow host dead for every
        process); a caller waits for it at most ``wait`` seconds (``False``: it gave up)."""
        running = t.probes.get(master.path)
        if running is None:
            running = asyncio.ensure_future(self._probe(ep, master, self.probe_timeout))
            t.probes[master.path] = running
            running.add_done_callback(lambda _: t.probes.pop(master.path, None))
        # A probe that overran its bound (a hung lock holder, a stuck ssh) is no answer:
        # the caller's loop decides what next; a TimeoutError must not escape acquire().
        try:
            await asyncio.wait_for(asyncio.shield(running), min(wait, self.probe_timeout + 5))
        except TimeoutError:
            return False
        except RuntimeFailure:  # a failed probe (recorded) or a probe lock held too long
            pass
        return True

    async def _probe(self, ep: Endpoint, master: _Master, timeout: float) -> None:
        t = self._target(ep)
        # One probe per master across processes: a dead target (whose callers all wait on
        # the first master) sees one attempt at a time; a busy one opens its extra masters
        # side by side.
        lock = f"ssh-{hashlib.sha256(master.path.encode()).hexdigest()[:16]}"
        async with async_locked(self.dirs.lock_dir, lock, timeout=timeout + 5,
                                what=f"probing {ep.label}"):
            # Another process may have probed while we waited for the lock.
            now = time.time()
            h = await self._health(ep, t, again=True)
            if h.backoff_left(now) > 0:
                return
            alive = os.path.exists(master.path) and await master_mod.alive(ep, master.path)
            if alive and h.fresh(now):
                master.ready_at = time.monotonic()
                return
            if not alive:
                await master_mod.close_master(ep, master.path)
            ok, error = await master_mod.open_master(ep, master.path, timeout)
            if ok:
                await self._write(t, self.store.mark_healthy, ep.key, attempt=not alive)
                master.ready_at = time.monotonic()
            else:
                await self._write(t, self.store.mark_failed, ep.key, error)
                master.ready_at = 0.0

    # -- passive health and shutdown --------------------------------------------------------

    def note_success(self, ep: Endpoint) -> None:
        """A command got through: the target is healthy (written at most every 5 s)."""
        t = self._target(ep)
        now = time.monotonic()
        if now - t.passive_at >= _PASSIVE_EVERY:
            t.passive_at = now
            self._write_soon(t, self.store.mark_healthy, ep.key)

    def note_refused(self, master: _Master) -> None:
        """The server would not open one more session on ``master`` (which counts the
        refused one): it carries at most one fewer for a while (see the module docstring)."""
        master.limit = max(1, master.channels - 1)
        master.limit_until = time.monotonic() + REFUSED_HOLD

    def note_failure(self, ep: Endpoint, error: str) -> None:
        """A command found the connection broken: back off, and probe before the next."""
        t = self._target(ep)
        t.passive_at = 0.0
        for m in t.masters:
            m.ready_at = 0.0
        self._write_soon(t, self.store.mark_failed, ep.key, error, attempt=False)

    async def close(self, ep: Endpoint) -> None:
        """Forget this process's view of ``ep``'s masters. They stay up: their sockets are
        shared (other processes, ``devenv exec``, ssh clients of devenv's ssh_config may be
        using them right now), and each closes itself after 60 s unused (ControlPersist)."""
        t = self._targets.pop(ep.key, None)
        if t is not None and t.writes:
            await asyncio.gather(*t.writes, return_exceptions=True)

    # -- the health store, off the event loop -----------------------------------------------

    async def _health(self, ep: Endpoint, t: _Target, *, again: bool = False) -> health.Health:
        """``ep``'s record: read from the store at most every 0.5 s (``again``: now), one
        read shared by concurrent callers, after this process's own pending writes."""
        if t.writes:
            await asyncio.gather(*t.writes, return_exceptions=True)
        if t.record is not None and not again and time.monotonic() - t.read_at < _READ_EVERY:
            return t.record
        if t.reading is None or t.reading.done():
            t.reading = asyncio.ensure_future(asyncio.to_thread(self.store.get, ep.key))
        h = await asyncio.shield(t.reading)
        t.record, t.read_at = h, time.monotonic()
        return h

    async def _write(self, t: _Target, change: Callable[..., health.Health], *args: Any,
                     **kwargs: Any) -> None:
        h = await asyncio.to_thread(change, *args, **kwargs)
        t.record, t.read_at = h, time.monotonic()

    def _write_soon(self, t: _Target, change: Callable[..., health.Health], *args: Any,
                    **kwargs: Any) -> None:
        """A write from a synchronous callback, after this target's earlier ones (in order:
        a failure then a success ends healthy); the next acquire waits for it."""
        t.read_at = 0.0
        earlier = list(t.writes)

        async def write() -> None:
            await asyncio.gather(*earlier, return_exceptions=True)
            await self._write(t, change, *args, **kwargs)

        try:
            task = asyncio.get_running_loop().create_task(write())
        except RuntimeError:  # no loop (closing): write it here
            change(*args, **kwargs)
            return
        t.writes.add(task)
        task.add_done_callback(t.writes.discard)

    async def health(self, ep: Endpoint) -> health.Health:
        """``ep``'s health record as the store has it now (after this process's writes)."""
        return await self._health(ep, self._target(ep), again=True)


def _hash(text: str) -> str:
    import hashlib

    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _fail_if_permanent(ep: Endpoint, h: health.Health) -> None:
    """After a probe: waiting out a backoff cannot fix a typo, a missing key or a changed
    host key, so say so now (other callers still see the backoff)."""
    if h.status == "unhealthy" and master_mod.permanent(h.last_error):
        raise TransportError(f"{ep.label}: {h.last_error}",
                             "fix the host name, key or known_hosts entry (ssh -v shows more)")


_pools: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, Pool]] = \
    weakref.WeakKeyDictionary()


def default_pool(dirs: RuntimeDirs) -> Pool:
    """The pool the runtimes of the running event loop share for ``dirs`` unless given their
    own (its waits and futures belong to one loop; health is shared by all processes,
    through the store)."""
    loop = asyncio.get_running_loop()
    pools = _pools.setdefault(loop, {})
    pool = pools.get(dirs.control_dir)
    if pool is None:
        pool = pools[dirs.control_dir] = Pool(dirs)
    return pool
