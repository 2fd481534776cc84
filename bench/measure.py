"""The measuring and reporting core of bench/run: rows, interleaved samples, medians, the
table, and running and timing processes. Nothing here knows a particular row."""

from __future__ import annotations

import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
DEVENV = REPO / ".venv" / "bin" / "devenv"


class MeasureError(Exception):
    """A measurement could not be taken (the message is the one-line reason)."""


# -- rows and the table ----------------------------------------------------------------------


@dataclass
class Row:
    key: str
    measure: str
    target: float | None  # ratio bound (<=); None: kept for reference, no verdict
    unit: str = "ms"  # "ms" or "s" in the table
    limit: float | None = None  # a bound on devenv's median itself, in seconds (<=)
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
        if not self.done or (self.target is None and self.limit is None):
            return "-"
        ok = ((self.target is None or self.ratio <= self.target)
              and (self.limit is None or statistics.median(self.devenv) <= self.limit))
        return "PASS" if ok else "FAIL"

    def cells(self) -> list[str]:
        label = self.measure + (f" ({self.note})" if self.note else "")
        bounds = ([f"<= {self.target:g}"] if self.target is not None else []) + (
            [f"<= {self.limit:g} s"] if self.limit is not None else [])
        target = ", ".join(bounds) or "-"
        if not self.done:
            return [label, "-", "-", "-", target, self.verdict]
        return [label, fmt(statistics.median(self.devenv), self.unit),
                fmt(statistics.median(self.baseline), self.unit), f"{self.ratio:.2f}",
                target, self.verdict]

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.key, "measure": self.measure, "note": self.note,
                               "target": self.target, "limit_s": self.limit,
                               "result": self.verdict,
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


def timed_pty(argv: list[str], env: dict[str, str] | None = None, *,
              timeout: float = 60) -> float:
    """:func:`timed` with the process on a new pseudo-terminal (stdin, stdout and stderr), as
    in a user's terminal; its output is read (and discarded) until it exits."""
    import os
    import pty
    import select

    master, slave = pty.openpty()
    start = time.perf_counter()
    try:
        proc = subprocess.Popen(argv, env=env, stdin=slave, stdout=slave, stderr=slave,
                                start_new_session=True)
    finally:
        os.close(slave)
    tail = b""
    try:
        deadline = start + timeout
        while time.perf_counter() < deadline:
            if select.select([master], [], [], max(0.0, deadline - time.perf_counter()))[0]:
                try:
                    data = os.read(master, 65536)
                except OSError:  # the terminal's last holder is gone
                    break
                if not data:
                    break
                tail = (tail + data)[-2000:]
        try:
            code = proc.wait(max(0.0, deadline - time.perf_counter()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise MeasureError(f"'{' '.join(argv[:3])} ...' did not end within {timeout:g}s") \
                from None
    finally:
        os.close(master)
    elapsed = time.perf_counter() - start
    if code != 0:
        raise MeasureError(f"'{' '.join(argv[:4])} ...' exited {code}: {last_line(tail)}")
    return elapsed


# -- interleaving ----------------------------------------------------------------------------

T = TypeVar("T")


def rotations(runs: int, items: list[T]) -> list[list[T]]:
    """The order of each round: which item goes first alternates (A B, B A, ...; with three,
    A B C, B C A, C A B, ...)."""
    return [items[i % len(items):] + items[:i % len(items)] for i in range(runs)]


def interleave(runs: int, sides: dict[str, Callable[[], float]],
               warmup: int = 0) -> dict[str, list[float]]:
    """``runs`` samples of each side, alternating which goes first (A B, B A, ...); the
    ``warmup`` rounds are not kept."""
    samples: dict[str, list[float]] = {k: [] for k in sides}
    for i, order in enumerate(rotations(warmup + runs, list(sides))):
        for key in order:
            value = sides[key]()
            if i >= warmup:
                samples[key].append(value)
    return samples


async def ainterleave(runs: int, sides: dict[str, Callable[[], Awaitable[float]]],
                      warmup: int = 0) -> dict[str, list[float]]:
    """:func:`interleave` of coroutines, in the caller's event loop."""
    samples: dict[str, list[float]] = {k: [] for k in sides}
    for i, order in enumerate(rotations(warmup + runs, list(sides))):
        for key in order:
            value = await sides[key]()
            if i >= warmup:
                samples[key].append(value)
    return samples


# -- waiting for sshd and its sockets --------------------------------------------------------


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


def wait_socket(path: Path | str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not Path(path).exists():
        if time.monotonic() > deadline:
            raise MeasureError(f"the ControlMaster socket {path} did not appear")
        time.sleep(0.01)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
