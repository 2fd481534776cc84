"""The workspace init hook on an SSH target (a throwaway sshd container): the trusted bytes
run there with the caller's env and working directory, output and exit code come back, the
private directory goes, and a timeout or a cancel kills the hook's process group there."""

from __future__ import annotations

import asyncio
import io
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devenv.workspaces.hook import run_init
from tests.integration.runtime_fixtures import (  # noqa: F401 - fixtures
    Sshd,
    aio,
    sshd,
)


@pytest.fixture(scope="module")
def rt(sshd: Sshd, aio: Any) -> Iterator[Any]:
    from devenv.runtime import SSHRuntime

    runtime = SSHRuntime(sshd.target())
    yield runtime
    aio(runtime.close())


@pytest.fixture
def work(rt: Any, aio: Any) -> str:
    """A working directory of this test's own on the target."""
    path = f"/tmp/hook-{uuid.uuid4().hex[:8]}"
    aio(rt.ensure_dir(f"{path}/ws"))
    return path


def leftovers(rt: Any, aio: Any) -> list[str]:
    """Private directories of init hooks left in the target's /tmp (one sshd per module,
    its tests one after the other: there should be none between them)."""
    return [e.name for e in aio(rt.list_dir("/tmp")) if e.name.startswith("devenv-init-")]


def running(rt: Any, aio: Any, pgid: str) -> str:
    """What still runs in process group ``pgid`` on the target (zombies aside)."""
    out = aio(rt.exec(["ps", "-eo", "pgid=,stat=,args="])).stdout.decode()
    return "\n".join(line for line in out.splitlines()
                     if line.split()[0] == pgid and not line.split()[1].startswith("Z"))


def gone_in_time(rt: Any, aio: Any, pgid: str, wait: float = 5.0) -> bool:
    give_up = time.monotonic() + wait
    while running(rt, aio, pgid):
        if time.monotonic() > give_up:
            return False
        time.sleep(0.2)
    return True


def test_a_hook_runs_over_ssh(rt: Any, aio: Any, work: str, tmp_path: Path) -> None:
    hook = (b"#!/bin/sh\necho \"ws=$DEVENV_WORKSPACE project=$DEVENV_PROJECT "
            b"target=$DEVENV_TARGET\"\npwd\nid -un\necho to-stderr >&2\n"
            b"stat -c %a \"$(dirname \"$0\")\" \"$0\"\nexit 7\n")
    env = {"DEVENV_WORKSPACE": "agent-1", "DEVENV_PROJECT": "/src/proj",
           "DEVENV_TARGET": "ssh"}
    out = io.BytesIO()
    log = tmp_path / "init.log"
    result = aio(run_init(rt, f"{work}/ws", hook, env=env, timeout=60, log_path=log, out=out))
    assert result.exit_code == 7 and not result.timed_out and not result.ok
    assert out.getvalue().decode().splitlines() == [
        "ws=agent-1 project=/src/proj target=ssh", f"{work}/ws", "dev", "to-stderr",
        "700", "700"]
    assert out.getvalue().decode() in log.read_text()
    assert "exit 7 after" in log.read_text()
    assert leftovers(rt, aio) == []  # the private directory is gone


def test_a_hook_without_a_shebang_runs_as_sh_over_ssh(rt: Any, aio: Any, work: str,
                                                      tmp_path: Path) -> None:
    out = io.BytesIO()
    result = aio(run_init(rt, f"{work}/ws", b"echo plain sh\n", env={}, timeout=60,
                          log_path=tmp_path / "init.log", out=out))
    assert result.ok and out.getvalue() == b"plain sh\n"


def test_timeout_and_cancel_kill_the_hook_group_over_ssh(rt: Any, aio: Any, work: str,
                                                         tmp_path: Path) -> None:
    hook = (b"#!/bin/sh\nsleep 300 &\necho \"pgid $(ps -o pgid= -p $$ | tr -d ' ')\"\n"
            b"wait\n")
    env: dict[str, str] = {}
    out = io.BytesIO()
    started = time.monotonic()
    result = aio(run_init(rt, f"{work}/ws", hook, env=env, timeout=2,
                          log_path=tmp_path / "init.log", out=out))
    assert result.timed_out and result.exit_code is None
    assert time.monotonic() - started < 15
    pgid = out.getvalue().decode().split()[1]
    assert gone_in_time(rt, aio, pgid), running(rt, aio, pgid)
    assert leftovers(rt, aio) == []

    out = io.BytesIO()

    async def cancelled() -> None:
        task = asyncio.ensure_future(run_init(rt, f"{work}/ws", hook, env=env, timeout=300,
                                              log_path=tmp_path / "init.log", out=out))
        give_up = time.monotonic() + 30
        while b"pgid" not in out.getvalue():
            assert time.monotonic() < give_up and not task.done()
            await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    started = time.monotonic()
    aio(cancelled())
    assert time.monotonic() - started < 15
    pgid = out.getvalue().decode().split()[1]
    assert gone_in_time(rt, aio, pgid), running(rt, aio, pgid)
    assert leftovers(rt, aio) == []
    assert "cancelled: killed" in (tmp_path / "init.log").read_text()
