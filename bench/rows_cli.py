"""The CLI rows: whole ``devenv`` processes against the docker or ssh command each wraps
(version, up, stop, list, exec, exec-ssh, attach), and the reference rows up-net,
stop-net and attach-cold: what a network of one's own costs the engine itself, and an
attach that has to open the environment's SSH connection first."""

from __future__ import annotations

import time
from collections.abc import Callable

from fixture import Bench
from measure import (
    DEVENV,
    interleave,
    rotations,
    run,
    timed,
    timed_pty,
    wait_greeting,
    wait_socket,
)


def phase_version(b: Bench) -> None:
    # The interpreter devenv's launcher runs on (its #! line), so the baseline is the
    # same Python start-up with nothing of devenv.
    python = DEVENV.read_text().splitlines()[0].removeprefix("#!").strip().split()[0]
    samples = interleave(b.runs, {
        "a": lambda: timed(b.devenv("--version"), b.env),
        "b": lambda: timed([python, "-c", "pass"], b.env),
    }, warmup=3)
    b.finish("version", samples, "a", "b")


def phase_lifecycle(b: Bench) -> None:
    """Rows up, stop, up-net and stop-net share one loop: each run starts an environment
    (cold: image present, container absent) and stops it again, and the same for a bare
    container on the default bridge and (up-net, stop-net) for one on a network of its own.
    The bare container on the default bridge is the baseline of all four."""
    b.up()  # the image (built if needed), and what the raw side needs
    run(b.devenv("stop", str(b.project)), b.env)
    project = str(b.project)
    times: dict[str, list[float]] = {key: [] for key in (
        "up", "stop", "raw-up", "raw-stop", "net-up", "net-stop")}

    def devenv_cycle() -> None:
        t_up = timed(b.devenv("up", project), b.env, timeout=300)
        time.sleep(0.2)  # idle: nothing of the start is still settling
        t_stop = timed(b.devenv("stop", project), b.env)
        times["up"].append(t_up)
        times["stop"].append(t_stop)

    def raw_cycle() -> None:
        t_up, t_stop = bare_up_stop(b, network=False)
        times["raw-up"].append(t_up)
        times["raw-stop"].append(t_stop)

    def net_cycle() -> None:
        t_up, t_stop = bare_up_stop(b, network=True)
        times["net-up"].append(t_up)
        times["net-stop"].append(t_stop)

    cycles: list[Callable[[], None]] = []
    if b.wanted("up", "stop"):
        cycles.append(devenv_cycle)
    cycles.append(raw_cycle)
    if b.wanted("up-net", "stop-net"):
        cycles.append(net_cycle)
    # No warm-up round: the untimed up and stop above compiled devenv's modules and
    # made the image's layers hot for every side.
    for order in rotations(b.runs, cycles):
        for cycle in order:
            cycle()
    for key, a, base in (("up", "up", "raw-up"), ("stop", "stop", "raw-stop"),
                         ("up-net", "net-up", "raw-up"), ("stop-net", "net-stop", "raw-stop")):
        if key in b.selected:
            b.finish(key, times, a, base)


def bare_up_stop(b: Bench, *, network: bool) -> tuple[float, float]:
    """Start a bare container of the environment's image until sshd greets, and stop it:
    on the default bridge, or (``network``) on a network made for it first and removed
    after it (both inside the timings). Removed before the next run, untimed."""
    net, create = b.raw_network() if network else ("", [])
    name, port, argv = b.raw_run(net or None)
    start = time.perf_counter()
    try:
        if create:
            run(create)
        run(argv)
        wait_greeting(port)
        t_up = time.perf_counter() - start
        time.sleep(0.2)  # idle, as devenv's side is
        t_stop = timed(["docker", "stop", name])
        if net:
            t_stop += timed(["docker", "network", "rm", net])
    finally:
        run(["docker", "rm", "-f", name], check=False)  # gone before the next run
        if net:
            run(["docker", "network", "rm", net], check=False)
    return t_up, t_stop


def phase_list(b: Bench) -> None:
    b.up()
    samples = interleave(b.runs, {
        "a": lambda: timed(b.devenv("list"), b.env),
        "b": lambda: timed(["docker", "ps"], b.env),
    }, warmup=3)
    b.finish("list", samples, "a", "b")


def phase_exec(b: Bench) -> None:
    env = b.up()
    project = str(b.project)
    # The first devenv exec finds no master, starts one in the background and uses
    # docker exec; wait for the master so that the timed ones are warm.
    run(b.devenv("exec", project, "--", "true"), b.env)
    wait_socket(env.control)
    sides = {
        "a": lambda: timed(b.devenv("exec", project, "--", "true"), b.env),
        "b": lambda: timed(["docker", "exec", env.container, "true"], b.env),
    }
    if "exec-ssh" in b.selected:
        raw = ["ssh", "-F", env.ssh_config, "-o", "ControlMaster=no",
               "-o", f"ControlPath={env.control}", env.ssh_host, "true"]
        sides["c"] = lambda: timed(raw, b.env)
    samples = interleave(b.runs, sides, warmup=3)
    for key, baseline in (("exec", "b"), ("exec-ssh", "c")):
        if key in b.selected:
            b.finish(key, samples, "a", baseline)


def phase_attach(b: Bench) -> None:
    """Rows attach and attach-cold: ``devenv PATH -- true`` on a terminal (over SSH, see
    docs/architecture.md, terminals) against ``docker exec -it`` on a terminal; warm with
    the environment's master up, cold with it closed before each run."""
    env = b.up()
    project = str(b.project)
    run(b.devenv("exec", project, "--", "true"), b.env)
    wait_socket(env.control)
    close = ["ssh", "-F", env.ssh_config, "-O", "exit", env.ssh_host]

    def cold() -> float:
        run(close, b.env, check=False)  # none left (the last attach's went idle): fine
        return timed_pty(b.devenv(project, "--", "true"), b.env)

    sides = {
        "a": lambda: timed_pty(b.devenv(project, "--", "true"), b.env),
        "b": lambda: timed_pty(["docker", "exec", "-it", env.container, "true"], b.env),
    }
    if "attach-cold" in b.selected:
        sides["c"] = cold
    samples = interleave(b.runs, sides, warmup=2)
    if "attach" in b.selected:
        b.finish("attach", samples, "a", "b")
    if "attach-cold" in b.selected:
        b.finish("attach-cold", samples, "c", "b")
