"""The bench's world: a throwaway project under /tmp with its own DEVENV_HOME, the environment
devenv starts for it, the bare containers and networks of the baselines, and their removal at
the end (also after a failure or Ctrl-C). Every container and network made here carries the
run's label (``devenv-bench.run=<token>``) and a name with the run's token; cleanup removes
those and nothing else."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from measure import (
    DEVENV,
    HEADERS,
    MeasureError,
    Row,
    format_line,
    free_port,
    last_line,
    run,
    say,
    widths_for,
)

KEYS_MOUNT = "/run/devenv/keys"  # where devenv mounts an environment's keys (container.py)
SSH_PORT_IN_CONTAINER = 2222
# What devenv names its networks' bridge interfaces by (container.py's BRIDGE_OPTION).
BRIDGE_OPTION = "com.docker.network.bridge.name"


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
        # On every raw container and network made here.
        self.label = f"devenv-bench.run={self.token}"
        self.raw_count = 0
        self.envinfo: Env | None = None
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

    # -- the raw containers and networks (baselines of up, stop, up-net, stop-net) --------

    def raw_run(self, network: str | None = None) -> tuple[str, int, list[str]]:
        """The ``docker run`` of devenv's image as a bare baseline: detached, idle, with
        the same key mount (sshd needs its host key) and --init, on a free port; on the
        default bridge, or on ``network``."""
        env = self.envinfo
        assert env is not None
        self.raw_count += 1
        name = f"dvbench-raw-{self.token}-{self.raw_count}"
        port = free_port()
        argv = ["docker", "run", "-d", "--rm", "--init", "--name", name, "--label", self.label,
                "-p", f"127.0.0.1:{port}:{SSH_PORT_IN_CONTAINER}",
                "--mount", f"type=bind,source={env.keys},target={KEYS_MOUNT},readonly",
                *(["--network", network] if network else []), env.image]
        return name, port, argv

    def raw_network(self) -> tuple[str, list[str]]:
        """A ``docker network create`` of a bridge network of its own, as devenv makes an
        environment's (labels, its own bridge interface); its name and the argv."""
        self.raw_count += 1
        name = f"dvbench-net-{self.token}-{self.raw_count}"
        bridge = f"dvb-{self.token}-{self.raw_count}"[:15]  # Linux allows 15 characters
        argv = ["docker", "network", "create", "--driver", "bridge", "--label", self.label,
                "--opt", f"{BRIDGE_OPTION}={bridge}", name]
        return name, argv

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
            ("removing the raw containers and networks", self.remove_raw),
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
        """The raw containers, then their networks: only those with this run's label."""
        mine = ["--filter", f"label={self.label}"]
        ids = run(["docker", "ps", "-aq", *mine]).stdout.split()
        if ids:
            run(["docker", "rm", "-f", *ids], check=False)
        networks = run(["docker", "network", "ls", "-q", *mine]).stdout.split()
        if networks:
            run(["docker", "network", "rm", *networks], check=False)

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
                          ("volume", f"devenv-home-{name}"),
                          ("volume", f"devenv-ws-{name}")):
            if run(["docker", kind, "inspect", obj], check=False).returncode == 0:
                say(f"cleanup: {kind} {obj} was left behind; removing it")
                remove = ["docker", "rm", "-f", obj] if kind == "container" else \
                    ["docker", kind, "rm", obj]
                run(remove, check=False)


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
