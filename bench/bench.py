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

This file has the rows, the phases that measure them and the command line; measure.py the
timing and the table, fixture.py the throwaway world and its cleanup, rows_cli.py,
rows_lib.py and rows_build.py the phases.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from fixture import Bench
from measure import (
    BENCH,
    DEVENV,
    HEADERS,
    REPO,
    MeasureError,
    Row,
    format_line,
    last_line,
    run,
    say,
    table,
)
from rows_build import phase_build
from rows_cli import phase_attach, phase_exec, phase_lifecycle, phase_list, phase_version
from rows_lib import CONCURRENT, phase_concurrent, phase_library
from rows_ws import phase_workspaces

DEFAULT_JSON = BENCH / "results" / "latest.json"
DEFAULT_RUNS = 7


def make_rows() -> dict[str, Row]:
    rows = [
        Row("list", "devenv list vs docker ps", 2.0),
        Row("stop", "devenv stop (idle env) vs docker stop", 1.3),
        Row("up", "cold devenv up vs docker run -d + sshd greeting", 1.3),
        Row("concurrent", f"{CONCURRENT} concurrent exec, new EnvRuntime vs master + "
            f"{CONCURRENT} raw ssh", 1.3),
        Row("version", "devenv --version vs python -c pass", 1.5),
        Row("exec", "warm devenv exec -- true vs docker exec", 0.45),
        # Issue 12: an attach within 30 ms of docker exec -it; over SSH it is faster.
        Row("attach", "devenv PATH -- true on a tty vs docker exec -it", 1.0),
        # Docker alone, for reference: what a network of one's own (as every environment
        # has) costs the engine, so devenv's own overhead in up and stop can be told apart.
        Row("up-net", "docker network create + run -d on it vs run -d on default bridge",
            None),
        Row("stop-net", "docker stop + network rm vs docker stop on default bridge", None),
        Row("attach-cold", "the same attach, no SSH master yet vs docker exec -it", None),
        # Kept from the former bench_runtime.py / bench_build.py, for reference.
        Row("exec-ssh", "warm devenv exec -- true vs raw ssh, same master", None),
        Row("lib-exec", "EnvRuntime.exec, sequential vs raw ssh (asyncio)", None),
        Row("write-1m", "write_file 1 MiB vs ssh 'cat > f'", None),
        Row("read-1m", "read_file 1 MiB vs ssh 'cat f'", None),
        Row("write-100m", "write_file 100 MiB vs ssh 'cat > f'", None),
        Row("read-100m", "read_file 100 MiB vs ssh 'cat f'", None),
        Row("build", "devenv build: 2nd project, same tools vs 1st, --no-cache", None,
            unit="s"),
        # Issue 13, on a generated repository of 20,000 commits, over 100 MB (bigrepo.py).
        Row("ws-sync-first", "first workspace sync vs git clone --mirror, same master", 1.2,
            unit="s"),
        Row("ws-sync-1", "sync of 1 new commit vs the whole repository as a bundle", 0.1,
            limit=0.5),
        Row("ws-create", "workspace create, nothing changed vs the git steps over ssh", None,
            limit=1.0),
        Row("ws-snapshot", "snapshot, 1000 modified files vs git stash create over ssh",
            None, limit=1.0),
    ]
    return {r.key: r for r in rows}


# Phases in the order they run, with the rows each measures.
PHASES: list[tuple[Callable[[Bench], None], tuple[str, ...]]] = [
    (phase_version, ("version",)),
    (phase_lifecycle, ("up", "stop", "up-net", "stop-net")),
    (phase_list, ("list",)),
    (phase_exec, ("exec", "exec-ssh")),
    (phase_attach, ("attach", "attach-cold")),
    (phase_concurrent, ("concurrent",)),
    (phase_library, ("lib-exec", "write-1m", "read-1m", "write-100m", "read-100m")),
    (phase_build, ("build",)),
    (phase_workspaces, ("ws-sync-first", "ws-sync-1", "ws-create", "ws-snapshot")),
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


def measure_all(bench: Bench, rows: dict[str, Row], selected: list[str]) -> None:
    """Every phase with a selected row; a phase that fails marks its unmeasured rows."""
    for phase, keys in PHASES:
        mine = [k for k in keys if k in selected]
        if not mine:
            continue
        say(f"measuring {', '.join(mine)}")
        try:
            phase(bench)
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
            measure_all(bench, rows, selected)
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
