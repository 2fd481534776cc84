"""The library rows: devenv's runtime (``EnvRuntime``) in this process against raw ssh over
the same kind of ControlMaster (concurrent, lib-exec, write-1m, read-1m, write-100m,
read-100m)."""

from __future__ import annotations

import asyncio
import hashlib
import os
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

from fixture import Bench
from measure import MeasureError, ainterleave, last_line, wait_socket

CONCURRENT = 200
MIB = 1 << 20
RUNTIME_MODULE = "devenv.envs"  # where EnvRuntime is imported from (in the concurrent row)


def env_runtime_class(b: Bench) -> Any:
    """``EnvRuntime``, imported into this process (not part of any timing)."""
    from devenv.envs import EnvRuntime

    b.rows["concurrent"].extra["import"] = RUNTIME_MODULE
    return EnvRuntime


def phase_concurrent(b: Bench) -> None:
    env = b.up()
    runtime_class = env_runtime_class(b)

    async def library() -> float:
        b.close_masters()
        start = time.perf_counter()
        rt = runtime_class(str(b.project))
        try:
            results = await asyncio.wait_for(
                asyncio.gather(*[rt.exec(["true"]) for _ in range(CONCURRENT)],
                               return_exceptions=True), 300)
            elapsed = time.perf_counter() - start
        finally:
            await rt.close()
        bad = [r for r in results if isinstance(r, BaseException) or not r.ok]
        if bad:
            raise MeasureError(f"{len(bad)} of {CONCURRENT} library execs failed, e.g. "
                               f"{describe(bad[0])}")
        return elapsed

    async def raw() -> float:
        b.close_masters()
        ssh = ["ssh", "-F", env.ssh_config, "-o", f"ControlPath={env.control}"]
        start = time.perf_counter()
        master = await asyncio.create_subprocess_exec(
            *ssh, "-o", "ControlMaster=yes", "-o", "ControlPersist=60", "-f", "-N",
            env.ssh_host, stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
        _, err = await asyncio.wait_for(master.communicate(), 30)
        if master.returncode != 0:
            raise MeasureError(f"the raw ControlMaster did not start: {last_line(err)}")
        while not os.path.exists(env.control):
            await asyncio.sleep(0.001)
        codes = await asyncio.wait_for(asyncio.gather(*[
            raw_ssh([*ssh, "-o", "ControlMaster=no", env.ssh_host], "true")
            for _ in range(CONCURRENT)]), 300)
        elapsed = time.perf_counter() - start
        bad = [c for c in codes if c != 0]
        if bad:
            raise MeasureError(f"{len(bad)} of {CONCURRENT} raw ssh sessions failed "
                               f"(exit {bad[0]})")
        return elapsed

    runtime_class(str(b.project))  # imports the library: not part of the timing
    try:
        # No warm-up round: each run starts from no master anyway, on both sides.
        samples = asyncio.run(ainterleave(b.runs, {"a": library, "b": raw}))
    finally:
        b.close_masters()
    b.finish("concurrent", samples, "a", "b")


def phase_library(b: Bench) -> None:
    env = b.up()
    runtime_class = env_runtime_class(b)
    ssh = ["ssh", "-F", env.ssh_config, "-o", "ControlMaster=no",
           "-o", f"ControlPath={env.control}", env.ssh_host]

    async def main() -> None:
        rt = runtime_class(str(b.project))
        try:
            await rt.exec(["true"])  # probes the target, opens the master
            wait_socket(env.control)
            if "lib-exec" in b.selected:
                await lib_exec(b, rt, ssh)
            for size, label in ((MIB, "1m"), (100 * MIB, "100m")):
                if b.wanted(f"write-{label}", f"read-{label}"):
                    runs = b.runs if size == MIB else max(3, b.runs // 3)
                    await files(b, rt, ssh, size=size, runs=runs, label=label)
        finally:
            await rt.close()

    asyncio.run(main())


async def lib_exec(b: Bench, rt: Any, ssh: list[str]) -> None:
    async def lib() -> float:
        start = time.perf_counter()
        result = await rt.exec(["true"])
        elapsed = time.perf_counter() - start
        if not result.ok:
            raise MeasureError(f"library exec failed: exit {result.exit_code}")
        return elapsed

    async def raw() -> float:
        start = time.perf_counter()
        code = await raw_ssh(ssh, "true")
        elapsed = time.perf_counter() - start
        if code != 0:
            raise MeasureError(f"raw ssh true exited {code}")
        return elapsed

    samples = await ainterleave(b.runs, {"a": lib, "b": raw}, warmup=3)
    b.finish("lib-exec", samples, "a", "b")


async def files(b: Bench, rt: Any, ssh: list[str], *, size: int, runs: int,
                label: str) -> None:
    data = os.urandom(size)
    digest = hashlib.sha256(data).hexdigest()
    # Paths in the container, not here.
    lib_path, raw_path, src_path = (f"/tmp/devenv-bench-{who}"  # noqa: S108
                                    for who in ("lib", "raw", "src"))

    async def clock(make: Callable[[], Awaitable[None]]) -> float:
        start = time.perf_counter()
        await make()
        return time.perf_counter() - start

    async def lib_write() -> None:
        await rt.write_file(lib_path, data)

    async def raw_write() -> None:
        if await raw_ssh(ssh, f"cat > {raw_path}", stdin=data) != 0:
            raise MeasureError("raw ssh 'cat >' failed")

    async def lib_read() -> None:
        got = 0
        async for chunk in rt.read_file(src_path):
            got += len(chunk)
        if got != size:
            raise MeasureError(f"read_file gave {got} bytes of {size}")

    async def raw_read() -> None:
        got = await raw_ssh_read(ssh, src_path)
        if got != size:
            raise MeasureError(f"raw ssh cat gave {got} bytes of {size}")

    if await raw_ssh(ssh, f"cat > {src_path}", stdin=data) != 0:  # what both read
        raise MeasureError("could not write the file the reads read")
    samples = await ainterleave(runs, {
        "lw": lambda: clock(lib_write), "rw": lambda: clock(raw_write),
        "lr": lambda: clock(lib_read), "rr": lambda: clock(raw_read)}, warmup=1)
    check = await rt.exec(["sha256sum", lib_path, raw_path])
    sums = {line.split()[0] for line in check.stdout.decode().splitlines() if line}
    await rt.exec(["rm", "-f", lib_path, raw_path, src_path])
    if sums != {digest}:
        raise MeasureError(f"{label}: what was written differs from what was sent")
    note = "" if runs == b.runs else f"n={runs}"
    for key, a, base in ((f"write-{label}", "lw", "rw"), (f"read-{label}", "lr", "rr")):
        if key in b.selected:
            row = b.rows[key]
            row.note = note
            row.extra["baseline_mb_per_s"] = size / 1e6 / statistics.median(samples[base])
            row.extra["devenv_mb_per_s"] = size / 1e6 / statistics.median(samples[a])
            b.finish(key, samples, a, base)


def describe(failure: Any) -> str:
    if isinstance(failure, BaseException):
        return f"{type(failure).__name__}: {str(failure)[:150]}"
    return f"exit {failure.exit_code}: {last_line(failure.stderr)}"


async def raw_ssh(ssh: list[str], command: str, *, stdin: bytes | None = None) -> int:
    """Raw ssh from asyncio, as the library runs it: output piped and drained."""
    proc = await asyncio.create_subprocess_exec(
        *ssh, command,
        stdin=asyncio.subprocess.DEVNULL if stdin is None else asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    await proc.communicate(stdin)
    return proc.returncode or 0


async def raw_ssh_read(ssh: list[str], path: str) -> int:
    """Bytes received from a streamed ``ssh ... cat path``."""
    proc = await asyncio.create_subprocess_exec(
        *ssh, f"cat {path}", stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL)
    assert proc.stdout is not None
    got = 0
    while chunk := await proc.stdout.read(1 << 18):
        got += len(chunk)
    if await proc.wait() != 0:
        raise MeasureError(f"raw ssh cat {path} exited {proc.returncode}")
    return got
