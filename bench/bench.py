"""devenv against the raw commands it wraps, every row measured in one run (bench/run).

Each row is the median of N runs of devenv (A) and of its baseline (B), interleaved in the
same run (A B, B A, A B, ...) so that drift of a loaded machine hits both alike; the ratio is
median(A) / median(B) and lower is better. Rows with a target say PASS or FAIL; the others
are kept for reference. docs/benchmarks.md says what each row compares and why.

Everything runs against a throwaway project under /tmp with its own DEVENV_HOME, so the
user's environments are never touched; every container, network, volume and ControlMaster
made here is removed at the end, also after a failure or Ctrl-C. Exit 0 when every
measurement was taken (whatever the verdicts), 1 with a one-line reason per row when one
could not be, 2 on bad arguments, 130 when interrupted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
DEVENV = REPO / ".venv" / "bin" / "devenv"
DEFAULT_JSON = BENCH / "results" / "latest.json"
DEFAULT_RUNS = 7
CONCURRENT = 200
MIB = 1 << 20
KEYS_MOUNT = "/run/devenv/keys"  # where devenv mounts an environment's keys (container.py)
SSH_PORT_IN_CONTAINER = 2222
BUILD_TOOLS = 'tools = ["node", "claude-code"]\n'


class MeasureError(Exception):
    """A measurement could not be taken (the message is the one-line reason)."""


# -- rows ------------------------------------------------------------------------------------


@dataclass
class Row:
    key: str
    measure: str
    target: float | None  # ratio bound (<=); None: kept for reference, no verdict
    unit: str = "ms"  # "ms" or "s" in the table
    devenv: list[float] = field(default_factory=list)
    baseline: list[float] = field(default_factory=list)
    note: str = ""
    error: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def done(self) -> bool:
        return bool(self.devenv and self.baseline)

    @property
    def ratio(self) -> float:
        return statistics.median(self.devenv) / statistics.median(self.baseline)

    @property
    def verdict(self) -> str:
        if self.error:
            return "ERROR"
        if not self.done:
            return "-"
        if self.target is None:
            return "-"
        return "PASS" if self.ratio <= self.target else "FAIL"

    def cells(self) -> list[str]:
        label = self.measure + (f" ({self.note})" if self.note else "")
        target = f"<= {self.target:g}" if self.target is not None else "-"
        if not self.done:
            return [label, "-", "-", "-", target, self.verdict]
        return [label, fmt(statistics.median(self.devenv), self.unit),
                fmt(statistics.median(self.baseline), self.unit), f"{self.ratio:.2f}",
                target, self.verdict]

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.key, "measure": self.measure, "note": self.note,
                               "target": self.target, "result": self.verdict,
                               "devenv_s": self.devenv, "baseline_s": self.baseline}
        if self.done:
            pairs = [a / b for a, b in zip(self.devenv, self.baseline, strict=False)]
            out |= {"devenv_median_s": statistics.median(self.devenv),
                    "baseline_median_s": statistics.median(self.baseline),
                    "ratio": self.ratio, "pairwise_ratio_median": statistics.median(pairs),
                    "runs": len(self.devenv)}
        if self.error:
            out["error"] = self.error
        return out | self.extra


def make_rows() -> dict[str, Row]:
    rows = [
        Row("list", "devenv list vs docker ps", 2.0),
        Row("stop", "devenv stop (idle env) vs docker stop", 1.3),
        Row("up", "cold devenv up vs docker run -d + sshd greeting", 1.3),
        Row("concurrent", f"{CONCURRENT} concurrent exec, new EnvRuntime vs master + "
            f"{CONCURRENT} raw ssh", 1.3),
        Row("version", "devenv --version vs python -c pass", 1.5),
        Row("exec", "warm devenv exec -- true vs docker exec", 0.45),
        # Kept from the former bench_runtime.py / bench_build.py, for reference.
        Row("exec-ssh", "warm devenv exec -- true vs raw ssh, same master", None),
        Row("lib-exec", "EnvRuntime.exec, sequential vs raw ssh (asyncio)", None),
        Row("write-1m", "write_file 1 MiB vs ssh 'cat > f'", None),
        Row("read-1m", "read_file 1 MiB vs ssh 'cat f'", None),
        Row("write-100m", "write_file 100 MiB vs ssh 'cat > f'", None),
        Row("read-100m", "read_file 100 MiB vs ssh 'cat f'", None),
        Row("build", "devenv build: 2nd project, same tools vs 1st, --no-cache", None,
            unit="s"),
    ]
    return {r.key: r for r in rows}


def fmt(seconds: float, unit: str) -> str:
    if unit == "s" or seconds >= 10:
        return f"{seconds:.2f} s"
    return f"{seconds * 1000:.1f} ms"


HEADERS = ["measure", "devenv median", "baseline median", "ratio", "target", "result"]
RIGHT = {1, 2, 3}


def widths_for(cells: list[list[str]]) -> list[int]:
    return [max(len(c[i]) for c in cells) for i in range(len(HEADERS))]


def format_line(values: list[str], widths: list[int]) -> str:
    return " | ".join(v.rjust(w) if i in RIGHT else v.ljust(w)
                      for i, (v, w) in enumerate(zip(values, widths, strict=True)))


def table(rows: list[Row]) -> str:
    cells = [HEADERS, *[r.cells() for r in rows]]
    widths = widths_for(cells)
    rule = "-+-".join("-" * w for w in widths)
    return "\n".join([format_line(cells[0], widths), rule,
                      *(format_line(c, widths) for c in cells[1:])])


def say(message: str) -> None:
    """Progress, on stderr (stdout has the rows and the table)."""
    print(f"bench: {message}", file=sys.stderr, flush=True)


# -- running and timing processes ------------------------------------------------------------


def last_line(text: bytes | str | None) -> str:
    """What a failed process said: its last line, or for devenv the error itself rather
    than the hint that follows it."""
    if not text:
        return ""
    if isinstance(text, bytes):
        text = text.decode(errors="replace")
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("devenv:") and
              not ln.startswith(("devenv: hint:", "devenv: note:", "devenv: + "))]
    return (errors or lines or [""])[-1][:200]


def run(argv: list[str], env: dict[str, str] | None = None, *, timeout: float = 120,
        check: bool = True) -> subprocess.CompletedProcess[str]:
    """An untimed step; a failure is a :class:`MeasureError` quoting its last words."""
    try:
        proc = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, capture_output=True,
                              text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise MeasureError(f"'{' '.join(argv[:3])} ...' did not end within {timeout:g}s") \
            from None
    if check and proc.returncode != 0:
        raise MeasureError(f"'{' '.join(argv[:4])} ...' exited {proc.returncode}: "
                           f"{last_line(proc.stderr) or last_line(proc.stdout)}")
    return proc


def timed(argv: list[str], env: dict[str, str] | None = None, *,
          timeout: float = 120) -> float:
    """Wall time of the whole process, start-up included; output discarded."""
    start = time.perf_counter()
    try:
        proc = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise MeasureError(f"'{' '.join(argv[:3])} ...' did not end within {timeout:g}s") \
            from None
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise MeasureError(f"'{' '.join(argv[:4])} ...' exited {proc.returncode}: "
                           f"{last_line(proc.stderr)}")
    return elapsed


def interleave(runs: int, sides: dict[str, Callable[[], float]],
               warmup: int = 0) -> dict[str, list[float]]:
    """``runs`` samples of each side, alternating which goes first (A B, B A, ...); the
    ``warmup`` rounds are not kept."""
    keys = list(sides)
    samples: dict[str, list[float]] = {k: [] for k in keys}
    for i in range(warmup + runs):
        shift = i % len(keys)
        for key in keys[shift:] + keys[:shift]:
            value = sides[key]()
            if i >= warmup:
                samples[key].append(value)
    return samples


async def ainterleave(runs: int, sides: dict[str, Callable[[], Awaitable[float]]],
                      warmup: int = 0) -> dict[str, list[float]]:
    keys = list(sides)
    samples: dict[str, list[float]] = {k: [] for k in keys}
    for i in range(warmup + runs):
        shift = i % len(keys)
        for key in keys[shift:] + keys[:shift]:
            value = await sides[key]()
            if i >= warmup:
                samples[key].append(value)
    return samples


def ssh_greets(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0) as sock:
            sock.settimeout(2.0)
            return sock.recv(4) == b"SSH-"
    except OSError:
        return False


def wait_greeting(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not ssh_greets(port):
        if time.monotonic() > deadline:
            raise MeasureError(f"no SSH greeting on 127.0.0.1:{port} within {timeout:g}s")
        time.sleep(0.01)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- the bench's world -----------------------------------------------------------------------


@dataclass
class Env:
    """The throwaway environment, once it was started."""

    name: str
    container: str
    image: str
    keys: str  # host directory mounted at KEYS_MOUNT
    ssh_config: str
    ssh_host: str
    control: str  # the environment's ControlMaster socket (devenv's ssh_config)


class Bench:
    def __init__(self, args: argparse.Namespace, rows: dict[str, Row], selected: list[str]):
        self.args = args
        self.runs: int = args.runs
        self.rows = rows
        self.selected = selected
        self.token = secrets.token_hex(3)
        self.tmp = Path(tempfile.mkdtemp(prefix=f"devenv-bench-{self.token}-"))
        self.home = self.tmp / "home"
        # A unique parent directory makes a unique environment name (<parent>-<basename>):
        # nothing here can meet another devenv's container on a shared engine.
        self.project = self.tmp / f"b{self.token}" / "proj"
        self.project.mkdir(parents=True)
        if os.getuid() == 0:  # the container user is UID 1000 then; let it own the project,
            os.chown(self.project, 1000, 1000)  # as a user's own project would be
        # Everything devenv keeps derives from DEVENV_HOME: for the CLI and for the library,
        # which runs in this process.
        os.environ["DEVENV_HOME"] = str(self.home)
        # The runtime library's own default places (devenv passes its own, under
        # DEVENV_HOME; this is for anything that would fall back to the default).
        os.environ["DEVENV_RUNTIME_DIR"] = str(self.tmp / "runtime")
        # The CLI as an installed devenv runs it: from compiled bytecode. A shell with
        # PYTHONDONTWRITEBYTECODE (and sources edited since their .pyc) would otherwise
        # compile modules again on every call. Same for the baselines run by Python.
        self.env = dict(os.environ, PYTHONPYCACHEPREFIX=str(self.tmp / "pycache"))
        self.env.pop("PYTHONDONTWRITEBYTECODE", None)
        self.label = f"devenv-bench.run={self.token}"  # on every raw container made here
        self.raw_count = 0
        self.envinfo: Env | None = None
        self.runtime_import = ""
        # Columns of the rows printed as they finish: wide enough for the usual values.
        typical = ["0000.0 ms", "0000.0 ms", "00.00", "<= 0.45", "ERROR"]
        self.widths = widths_for([HEADERS, *[[rows[k].measure + " (n=00, 0 cached)", *typical]
                                             for k in selected]])

    def wanted(self, *keys: str) -> list[str]:
        return [k for k in keys if k in self.selected]

    def devenv(self, *args: str) -> list[str]:
        return [str(DEVENV), *args]

    def finish(self, key: str, samples: dict[str, list[float]], a: str, b: str) -> None:
        row = self.rows[key]
        row.devenv, row.baseline = samples[a], samples[b]
        print(self.line(row), flush=True)

    def line(self, row: Row) -> str:
        """A row as it finishes, in the final table's columns (as far as known now)."""
        return format_line(row.cells(), self.widths)

    # -- set-up --------------------------------------------------------------------------

    def up(self) -> Env:
        """Start the environment (if needed) and learn what the baselines need from it."""
        proc = run(self.devenv("up", "--json", str(self.project)), self.env, timeout=1800)
        try:
            info = json.loads(proc.stdout)
        except ValueError:
            raise MeasureError(f"devenv up --json printed no JSON: {last_line(proc.stdout)}") \
                from None
        # Read again on every start: the port (so the master's socket) moves when another
        # program took the old one meanwhile.
        inspect = run(["docker", "inspect", info["container"]]).stdout
        found = json.loads(inspect)[0]
        keys = [m["Source"] for m in found.get("Mounts", [])
                if m.get("Destination") == KEYS_MOUNT]
        if not keys:
            raise MeasureError(f"{info['container']} has no mount at {KEYS_MOUNT}")
        self.envinfo = Env(info["name"], info["container"], found["Config"]["Image"],
                           keys[0], info["ssh_config"], info["ssh_host"],
                           control_path(info["ssh_config"], info["ssh_host"]))
        return self.envinfo

    # -- cleanup -------------------------------------------------------------------------

    def close_masters(self) -> None:
        """Exit every ControlMaster in the environment's socket directory and wait until
        their sockets are gone."""
        if self.envinfo is None:
            return
        directory = Path(self.envinfo.control).parent
        if not directory.is_dir():
            return
        for sock in directory.iterdir():
            with contextlib.suppress(subprocess.SubprocessError, OSError):
                subprocess.run(["ssh", "-F", "/dev/null", "-o", f"ControlPath={sock}",
                                "-O", "exit", "bench"], capture_output=True, timeout=10,
                               check=False)
        deadline = time.monotonic() + 5
        while any(directory.iterdir()) and time.monotonic() < deadline:
            time.sleep(0.01)
        for sock in directory.iterdir():  # a master that did not answer -O exit
            with contextlib.suppress(OSError):
                sock.unlink()

    def cleanup(self) -> None:
        """Remove everything this run made; best effort, every step on its own."""
        steps: list[tuple[str, Callable[[], None]]] = [
            ("closing the ControlMasters", self.close_masters),
            ("devenv rm", self.remove_env),
            ("removing the raw containers", self.remove_raw),
            ("checking for leftovers", self.remove_leftovers),
        ]
        crash = self.home / "cache" / "logs" / "crash.log"
        if crash.is_file():  # devenv crashed (exit 3): keep its report, the rest goes
            kept = Path(self.args.json).parent / f"crash-{self.token}.log"
            with contextlib.suppress(OSError):
                kept.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(crash, kept)
                say(f"devenv crashed during the run; its crash log is kept in {kept}")
        for what, step in steps:
            try:
                step()
            except Exception as e:  # noqa: BLE001 - cleanup goes on; said, not raised
                say(f"cleanup: {what} failed: {e}")
        shutil.rmtree(self.tmp, ignore_errors=True)

    def remove_env(self) -> None:
        run(self.devenv("rm", "--volumes", "--force", str(self.project)), self.env,
            check=False)

    def remove_raw(self) -> None:
        ids = run(["docker", "ps", "-aq", "--filter", f"label={self.label}"]).stdout.split()
        if ids:
            run(["docker", "rm", "-f", *ids], check=False)

    def remove_leftovers(self) -> None:
        if self.envinfo is None:
            # devenv up failed before saying a name: whatever carries this project's path.
            found = run(["docker", "ps", "-aq", "--filter",
                         f"label=devenv.path={self.project}"]).stdout.split()
            if found:
                run(["docker", "rm", "-f", *found], check=False)
            return
        name = self.envinfo.name
        for kind, obj in (("container", self.envinfo.container),
                          ("network", f"devenv-net-{name}"),
                          ("volume", f"devenv-home-{name}")):
            if run(["docker", kind, "inspect", obj], check=False).returncode == 0:
                say(f"cleanup: {kind} {obj} was left behind; removing it")
                remove = ["docker", "rm", "-f", obj] if kind == "container" else \
                    ["docker", kind, "rm", obj]
                run(remove, check=False)

    # -- the raw container (baselines of up and stop) ------------------------------------

    def raw_run(self) -> tuple[str, int, list[str]]:
        """The ``docker run`` of devenv's image as a bare baseline: detached, idle, with
        the same key mount (sshd needs its host key) and --init, on a free port."""
        env = self.envinfo
        assert env is not None
        self.raw_count += 1
        name = f"dvbench-raw-{self.token}-{self.raw_count}"
        port = free_port()
        argv = ["docker", "run", "-d", "--rm", "--init", "--name", name, "--label", self.label,
                "-p", f"127.0.0.1:{port}:{SSH_PORT_IN_CONTAINER}",
                "--mount", f"type=bind,source={env.keys},target={KEYS_MOUNT},readonly",
                env.image]
        return name, port, argv

    # -- phases --------------------------------------------------------------------------

    def phase_version(self) -> None:
        # The interpreter devenv's launcher runs on (its #! line), so the baseline is the
        # same Python start-up with nothing of devenv.
        python = DEVENV.read_text().splitlines()[0].removeprefix("#!").strip().split()[0]
        samples = interleave(self.runs, {
            "a": lambda: timed(self.devenv("--version"), self.env),
            "b": lambda: timed([python, "-c", "pass"], self.env),
        }, warmup=3)
        self.finish("version", samples, "a", "b")

    def phase_lifecycle(self) -> None:
        """Rows up and stop share one loop: each run starts an environment (cold: image
        present, container absent) and stops it again, and the same for a bare container."""
        keys = self.wanted("up", "stop")
        self.up()  # the image (built if needed), and what the raw side needs
        run(self.devenv("stop", str(self.project)), self.env)
        project = str(self.project)
        times: dict[str, list[float]] = {"up": [], "raw-up": [], "stop": [], "raw-stop": []}

        def devenv_cycle() -> None:
            t_up = timed(self.devenv("up", project), self.env, timeout=300)
            time.sleep(0.2)  # idle: nothing of the start is still settling
            t_stop = timed(self.devenv("stop", project), self.env)
            times["up"].append(t_up)
            times["stop"].append(t_stop)

        def raw_cycle() -> None:
            name, port, argv = self.raw_run()
            start = time.perf_counter()
            try:
                run(argv)
                wait_greeting(port)
                t_up = time.perf_counter() - start
                time.sleep(0.2)
                t_stop = timed(["docker", "stop", name])
            finally:
                run(["docker", "rm", "-f", name], check=False)  # gone before the next run
            times["raw-up"].append(t_up)
            times["raw-stop"].append(t_stop)

        # No warm-up round: the untimed up and stop above compiled devenv's modules and
        # made the image's layers hot for both sides.
        for i in range(self.runs):
            order = [devenv_cycle, raw_cycle] if i % 2 == 0 else [raw_cycle, devenv_cycle]
            for cycle in order:
                cycle()
        for key in keys:
            self.finish(key, times, key, f"raw-{key}")

    def phase_list(self) -> None:
        self.up()
        samples = interleave(self.runs, {
            "a": lambda: timed(self.devenv("list"), self.env),
            "b": lambda: timed(["docker", "ps"], self.env),
        }, warmup=3)
        self.finish("list", samples, "a", "b")

    def phase_exec(self) -> None:
        env = self.up()
        project = str(self.project)
        # The first devenv exec finds no master, starts one in the background and uses
        # docker exec; wait for the master so that the timed ones are warm.
        run(self.devenv("exec", project, "--", "true"), self.env)
        wait_socket(env.control)
        sides = {
            "a": lambda: timed(self.devenv("exec", project, "--", "true"), self.env),
            "b": lambda: timed(["docker", "exec", env.container, "true"], self.env),
        }
        if "exec-ssh" in self.selected:
            raw = ["ssh", "-F", env.ssh_config, "-o", "ControlMaster=no",
                   "-o", f"ControlPath={env.control}", env.ssh_host, "true"]
            sides["c"] = lambda: timed(raw, self.env)
        samples = interleave(self.runs, sides, warmup=3)
        for key, baseline in (("exec", "b"), ("exec-ssh", "c")):
            if key in self.selected:
                self.finish(key, samples, "a", baseline)

    def phase_concurrent(self) -> None:
        env = self.up()
        runtime_class = self.env_runtime_class()

        async def library() -> float:
            self.close_masters()
            start = time.perf_counter()
            rt = runtime_class(str(self.project))
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
            self.close_masters()
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

        runtime_class(str(self.project))  # imports the library: not part of the timing
        try:
            # No warm-up round: each run starts from no master anyway, on both sides.
            samples = asyncio.run(ainterleave(self.runs, {"a": library, "b": raw}))
        finally:
            self.close_masters()
        self.finish("concurrent", samples, "a", "b")

    def env_runtime_class(self) -> Any:
        """``EnvRuntime``: from ``devenv.envs`` (where it is exported since the runtime
        library stands alone), else from the older places, ``devenv.runtime`` and
        ``devenv.envs.env_runtime``."""
        import importlib

        found: Any = None
        for module in ("devenv.envs", "devenv.runtime", "devenv.envs.env_runtime"):
            with contextlib.suppress(ImportError, AttributeError):
                found = getattr(importlib.import_module(module), "EnvRuntime")  # noqa: B009
                self.runtime_import = module
                break
        if found is None:
            raise MeasureError("EnvRuntime is in none of devenv.envs, devenv.runtime, "
                               "devenv.envs.env_runtime")
        self.rows["concurrent"].extra["import"] = self.runtime_import
        return found

    def phase_library(self) -> None:
        env = self.up()
        runtime_class = self.env_runtime_class()
        ssh = ["ssh", "-F", env.ssh_config, "-o", "ControlMaster=no",
               "-o", f"ControlPath={env.control}", env.ssh_host]

        async def main() -> None:
            rt = runtime_class(str(self.project))
            try:
                await rt.exec(["true"])  # probes the target, opens the master
                wait_socket(env.control)
                if "lib-exec" in self.selected:
                    await self.lib_exec(rt, ssh)
                for size, label in ((MIB, "1m"), (100 * MIB, "100m")):
                    keys = self.wanted(f"write-{label}", f"read-{label}")
                    if keys:
                        runs = self.runs if size == MIB else max(3, self.runs // 3)
                        await self.files(rt, ssh, size, runs, label)
            finally:
                await rt.close()

        asyncio.run(main())

    async def lib_exec(self, rt: Any, ssh: list[str]) -> None:
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

        samples = await ainterleave(self.runs, {"a": lib, "b": raw}, warmup=3)
        self.finish("lib-exec", samples, "a", "b")

    async def files(self, rt: Any, ssh: list[str], size: int, runs: int, label: str) -> None:
        import hashlib

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
        note = "" if runs == self.runs else f"n={runs}"
        for key, a, b in ((f"write-{label}", "lw", "rw"), (f"read-{label}", "lr", "rr")):
            if key in self.selected:
                self.rows[key].note = note
                med = statistics.median(samples[b])
                self.rows[key].extra["baseline_mb_per_s"] = size / 1e6 / med
                self.rows[key].extra["devenv_mb_per_s"] = \
                    size / 1e6 / statistics.median(samples[a])
                self.finish(key, samples, a, b)

    def phase_build(self) -> None:
        """The former bench_build.py: tool layers are built once and shared. Project A
        builds node + claude-code from scratch (--no-cache), project B with the same tools
        then builds nothing. Network-bound (npm, apt): runs --build-runs times (default 1)."""
        projects = []
        for name in ("a", "b"):
            project = self.tmp / f"build{self.token}" / name
            (project / ".devenv").mkdir(parents=True)
            (project / ".devenv" / "devenv.toml").write_text(BUILD_TOOLS)
            projects.append(str(project))
        run(self.devenv("build", projects[0]), self.env, timeout=1800)  # default image, once
        first: list[float] = []
        second: list[float] = []
        cached = 0
        for _ in range(self.args.build_runs):
            first.append(timed(self.devenv("build", "--no-cache", projects[0]), self.env,
                               timeout=1800))
            start = time.perf_counter()
            proc = run(self.devenv("build", projects[1]), self.env, timeout=1800)
            second.append(time.perf_counter() - start)
            cached = sum(": cached (" in line for line in proc.stderr.splitlines())
        row = self.rows["build"]
        row.note = f"n={len(first)}, {cached} cached"
        row.extra["layers_cached"] = cached
        self.finish("build", {"a": second, "b": first}, "a", "b")


def control_path(config: str, host: str) -> str:
    """The ControlPath of ``Host host`` in devenv's ssh_config."""
    current = False
    for raw in Path(config).read_text().splitlines():
        words = raw.split()
        if not words or words[0].startswith("#"):
            continue
        if words[0].lower() == "host":
            current = host in words[1:]
        elif current and words[0].lower() == "controlpath" and len(words) > 1:
            return words[1]
    raise MeasureError(f"{config} has no ControlPath for {host}")


def wait_socket(path: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        if time.monotonic() > deadline:
            raise MeasureError(f"the ControlMaster socket {path} did not appear")
        time.sleep(0.01)


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


# -- main -------------------------------------------------------------------------------------

# Phases in the order they run, with the rows each measures.
PHASES: list[tuple[str, tuple[str, ...]]] = [
    ("version", ("version",)),
    ("lifecycle", ("up", "stop")),
    ("list", ("list",)),
    ("exec", ("exec", "exec-ssh")),
    ("concurrent", ("concurrent",)),
    ("library", ("lib-exec", "write-1m", "read-1m", "write-100m", "read-100m")),
    ("build", ("build",)),
]


def parse(argv: list[str], rows: dict[str, Row]) -> tuple[argparse.Namespace, list[str]]:
    names = ", ".join(rows)
    parser = argparse.ArgumentParser(
        prog="bench/run", description=(__doc__ or "").split("\n\n", maxsplit=1)[0],
        epilog=f"rows: {names}. Details: docs/benchmarks.md")
    parser.add_argument("--runs", type=int, default=DEFAULT_RUNS,
                        help=f"runs per side for every row (default {DEFAULT_RUNS}; the "
                             "100 MiB file rows take a third of it, at least 3)")
    parser.add_argument("--build-runs", type=int, default=1,
                        help="runs of the build row (default 1: a first build takes minutes)")
    parser.add_argument("--only", metavar="NAME[,NAME]",
                        help="measure only these rows")
    parser.add_argument("--json", metavar="PATH", type=Path, default=DEFAULT_JSON,
                        help="where the results go (default bench/results/latest.json)")
    args = parser.parse_args(argv)
    if args.runs < 1 or args.build_runs < 1:
        parser.error("--runs and --build-runs must be at least 1")
    selected = list(rows)
    if args.only:
        wanted = [w.strip() for w in args.only.split(",") if w.strip()]
        unknown = [w for w in wanted if w not in rows]
        if unknown or not wanted:
            parser.error(f"unknown row {', '.join(unknown) or '(none)'}; rows: {names}")
        selected = [k for k in rows if k in wanted]
    return args, selected


@contextlib.contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM and SIGHUP clean up like Ctrl-C does."""
    def handler(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    old = {s: signal.signal(s, handler) for s in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def source_state() -> dict[str, Any]:
    """Which devenv was measured: the commit, and whether src/ had uncommitted changes."""
    head = run(["git", "-C", str(REPO), "rev-parse", "HEAD"], check=False).stdout.strip()
    dirty = run(["git", "-C", str(REPO), "status", "--porcelain", "--", "src"],
                check=False).stdout.splitlines()
    return {"git_head": head, "src_uncommitted_files": len(dirty)}


def preflight() -> None:
    if not DEVENV.exists():
        raise MeasureError(f"{DEVENV} is missing; run 'bash scripts/venv.sh'")
    for tool in ("docker", "ssh"):
        if shutil.which(tool) is None:
            raise MeasureError(f"{tool} is not on PATH")
    probe = run(["docker", "info", "--format", "{{.ServerVersion}}"], check=False, timeout=30)
    if probe.returncode != 0:
        raise MeasureError("the Docker engine is not answering (bash scripts/engine.sh "
                           f"starts one): {last_line(probe.stderr)}")


def main(argv: list[str]) -> int:
    rows = make_rows()
    args, selected = parse(argv, rows)
    began = time.perf_counter()
    started_at = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    load = os.getloadavg()[0]
    try:
        preflight()
    except MeasureError as e:
        print(f"bench/run: cannot run: {e}", file=sys.stderr)
        return 1
    bench = Bench(args, rows, selected)
    say(f"{args.runs} runs per side; {os.cpu_count()} CPUs, load average {load:.1f}; "
        f"DEVENV_HOME={bench.home}")
    print(format_line(HEADERS, bench.widths), flush=True)
    interrupted = False
    try:
        with terminate_as_interrupt():
            for phase, keys in PHASES:
                mine = [k for k in keys if k in selected]
                if not mine:
                    continue
                say(f"measuring {', '.join(mine)}")
                try:
                    getattr(bench, f"phase_{phase}")()
                except MeasureError as e:
                    reason = str(e)
                except Exception as e:  # noqa: BLE001 - a broken row must not stop the rest
                    reason = f"{type(e).__name__}: {e}"
                else:
                    continue
                for key in mine:
                    if not rows[key].done:
                        rows[key].error = reason
                        print(bench.line(rows[key]), flush=True)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        say("cleaning up")
        bench.cleanup()
    if interrupted:
        print("bench/run: interrupted; cleaned up", file=sys.stderr)
        return 130
    shown = [rows[k] for k in selected]
    print()
    print(f"devenv bench: median of {args.runs} runs per side unless noted; ratio = devenv "
          f"/ baseline (lower is better); {os.cpu_count()} CPUs, load average {load:.1f} at "
          f"the start")
    print(table(shown))
    report = {
        "started_at": started_at, "seconds": time.perf_counter() - began, "runs": args.runs,
        "build_runs": args.build_runs, "cpus": os.cpu_count(), "load_average_start": load,
        "load_average_end": os.getloadavg()[0], "devenv": str(DEVENV), **source_state(),
        "rows": [r.as_json() for r in shown],
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2) + "\n")
    print(f"({time.perf_counter() - began:.0f} s; JSON in {args.json})")
    failed = [r for r in shown if r.error]
    for r in failed:
        print(f"bench/run: could not measure {r.key}: {r.error}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
