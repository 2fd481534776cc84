"""Acceptance: a ``write_file`` killed at random points (``kill -9`` of the writer) leaves the
old or the new content, never a mix, and no temp file behind after the next write.

For :class:`LocalRuntime` and :class:`SSHRuntime` (a throwaway sshd container). Each trial:

1. the test writes OLD to a fresh file (its name holds a per-trial token);
2. a writer -- a separate Python process that already probed the target and holds a warm
   connection -- waits for "go" on stdin, then runs ``write_file(path, NEW)``;
3. the test sends "go", sleeps a random delay drawn from 0..1.5x the write's measured
   duration (so kills land before, during and after the write) and SIGKILLs the writer
   (the scale then follows the outcomes, so that both sides of the rename stay hit);
4. once nothing of that writer is left running (locally and, for SSH, on the target), the
   file must hash to OLD or NEW exactly;
5. one more ordinary write (in this process), then no ``.NAME.devenv-tmp-*`` may remain.

Killing the SSH writer does not kill its ``ssh`` client (a child in its own session), but
the only write end of that client's stdin pipe dies with the writer: EOF reaches the remote
``dd``/``cat`` early, and the script's byte-count check must refuse the rename. The remote
shell may outlive the local writer by a moment, so step 4 waits until no process naming the
trial's file exists, here or on the target (the local ``ssh`` argv and the remote ``sh -c``
script both hold the path). A temp file of a still-running writer is not "left behind": it
is that writer's, which removes or renames it itself; so the check comes after it is gone.
"""

from __future__ import annotations

import hashlib
import os
import random
import statistics
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.integration.runtime_fixtures import Sshd, aio, sshd  # noqa: F401 - fixtures

TRIALS = 50
CALIBRATION = 5  # unkilled writes first, to time a write
SIZE = {"local": 8 << 20, "ssh": 6 << 20}
OLD_SEED, NEW_SEED, NEXT_SEED = 1, 2, 3

WRITER = r'''
import asyncio, os, random, sys, time

kind, path, size, seed = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])


async def main() -> None:
    from devenv.runtime import LocalRuntime, SSHRuntime, SSHTarget

    if kind == "local":
        rt = LocalRuntime(os.path.dirname(path))
    else:
        rt = SSHRuntime(SSHTarget(sys.argv[6], config_file=sys.argv[5]), max_channels=30)
        await rt.exec(["true"])  # probe the tools, lease and check the shared master
    data = random.Random(seed).randbytes(size)
    print("ready", flush=True)
    if await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline) != "go\n":
        return  # the test went away
    began = time.monotonic()
    await rt.write_file(path, data)
    print("done", time.monotonic() - began, flush=True)


asyncio.run(main())
'''


def content(seed: int, size: int) -> bytes:
    return random.Random(seed).randbytes(size)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def temps(names: list[str], base: str) -> list[str]:
    return [n for n in names if n.startswith(f".{base}.devenv-tmp-")]


def local_holders(token: str) -> list[int]:
    """Local processes whose argv names ``token`` (the writer, an orphaned ssh client)."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = f.read()
            with open(f"/proc/{pid}/stat", "rb") as f:
                zombie = f.read().rsplit(b")", 1)[1].split()[0] == b"Z"
        except OSError:
            continue
        if token.encode() in argv and not zombie:
            found.append(int(pid))
    return found


@dataclass
class Writer:
    proc: subprocess.Popen[str]

    def go(self) -> None:
        """Wait until the writer is ready (connected, data built), then let it write."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        line = self.proc.stdout.readline()
        assert line == "ready\n", (line, self.proc.wait(30))
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()

    def kill(self) -> None:
        self.proc.kill()
        # Reap it: an unreaped (zombie) writer still answers kill(pid, 0), so the next
        # write would rightly keep its temp file.
        self.proc.wait(10)
        self.close()

    def finish(self) -> None:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        assert line.startswith("done "), (line, self.proc.wait(30))
        self.proc.wait(30)
        self.close()

    def close(self) -> None:
        for pipe in (self.proc.stdin, self.proc.stdout):
            if pipe is not None:
                pipe.close()


