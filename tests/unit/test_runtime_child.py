"""The runtime library's one way to start a local process (devenv.runtime.child)."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest

from devenv.runtime import child
from tests.unit import procs


def children() -> list[int]:
    """Live processes whose parent is this one."""
    return procs.live(1, os.getpid())


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_cancelled_while_its_pipes_connect_the_whole_group_ends(tmp_path: Path) -> None:
    """The child runs before asyncio connected its pipes: a cancel in between ends the
    child's whole group at once (asyncio alone kills the leader, then waits for the pipes
    that a background job still holds: here for 300 s)."""
    mark = tmp_path / "mark"
    before = set(children())

    async def main() -> None:
        task = asyncio.ensure_future(child.spawn(
            ["sh", "-c", f'sleep 300 & echo "$!" > {mark}.tmp; mv {mark}.tmp {mark}; wait']))
        give_up = time.monotonic() + 10
        while not set(children()) - before:  # one loop step at a time, until it forked
            assert time.monotonic() < give_up and not task.done()
            await asyncio.sleep(0)
        while not mark.exists():  # the loop stands still: its pipes stay unconnected
            assert time.monotonic() < give_up
            time.sleep(0.01)
        assert not task.done()
        task.cancel()
        started = time.monotonic()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(task, 20)
        assert time.monotonic() - started < 5

    asyncio.run(main())
    sleeper = int(mark.read_text())
    give_up = time.monotonic() + 5
    while alive(sleeper):
        assert time.monotonic() < give_up, "the background job outlived the cancel"
        time.sleep(0.05)
