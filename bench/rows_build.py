"""The build row (the former bench_build.py): tool layers are built once and shared."""

from __future__ import annotations

import time

from fixture import Bench
from measure import run, timed

BUILD_TOOLS = 'tools = ["node", "claude-code"]\n'


def phase_build(b: Bench) -> None:
    """Project A builds node + claude-code from scratch (--no-cache), project B with the same
    tools then builds nothing. Network-bound (npm, apt): runs --build-runs times (default 1)."""
    projects = []
    for name in ("a", "b"):
        project = b.tmp / f"build{b.token}" / name
        (project / ".devenv").mkdir(parents=True)
        (project / ".devenv" / "devenv.toml").write_text(BUILD_TOOLS)
        projects.append(str(project))
    run(b.devenv("build", projects[0]), b.env, timeout=1800)  # default image, once
    first: list[float] = []
    second: list[float] = []
    cached = 0
    for _ in range(b.args.build_runs):
        first.append(timed(b.devenv("build", "--no-cache", projects[0]), b.env,
                           timeout=1800))
        start = time.perf_counter()
        proc = run(b.devenv("build", projects[1]), b.env, timeout=1800)
        second.append(time.perf_counter() - start)
        cached = sum(": cached (" in line for line in proc.stderr.splitlines())
    row = b.rows["build"]
    row.note = f"n={len(first)}, {cached} cached"
    row.extra["layers_cached"] = cached
    b.finish("build", {"a": second, "b": first}, "a", "b")
