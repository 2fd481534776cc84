"""One SSH target and its ControlMaster connections: the command lines (:class:`Endpoint`),
and opening, checking and closing a master with short, bounded ``ssh`` calls. The pool
(:mod:`.pool`) decides when; this module does it."""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
from dataclasses import dataclass

from devenv.runtime import child, wire

CHECK_TIMEOUT = 5.0  # for "ssh -O check" and "-O exit" on a local socket


@dataclass(frozen=True)
class Endpoint:
    """One SSH target as the pool sees it.

    ``options`` are the ssh arguments before the host (``-F``, ``-p``, ``-l``, ``-i``,
    ``-o``...); ``control_base`` is the socket path of the first master (others add
    ``-1``, ``-2``...).
    """

    key: str
    label: str
    host: str
    options: tuple[str, ...]
    control_base: str
    max_channels: int = 8
    max_masters: int = 8

    def control_path(self, shard: int) -> str:
        return self.control_base if shard == 0 else f"{self.control_base}-{shard}"

    def argv(self, control_path: str, *extra: str, command: str | None = None) -> list[str]:
        """``ssh`` with this endpoint's options, ``extra`` ones, the host and ``command``."""
        return wire.ssh_argv([*self.options, "-o", f"ControlPath={control_path}", *extra],
                             self.host, command)


async def alive(ep: Endpoint, path: str) -> bool:
    """Whether the master at ``path`` answers ``ssh -O check``."""
    rc, _ = await run_short(ep.argv(path, "-O", "check"), CHECK_TIMEOUT)
    return rc == 0


async def open_master(ep: Endpoint, path: str, timeout: float) -> tuple[bool, str]:
    """Run ``echo ok`` through ``path``, starting a master there if there is none (it
    persists 60 s idle); ``(True, "")``, or ``(False, ssh's last words)``."""
    connect = max(1, min(math.ceil(timeout), 15))
    argv = ep.argv(path, "-T", "-o", "ControlMaster=auto", "-o", "ControlPersist=60",
                   "-o", f"ConnectTimeout={connect}", command="echo ok")
    rc, out = await run_short(argv, timeout)
    if rc == 0 and out.strip().endswith("ok"):
        return True, ""
    if rc is None:
        return False, f"no answer within {timeout:g}s"
    lines = [ln for ln in out.splitlines() if ln.strip()]
    return False, lines[-1].strip() if lines else f"ssh exited with {rc}"


async def close_master(ep: Endpoint, path: str) -> None:
    """Ask the master at ``path`` to exit (``ssh -O exit``) and remove its socket."""
    if os.path.exists(path):
        await run_short(ep.argv(path, "-O", "exit"), CHECK_TIMEOUT)
        with contextlib.suppress(OSError):
            os.unlink(path)


async def run_short(argv: list[str], timeout: float) -> tuple[int | None, str]:
    """Run a short ssh command: (exit code or None on timeout, stdout+stderr)."""
    proc = await child.spawn(argv, stderr=child.STDOUT)
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        await child.end(proc)  # not proc.wait(): through a hung master the pipes stay open
        return None, ""
    except asyncio.CancelledError:
        await asyncio.shield(child.end(proc))
        raise
    return proc.returncode, out.decode("utf-8", "replace")


# ssh's own words for failures that retrying does not fix.
_PERMANENT = ("Could not resolve hostname", "Permission denied", "Host key verification failed",
              "REMOTE HOST IDENTIFICATION HAS CHANGED", "Bad configuration option",
              "no argument after keyword", "Too many authentication failures",
              "Bad owner or permissions", "No such file or directory")


def permanent(error: str) -> bool:
    """Whether ssh's error is one that waiting and retrying cannot fix."""
    return any(words in error for words in _PERMANENT)
