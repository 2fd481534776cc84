"""Benchmark: devenv against the raw Docker commands it wraps, measured in the same run.

1. warm exec: ``devenv exec P -- true`` vs bare ``docker exec C true`` (median of N each,
   interleaved so drift hits both alike), and the ratio;
2. cold start (image present): ``devenv up P`` after ``devenv stop P`` vs a bare
   ``docker run -d`` of the same image with the same key mount, until sshd greets.

Uses a throwaway DEVENV_HOME and project; needs a running engine. Run:
    .venv/bin/python bench/bench_env.py [--runs N]
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DEVENV = [sys.executable, "-m", "devenv"]


def _devenv_bin() -> list[str]:
    # The installed console script is what users run; fall back to -m when absent.
    script = Path(sys.executable).with_name("devenv")
    return [str(script)] if script.exists() else DEVENV


def timed(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def banner(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.settimeout(2)
                if s.recv(8).startswith(b"SSH-"):
                    return
        except OSError:
            pass
        time.sleep(0.02)
    raise SystemExit(f"sshd did not answer on {port}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def ms(values: list[float]) -> str:
    return f"{statistics.median(values) * 1000:7.1f} ms"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20, help="exec samples per side (>= 10)")
    parser.add_argument("--starts", type=int, default=5, help="cold-start samples per side")
    args = parser.parse_args()
    devenv = _devenv_bin()
    tmp = Path(tempfile.mkdtemp(prefix="devenv-bench-"))
    env = dict(os.environ, DEVENV_HOME=str(tmp / "home"))
    project = tmp / "bench" / "proj"
    project.mkdir(parents=True)
    try:
        up = subprocess.run([*devenv, "up", "--json", str(project)], env=env, check=True,
                            capture_output=True, text=True)
        import json

        info = json.loads(up.stdout)
        container, image, port = info["container"], info["image"], info["port"]

        # 1. warm exec, interleaved.
        for _ in range(3):  # warm caches on both sides
            timed([*devenv, "exec", str(project), "--", "true"], env)
            timed(["docker", "exec", container, "true"], env)
        dev, raw = [], []
        for _ in range(max(10, args.runs)):
            dev.append(timed([*devenv, "exec", str(project), "--", "true"], env))
            raw.append(timed(["docker", "exec", container, "true"], env))
        exec_ratio = statistics.median(dev) / statistics.median(raw)

        # 2. cold start with the image present.
        key_dir = tmp / "home" / "state" / "envs" / info["name"] / "keys"
        cold_dev, cold_raw = [], []
        for i in range(max(1, args.starts)):
            subprocess.run([*devenv, "stop", str(project)], env=env, check=True,
                           capture_output=True)
            cold_dev.append(timed([*devenv, "up", str(project)], env))
            raw_port, name = free_port(), f"devenv-bench-raw-{os.getpid()}-{i}"
            try:
                start = time.perf_counter()
                subprocess.run(["docker", "run", "-d", "--rm", "--init", "--name", name,
                                "-p", f"127.0.0.1:{raw_port}:2222",
                                "--mount", f"type=bind,source={key_dir},"
                                           "target=/run/devenv/keys,readonly", image],
                               check=True, stdout=subprocess.DEVNULL)
                banner(raw_port)
                cold_raw.append(time.perf_counter() - start)
            finally:
                subprocess.run(["docker", "rm", "-f", name], check=False, capture_output=True)
        up_ratio = statistics.median(cold_dev) / statistics.median(cold_raw)

        print(f"warm exec  (median of {len(dev)}): devenv exec {ms(dev)}   "
              f"docker exec {ms(raw)}   ratio {exec_ratio:.2f}")
        print(f"cold up    (median of {len(cold_dev)}): devenv up   {ms(cold_dev)}   "
              f"docker run + sshd {ms(cold_raw)}   ratio {up_ratio:.2f}")
        print(f"(port {port}; devenv = {' '.join(devenv)})")
    finally:
        subprocess.run([*devenv, "rm", "--volumes", str(project)], env=env,
                       capture_output=True, check=False)
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