@dataclass
class Harness:
    """Start writers (ready, connected) and inspect the target, for one runtime kind."""

    kind: str
    runtime: Any
    directory: str
    aio: Any
    script: Path
    extra: list[str]
    size: int
    results: dict[str, int] = field(default_factory=lambda: {"old": 0, "new": 0})
    writers: list[Writer] = field(default_factory=list)

    def spawn(self, path: str, seed: int) -> Writer:
        # This test's DEVENV_HOME (set by the autouse fixture): the writers share its
        # pool state and ssh masters.
        env = dict(os.environ, DEVENV_HOME=os.environ["DEVENV_HOME"])
        proc = subprocess.Popen(
            [sys.executable, str(self.script), self.kind, path, str(self.size), str(seed),
             *self.extra], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
        self.writers.append(Writer(proc))
        return self.writers[-1]

    def close(self) -> None:
        """Kill writers still there (a failed trial)."""
        for writer in self.writers:
            if writer.proc.poll() is None:
                writer.kill()

    def digest(self, path: str) -> str:
        if self.kind == "local":
            return sha(Path(path).read_bytes())
        result = self.aio(self.runtime.exec(["sha256sum", "--", path]))
        assert result.exit_code == 0, result
        return str(result.stdout.split()[0].decode())

    def names(self) -> list[str]:
        return [e.name for e in self.aio(self.runtime.list_dir(self.directory))]

    def remote_holders(self, token: str) -> list[str]:
        if self.kind == "local":
            return []
        # The wrapper's own sh -c holds "ps", not the token: this never matches itself.
        result = self.aio(self.runtime.exec(["ps", "-eo", "pid=,args="]))
        assert result.exit_code == 0, result
        return [line for line in result.stdout.decode().splitlines() if token in line]

    def settle(self, token: str, wait: float = 15.0) -> None:
        """Wait until nothing that writes the trial's file runs any more, here or on the
        target (a killed writer's ssh client and remote script end on their own)."""
        give_up = time.monotonic() + wait
        while True:
            here, there = local_holders(token), self.remote_holders(token)
            if not here and not there:
                return
            assert time.monotonic() < give_up, f"writer still running: {here} {there}"
            time.sleep(0.02)


def run_trials(h: Harness) -> None:
    old, new = content(OLD_SEED, h.size), content(NEW_SEED, h.size)
    nxt = content(NEXT_SEED, 1 << 16)
    want = {sha(old): "old", sha(new): "new"}
    seed = os.environ.get("DEVENV_TEST_SEED", str(time.time_ns()))
    rng = random.Random(seed)

    def prepare() -> tuple[str, Writer]:
        """A fresh file name, and a writer for it that starts up (python, connection)
        while the current trial is checked; the file gets OLD before its writer's "go"."""
        path = f"{h.directory}/f-{uuid.uuid4().hex[:12]}"
        return path, h.spawn(path, NEW_SEED)

    # Calibration runs go exactly like the trials, minus the kill: their median is the
    # write's typical duration (from "go" to "done", as seen here).
    spans: list[float] = []
    mid_write = 0  # trials whose kill left a temp file (seen right after the kill)
    scale = 0.0
    # Outcomes of kills that the writer's ssh client outlived: the remote write was under
    # way (started, not ended) when its writer died.
    client_lived = {"old": 0, "new": 0}
    path, writer = prepare()
    h.aio(h.runtime.write_file(path, old))
    for trial in range(-CALIBRATION, TRIALS):
        base = os.path.basename(path)
        if trial < 0:
            delay = None
            writer.go()
            began = time.monotonic()
            writer.finish()
            spans.append(time.monotonic() - began)
            scale = statistics.median(spans)
        else:
            delay = rng.uniform(0, 1.5 * scale)
            writer.go()
            time.sleep(delay)
            writer.kill()
        # Still running right after the kill: the writer's ssh client (it lives from its
        # start to the remote script's end); then, a temp file.
        here = bool(local_holders(base))
        if delay is not None and temps(h.names(), base):
            mid_write += 1
        h.settle(base)
        upcoming = prepare() if trial + 1 < TRIALS else None
        got = h.digest(path)
        assert got in want, (f"{h.kind} trial {trial} (seed {seed}): killed {delay}s in: "
                             "content is neither old nor new")
        if delay is None:
            assert want[got] == "new", f"{h.kind}: an unkilled write did not land"
        else:
            h.results[want[got]] += 1
            client_lived[want[got]] += here
            # What ends a write is its rename, which comes a little before "done" is
            # seen here (by a margin that varies with the machine's load): nudge the
            # scale so the kills keep landing on both sides of it about equally.
            scale *= 1.2 if want[got] == "old" else 1 / 1.2
        h.aio(h.runtime.write_file(path, nxt))
        left = temps(h.names(), base)
        assert not left, f"{h.kind} trial {trial}: temp files after the next write: {left}"
        h.aio(h.runtime.remove(path))
        if upcoming is not None:
            path, writer = upcoming
            h.aio(h.runtime.write_file(path, old))
    duration = statistics.median(spans)
    print(f"\n{h.kind}: {TRIALS} kills, {h.size >> 20} MiB, write {duration:.3f}s (median of "
          f"{[round(s, 3) for s in spans]}), final delay range 0..{1.5 * scale:.3f}s, "
          f"seed {seed}: old {h.results['old']}, new {h.results['new']}; temp file seen "
          f"right after the kill {mid_write}; the writer's ssh client outlived the kill: "
          f"{client_lived}")
    # Both outcomes, several times each: the kills did land on both sides of the rename;
    # and several landed mid-write: a temp file was there (local), or the remote write
    # was under way (its ssh client still ran) and yet nothing was renamed (ssh).
    assert h.results["old"] >= 5 and h.results["new"] >= 5, h.results
    if h.kind == "local":
        assert mid_write >= 3, mid_write
    else:
        assert client_lived["old"] >= 3, client_lived
    assert h.names() == []


@pytest.fixture
def writer_script(tmp_path: Path) -> Path:
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    return script


def test_local_write_killed_at_random_points(tmp_path: Path, aio: Any,
                                             writer_script: Path) -> None:
    from devenv.runtime import LocalRuntime

    directory = tmp_path / "files"
    directory.mkdir()
    h = Harness("local", LocalRuntime(directory), str(directory), aio, writer_script, [],
                SIZE["local"])
    try:
        run_trials(h)
    finally:
        h.close()


def test_ssh_write_killed_at_random_points(sshd: Sshd, aio: Any,
                                           writer_script: Path) -> None:
    from devenv.runtime import SSHRuntime

    runtime = SSHRuntime(sshd.target(), max_channels=30)
    directory = f"/tmp/atomic-{uuid.uuid4().hex[:8]}"
    aio(runtime.ensure_dir(directory))
    try:
        h = Harness("ssh", runtime, directory, aio, writer_script,
                    [str(sshd.config), sshd.alias], SIZE["ssh"])
        try:
            run_trials(h)
        finally:
            h.close()
    finally:
        aio(runtime.remove(directory, recursive=True, missing_ok=True))
        aio(runtime.close())


def test_ssh_short_stdin_renames_nothing(sshd: Sshd, aio: Any) -> None:
    """The remote half of a writer that died: the write script gets fewer bytes than
    announced (here: none, half, all but one), refuses with SHORT_WRITE, keeps the old
    content and leaves no temp file."""
    from devenv.runtime import SSHRuntime, script

    runtime = SSHRuntime(sshd.target())
    directory = f"/tmp/short-{uuid.uuid4().hex[:8]}"
    path = f"{directory}/f"
    old, new = content(OLD_SEED, 1 << 20), content(NEW_SEED, 1 << 20)
    try:
        aio(runtime.write_file(path, old))
        tools = aio(runtime.tools())
        code = script.write_file(path, len(new), tools, parents=True)
        for cut in (0, len(new) // 2, len(new) - 1):
            result = aio(runtime.exec(code, stdin=new[:cut]))
            assert result.exit_code == script.SHORT_WRITE, (cut, result)
            assert aio(runtime.read_bytes(path)) == old
            assert [e.name for e in aio(runtime.list_dir(directory))] == ["f"]
        result = aio(runtime.exec(code, stdin=new))
        assert result.exit_code == 0, result
        assert aio(runtime.read_bytes(path)) == new
    finally:
        aio(runtime.remove(directory, recursive=True, missing_ok=True))
        aio(runtime.close())


def test_ssh_next_write_removes_only_dead_writers_temps(sshd: Sshd, aio: Any) -> None:
    """The cleanup half on a target, for writers whose remote script itself died (killed,
    timed out): their temp file goes with the next write; a temp file whose writer still
    runs stays -- also when that writer is another user's (``kill -0`` answers EPERM), and
    so does one of another machine or container (its tag differs: its pid means nothing)."""
    from devenv.runtime import SSHRuntime, script

    runtime = SSHRuntime(sshd.target())
    directory = f"/tmp/temps-{uuid.uuid4().hex[:8]}"
    aio(runtime.ensure_dir(directory))
    other = sshd.docker("exec", "-d", "-u", "root", sshd.container, "sleep", "60")
    try:
        dead = int(aio(runtime.exec("sh -c 'echo $$'")).stdout)
        mine = aio(runtime.spawn(["sleep", "60"]))
        root = aio(runtime.exec(["pgrep", "-u", "root", "-x", "sleep"])).stdout.split()
        assert len(root) == 1, (other, root)
        tag = script.node_tag(aio(runtime.tools()).node)
        live = {f".f.devenv-tmp-{tag}-{mine.pid}-0001",
                f".f.devenv-tmp-{tag}-{int(root[0])}-0002",
                # another machine's or container's writer: its pid means nothing here
                f".f.devenv-tmp-elsewhere-{dead}-0004"}
        for name in (f".f.devenv-tmp-{tag}-{dead}-0003", *live):
            aio(runtime.write_file(f"{directory}/{name}", b"partial"))
        aio(runtime.write_file(f"{directory}/f", b"new"))
        assert {e.name for e in aio(runtime.list_dir(directory))} == {"f", *live}
    finally:
        aio(runtime.exec("pkill -x sleep"))
        sshd.docker("exec", "-u", "root", sshd.container, "pkill", "-x", "sleep", check=False)
        aio(runtime.remove(directory, recursive=True, missing_ok=True))
        aio(runtime.close())
