"""Integration tier: the real Docker engine, real OpenSSH, real files.

Every test gets its own DEVENV_HOME (so its own devenv instance label: tests never see each
other's environments), its own slice of the SSH port range per xdist worker, and a teardown
that stops whatever it started. The default image is built once per run, shared by workers.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

DEVENV = [sys.executable, "-m", "devenv"]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.docker)


def _engine_problem() -> str | None:
    try:
        proc = subprocess.run(["docker", "info", "--format", "{{.ServerVersion}}"],
                              capture_output=True, text=True, timeout=30, check=False)
    except FileNotFoundError:
        return "the docker CLI is not installed"
    except subprocess.TimeoutExpired:
        return "'docker info' timed out"
    if proc.returncode != 0:
        return proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "docker info failed"
    return None


@pytest.fixture(scope="session")
def engine() -> None:
    problem = _engine_problem()
    if problem:
        if os.environ.get("DEVENV_TEST_REQUIRE_ENGINE"):
            pytest.fail(f"the Docker engine is required but not usable: {problem}")
        pytest.skip(f"no usable Docker engine here ({problem}); run scripts/engine.sh")


@pytest.fixture(scope="session")
def default_image(engine: None, tmp_path_factory: pytest.TempPathFactory) -> str:
    """Build (or find) the default image once; xdist workers share the lock dir."""
    from devenv.images.default import default_image as build

    shared = tmp_path_factory.getbasetemp().parent / "devenv-image-home"
    old = os.environ.get("DEVENV_HOME")
    os.environ["DEVENV_HOME"] = str(shared)
    try:
        return build()
    finally:
        if old is None:
            os.environ.pop("DEVENV_HOME", None)
        else:
            os.environ["DEVENV_HOME"] = old


def _port_range() -> str:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    index = int(worker[2:]) if worker[2:].isdigit() else 0
    low = 23000 + index * 200
    return f"{low}-{low + 199}"


class Devenv:
    """Runs the real devenv CLI in a subprocess with this test's home."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.env = dict(os.environ, DEVENV_HOME=str(home), DEVENV_PORT_RANGE=_port_range())
        for var in ("DEVENV_SSH_PORT", "DEVENV_DEBUG"):
            self.env.pop(var, None)

    def run(self, *args: str, input: str | None = None, timeout: float = 300,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*DEVENV, *args], input=input, capture_output=True, text=True,
                              timeout=timeout, env={**self.env, **(env or {})}, check=False)

    def ok(self, *args: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
        proc = self.run(*args, **kwargs)
        assert proc.returncode == 0, f"devenv {args} -> {proc.returncode}\n{proc.stderr}"
        assert "Traceback" not in proc.stderr
        return proc

    def up(self, path: Path | str, *args: str, **kwargs: Any) -> dict[str, Any]:
        info: dict[str, Any] = json.loads(self.ok("up", "--json", *args, str(path),
                                                  **kwargs).stdout)
        return info

    @property
    def ssh_config(self) -> Path:
        return self.home / "state" / "ssh" / "config"

    def ssh(self, host: str, *command: str, timeout: float = 60,
            extra: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["ssh", "-F", str(self.ssh_config), "-o", "BatchMode=yes",
             "-o", "ConnectTimeout=15", *extra, host, *command],
            capture_output=True, text=True, timeout=timeout, check=False, env=self.env)

    def instance(self) -> str:
        from devenv import state

        os.environ["DEVENV_HOME"] = str(self.home)
        conn = state.connect()
        try:
            return state.instance_id(conn)
        finally:
            conn.close()

    def clean(self) -> None:
        """Leave nothing of this installation on the (global) engine: its containers,
        volumes and project images go, whatever the test left running."""
        db = self.home / "state" / "state.db"
        if not db.exists():
            return
        self.run("stop", "--all", "--force", timeout=120)
        for name in self.containers():
            subprocess.run(["docker", "rm", "-f", name], capture_output=True, check=False)
        label = f"label=devenv.instance={self.instance()}"
        volumes = subprocess.run(["docker", "volume", "ls", "-q", "--filter", label],
                                 capture_output=True, text=True, check=False).stdout.split()
        with contextlib.closing(sqlite3.connect(db)) as conn:
            names = [row[0] for row in conn.execute("SELECT name FROM projects")]
        images = [f"devenv-project-{name}:latest" for name in names]
        for command in (["docker", "volume", "rm", *volumes], ["docker", "rmi", *images]):
            if command[3:]:
                subprocess.run(command, capture_output=True, check=False, timeout=120)

    def containers(self) -> list[str]:
        """Names of this test's containers, straight from Docker."""
        if not (self.home / "state" / "state.db").exists():
            return []
        out = subprocess.run(["docker", "ps", "-a", "--filter",
                              f"label=devenv.instance={self.instance()}",
                              "--format", "{{.Names}}"],
                             capture_output=True, text=True, check=True, timeout=30).stdout
        return sorted(out.split())


@pytest.fixture
def dv(default_image: str, devenv_home: Path) -> Iterator[Devenv]:
    runner = Devenv(devenv_home)
    yield runner
    runner.clean()


@pytest.fixture
def make_project(tmp_path: Path) -> Iterator[Any]:
    """Create a project dir under a unique parent; writable by the container user."""

    def make(name: str = "proj", parent: str | None = None) -> Path:
        path = tmp_path / uuid.uuid4().hex[:8] / (parent or f"t{uuid.uuid4().hex[:6]}") / name
        path.mkdir(parents=True)
        path.chmod(0o777)
        return path

    yield make


def inspect(name: str) -> dict[str, Any]:
    out = subprocess.run(["docker", "inspect", name], capture_output=True, text=True,
                         check=True, timeout=30).stdout
    data: list[dict[str, Any]] = json.loads(out)
    return data[0]


def expected_uid() -> int:
    return 1000 if os.getuid() == 0 else os.getuid()
