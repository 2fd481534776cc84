"""The workspace init hook runs the trusted bytes on a target (devenv.workspaces.hook):
real processes through LocalRuntime, in temporary directories."""

from __future__ import annotations

import asyncio
import io
import os
import stat
import time
from pathlib import Path
from typing import Any

import pytest

from devenv.runtime import LocalRuntime
from devenv.workspaces import trust
from devenv.workspaces.hook import INIT_TIMEOUT, HookError, HookResult, run_init
from tests.unit import procs


@pytest.fixture
def tmpdir_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The target's TMPDIR (this machine's, for LocalRuntime): left empty after every run."""
    path = tmp_path / "tmp"
    path.mkdir()
    monkeypatch.setenv("TMPDIR", str(path))
    return path


@pytest.fixture
def where(tmp_path: Path, tmpdir_env: Path) -> dict[str, Path]:
    work = tmp_path / "ws"
    work.mkdir()
    logs = tmp_path / "logs"
    logs.mkdir(mode=0o700)
    return {"work": work, "log": logs / "init.log", "tmp": tmpdir_env, "base": tmp_path}


def run(where: dict[str, Path], content: bytes, *, timeout: float = 30,
        env: dict[str, str] | None = None) -> tuple[HookResult, bytes]:
    out = io.BytesIO()
    result = asyncio.run(run_init(LocalRuntime(where["base"]), str(where["work"]), content,
                                  env=env or {}, timeout=timeout, log_path=where["log"],
                                  out=out))
    return result, out.getvalue()


def in_group(pgid: int) -> list[int]:
    """Live (not zombie) processes in process group ``pgid``."""
    return procs.live(2, pgid)


def test_env_cwd_output_and_log(where: dict[str, Path]) -> None:
    hook = (b"#!/bin/sh\necho \"ws=$DEVENV_WORKSPACE project=$DEVENV_PROJECT "
            b"target=$DEVENV_TARGET\"\npwd\necho to-stderr >&2\n"
            b"stat -c %a \"$0\" \"$(dirname \"$0\")\"\n")
    env = {"DEVENV_WORKSPACE": "agent-1", "DEVENV_PROJECT": "/p/proj", "DEVENV_TARGET": "local"}
    result, out = run(where, hook, env=env)
    assert result.ok and result.exit_code == 0 and not result.timed_out
    assert result.duration > 0
    lines = out.decode().splitlines()
    assert lines == ["ws=agent-1 project=/p/proj target=local", str(where["work"]),
                     "to-stderr", "700", "700"]  # a private file in a private directory
    log = where["log"].read_text()
    assert out.decode() in log
    assert log.startswith("=== devenv init: ") and "sha256" in log
    assert log.splitlines()[-1].startswith("=== devenv init: exit 0 after ")
    assert stat.S_IMODE(where["log"].stat().st_mode) == 0o600
    assert os.listdir(where["tmp"]) == []  # the private directory is gone


def test_output_streams_as_it_comes(where: dict[str, Path]) -> None:
    seen: list[tuple[float, bytes]] = []
    start = time.monotonic()

    class Out(io.BytesIO):
        def write(self, data: bytes) -> int:  # type: ignore[override]
            seen.append((time.monotonic() - start, bytes(data)))
            return len(data)

    asyncio.run(run_init(LocalRuntime(where["base"]), str(where["work"]),
                         b"#!/bin/sh\necho first\nsleep 1\necho second\n", env={},
                         timeout=30, log_path=where["log"], out=Out()))
    first = next(t for t, c in seen if b"first" in c)
    last = next(t for t, c in seen if b"second" in c)
    assert last - first > 0.5  # the first line came before the hook ended


def test_the_log_is_appended_and_made_private(where: dict[str, Path]) -> None:
    where["log"].write_text("before\n")
    where["log"].chmod(0o644)
    run(where, b"#!/bin/sh\necho one\n")
    run(where, b"#!/bin/sh\necho two\n")
    text = where["log"].read_text()
    assert text.startswith("before\n") and text.index("one") < text.index("two")
    assert stat.S_IMODE(where["log"].stat().st_mode) == 0o600


def test_a_log_path_that_is_a_link_is_refused(where: dict[str, Path]) -> None:
    victim = where["base"] / "victim"
    victim.write_text("keep\n")
    where["log"].symlink_to(victim)
    with pytest.raises(HookError, match="cannot open the init hook's log"):
        run(where, b"#!/bin/sh\necho ran > ran\n")
    assert victim.read_text() == "keep\n" and not (where["work"] / "ran").exists()


def test_a_failing_hook_is_a_result(where: dict[str, Path]) -> None:
    result, out = run(where, b"#!/bin/sh\necho failing\nexit 3\n")
    assert result.exit_code == 3 and not result.ok and not result.timed_out
    assert out == b"failing\n"
    assert "=== devenv init: exit 3 after" in where["log"].read_text()
    assert os.listdir(where["tmp"]) == []


def test_a_hook_killed_by_a_signal_of_its_own(where: dict[str, Path]) -> None:
    result, _ = run(where, b"#!/bin/sh\nkill -KILL $$\n")
    assert result.exit_code == 137 and not result.timed_out


def test_shebangs_are_honoured_and_a_file_without_one_is_sh(where: dict[str, Path]) -> None:
    result, out = run(where, b"#!/usr/bin/env python3\nimport sys\nprint(sys.version_info[0])\n")
    assert result.ok and out == b"3\n"
    result, out = run(where, b"echo plain sh; exit 4\n")
    assert result.exit_code == 4 and out == b"plain sh\n"


def test_timeout_kills_the_process_group(where: dict[str, Path]) -> None:
    marks = where["base"] / "marks"
    hook = (f"#!/bin/sh\nsleep 300 &\necho \"$$ $!\" > {marks}.tmp\n"
            f"mv {marks}.tmp {marks}\nwait\n").encode()
    started = time.monotonic()
    result, _ = run(where, hook, timeout=1)
    assert time.monotonic() - started < 10
    assert result.timed_out and result.exit_code is None and not result.ok
    pgid, sleeper = map(int, marks.read_text().split())
    assert in_group(pgid) == []  # the hook and its sleep child are gone
    assert not Path(f"/proc/{sleeper}").exists() or in_group(pgid) == []
    assert "timed out after 1 s: killed" in where["log"].read_text()
    assert os.listdir(where["tmp"]) == []


def test_cancelling_kills_the_process_group(where: dict[str, Path]) -> None:
    marks = where["base"] / "marks"
    hook = (f"#!/bin/sh\nsleep 300 &\necho \"$$ $!\" > {marks}.tmp\n"
            f"mv {marks}.tmp {marks}\nwait\n").encode()

    async def main() -> None:
        task = asyncio.ensure_future(run_init(
            LocalRuntime(where["base"]), str(where["work"]), hook, env={}, timeout=300,
            log_path=where["log"], out=io.BytesIO()))
        give_up = time.monotonic() + 10
        while not marks.exists():
            assert time.monotonic() < give_up and not task.done()
            await asyncio.sleep(0.02)
        task.cancel()  # what Ctrl-C does to asyncio.run's task
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    pgid, _ = map(int, marks.read_text().split())
    # Killed: gone as soon as the kernel gets to it (a loaded machine takes a moment).
    give_up = time.monotonic() + 5
    while in_group(pgid) and time.monotonic() < give_up:
        time.sleep(0.05)
    assert in_group(pgid) == []
    assert "cancelled: killed" in where["log"].read_text()
    assert os.listdir(where["tmp"]) == []


def test_what_runs_is_the_bytes_given_not_the_file(where: dict[str, Path],
                                                   tmp_path: Path) -> None:
    """Checked, then run: an agent that rewrites .devenv/init after the check (even while
    the hook runs) changes nothing that runs."""
    project = tmp_path / "proj"
    (project / ".devenv").mkdir(parents=True)
    go = tmp_path / "go"
    started = tmp_path / "started"
    init = project / ".devenv" / "init"
    init.write_bytes(f"#!/bin/sh\necho >{started}\nwhile [ ! -e {go} ]; do sleep 0.05; done\n"
                     f"echo trusted content\n".encode())
    content = trust.read_hook(str(project))
    assert content is not None
    trust.trust(str(project))
    assert trust.status(str(project), content).trusted
    out = io.BytesIO()

    async def main() -> HookResult:
        task = asyncio.ensure_future(run_init(
            LocalRuntime(tmp_path), str(where["work"]), content, env={}, timeout=30,
            log_path=where["log"], out=out))
        # Changed before the hook runs, and again while it runs.
        init.write_bytes(b"#!/bin/sh\necho EVIL\n")
        give_up = time.monotonic() + 10
        while not started.exists():
            assert time.monotonic() < give_up and not task.done()
            await asyncio.sleep(0.02)
        init.write_bytes(b"#!/bin/sh\necho EVIL AGAIN\n")
        go.touch()
        return await task

    result = asyncio.run(main())
    assert result.ok and out.getvalue() == b"trusted content\n"
    assert not trust.show(str(project)).trusted  # and the file as it is now is not trusted


def test_a_hook_that_cannot_be_put_in_place_raises_and_runs_nothing(
        where: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TMPDIR", str(where["base"] / "missing"))
    with pytest.raises(HookError, match=r"could not put the init hook on local:.*mktemp"):
        run(where, f"#!/bin/sh\necho ran > {where['base'] / 'ran'}\n".encode())
    assert not (where["base"] / "ran").exists()
    assert "=== devenv init: failed: could not put the init hook" in where["log"].read_text()


def test_output_keeps_going_to_the_log_when_out_breaks(where: dict[str, Path]) -> None:
    class Broken(io.BytesIO):
        def write(self, data: bytes) -> int:  # type: ignore[override]
            raise BrokenPipeError(32, "Broken pipe")

    result = asyncio.run(run_init(LocalRuntime(where["base"]), str(where["work"]),
                                  b"#!/bin/sh\necho still logged\n", env={}, timeout=30,
                                  log_path=where["log"], out=Broken()))
    assert result.ok and "still logged" in where["log"].read_text()


def test_bad_timeouts_are_refused(where: dict[str, Path]) -> None:
    assert INIT_TIMEOUT == 3600.0
    for bad in (0, -1, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="timeout"):
            run(where, b"#!/bin/sh\ntrue\n", timeout=bad)


def test_a_hook_cut_short_on_its_way_never_runs(where: dict[str, Path]) -> None:
    """A prefix of a script can do what the whole would not (``rm -rf /tmp/x/`` cut to
    ``rm -rf /``): the size that arrived is checked before anything runs."""

    class Lossy(LocalRuntime):
        async def exec(self, command: Any, **kwargs: Any) -> Any:
            if isinstance(command, list) and "devenv-place" in command:
                kwargs["stdin"] = kwargs["stdin"][:-6]
            return await super().exec(command, **kwargs)

    ran = where["base"] / "ran"
    hook = f"#!/bin/sh\necho whole > {ran}\necho tail\n".encode()
    with pytest.raises(HookError, match=rf"{len(hook) - 6} of {len(hook)} bytes arrived"):
        asyncio.run(run_init(Lossy(where["base"]), str(where["work"]), hook, env={},
                             timeout=30, log_path=where["log"], out=io.BytesIO()))
    assert not ran.exists()
    assert os.listdir(where["tmp"]) == []  # removed by the run's token
