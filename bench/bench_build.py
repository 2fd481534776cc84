"""Benchmark: tool layers are built once and shared between projects.

Builds project A (tools node + claude-code) from scratch (``devenv build --no-cache``), then
project B with the same tools (``devenv build``), and prints both times and their ratio
(target: the second at most 10 % of the first). Needs a running engine. Run:
    .venv/bin/python bench/bench_build.py
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TOOLS = 'tools = ["node", "claude-code"]\n'


def build(project: Path, env: dict[str, str], *extra: str) -> tuple[float, str]:
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "devenv", "build", *extra, str(project)],
                          env=env, capture_output=True, text=True, check=True)
    return time.perf_counter() - start, proc.stderr


def main() -> int:
    tmp = Path(tempfile.mkdtemp(prefix="devenv-bench-build-"))
    env = dict(os.environ, DEVENV_HOME=str(tmp / "home"))
    try:
        projects = []
        for name in ("a", "b"):
            project = tmp / name / "proj"
            (project / ".devenv").mkdir(parents=True)
            (project / ".devenv" / "devenv.toml").write_text(TOOLS)
            projects.append(project)
        build(projects[0], env)  # the default image, so that only tool layers are timed
        first, _ = build(projects[0], env, "--no-cache")
        second, log = build(projects[1], env)
        cached = sum(": cached (" in line for line in log.splitlines())
        print(f"first project  (node + claude-code, --no-cache): {first:7.1f} s")
        print(f"second project (same tools, {cached} layers cached): {second:7.2f} s")
        print(f"ratio {second / first:.3f} (target <= 0.10)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
