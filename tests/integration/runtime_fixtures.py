"""Targets for the runtime tests: a throwaway sshd container (devenv's default image run
with a test host key and client key, published on a fixed 127.0.0.1 port so it survives
restarts), a devenv environment, a git repository, and one event loop per module."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import time
import uuid
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest

T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Sshd:
    """A throwaway sshd: ``ssh -F config alias`` reaches it with a pinned host key."""

    container: str
    port: int
    config: Path
    alias: str
    keys: Path
    image: str

    def ssh(self, *command: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["ssh", "-F", str(self.config), "-o", "ControlPath=none",
                               self.alias, *command], capture_output=True, text=True,
                              timeout=timeout, check=False)

    def docker(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=60,
                              check=check)

    def start(self) -> None:
        self.docker("rm", "-f", self.container, check=False)
        self.docker("run", "-d", "--name", self.container, "--label", "devenv.test=sshd",
                    "-p", f"127.0.0.1:{self.port}:2222",
                    "-v", f"{self.keys}:/run/devenv/keys:ro", self.image)
        self.wait_ready()

    def wait_ready(self, timeout: float = 30) -> None:
        give_up = time.monotonic() + timeout
        while True:
            proc = self.ssh("true", timeout=10)
            if proc.returncode == 0:
                return
            if time.monotonic() > give_up:
                raise AssertionError(f"sshd did not come up: {proc.stderr}")
            time.sleep(0.2)

    def target(self, **kwargs: Any) -> Any:
        from devenv.runtime import SSHTarget

        return SSHTarget(self.alias, config_file=str(self.config), **kwargs)


def make_sshd(base: Path, image: str, name: str = "") -> Sshd:
    keys = base / "keys"
    keys.mkdir(parents=True)
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f",
                    str(keys / "ssh_host_ed25519_key")], check=True)
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(base / "id")],
                   check=True)
    (keys / "authorized_keys").write_text((base / "id.pub").read_text())
    if os.getuid() == 0:  # the container user is 1000 then (as for environments)
        for f in (keys, *keys.iterdir()):
            os.chown(f, 1000, 1000)
    port = free_port()
    host_pub = (keys / "ssh_host_ed25519_key.pub").read_text().split()[:2]
    (base / "known_hosts").write_text(f"[127.0.0.1]:{port} {' '.join(host_pub)}\n")
    alias = f"sshd-test-{name or uuid.uuid4().hex[:6]}"
    config = base / "ssh_config"
    config.write_text(
        f"Host {alias}\n  HostName 127.0.0.1\n  Port {port}\n  User dev\n"
        f"  IdentityFile {base / 'id'}\n  IdentitiesOnly yes\n"
        f"  UserKnownHostsFile {base / 'known_hosts'}\n  GlobalKnownHostsFile /dev/null\n"
        "  StrictHostKeyChecking yes\n  BatchMode yes\n  LogLevel ERROR\n")
    sshd = Sshd(f"devenv-test-sshd-{uuid.uuid4().hex[:8]}", port, config, alias, keys, image)
    sshd.start()
    return sshd


@pytest.fixture(scope="module")
def sshd(default_image: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sshd]:
    server = make_sshd(tmp_path_factory.mktemp("sshd"), default_image)
    yield server
    server.docker("rm", "-f", server.container, check=False)


@pytest.fixture(scope="module")
def aio() -> Iterator[Any]:
    """``aio(coro)`` runs a coroutine on this module's event loop (runtimes keep their
    pool per loop, so masters are reused across tests)."""
    loop = asyncio.new_event_loop()

    def run(coro: Coroutine[Any, Any, T], timeout: float = 300) -> T:
        return loop.run_until_complete(asyncio.wait_for(coro, timeout))

    yield run

    async def drain() -> None:
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await loop.shutdown_asyncgens()

    loop.run_until_complete(drain())
    loop.close()


def make_repo(path: Path) -> Path:
    path.mkdir(parents=True)
    env = dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@example.invalid",
               GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@example.invalid")
    for argv in (["git", "init", "-q", "-b", "main"], ["git", "commit", "-q",
                                                        "--allow-empty", "-m", "init"]):
        subprocess.run(argv, cwd=path, check=True, env=env, capture_output=True)
    return path


@dataclass
class Target:
    """A runtime under test and a scratch directory on its target."""

    kind: str
    runtime: Any
    scratch: str  # absolute, on the target

    def path(self, name: str) -> str:
        return f"{self.scratch}/{name}"


@pytest.fixture(scope="module")
def environment(default_image: str, tmp_path_factory: pytest.TempPathFactory
                ) -> Iterator[tuple[Any, Path]]:
    """A running devenv environment: (the Devenv runner, the project dir)."""
    from tests.integration.conftest import Devenv

    base = tmp_path_factory.mktemp("envrt")
    runner = Devenv(base / "home")
    # A parent of its own: xdist workers each start this module's environment, and the
    # environment (and container) name comes from <parent>-<basename>.
    project = base / f"p{uuid.uuid4().hex[:8]}" / "rtproj"
    project.mkdir(parents=True)
    project.chmod(0o777)
    runner.up(project)
    yield runner, project
    runner.clean()


def env_runtime(runner: Any, project: Path) -> Any:
    from devenv.envs import EnvRuntime

    old = os.environ.get("DEVENV_HOME")
    os.environ["DEVENV_HOME"] = str(runner.home)
    try:
        return EnvRuntime(str(project))
    finally:
        if old is None:
            os.environ.pop("DEVENV_HOME", None)
        else:
            os.environ["DEVENV_HOME"] = old


@pytest.fixture(scope="module", params=["local", "worktree", "ssh", "env"])
def target(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
           aio: Any) -> Iterator[Target]:
    """Each of the four runtimes, with a fresh scratch directory."""
    from devenv.runtime import LocalRuntime, SSHRuntime, WorktreeRuntime

    kind = request.param
    base = tmp_path_factory.mktemp(f"rt-{kind}")
    if kind == "local":
        (base / "scratch").mkdir()
        yield Target(kind, LocalRuntime(base), str(base / "scratch"))
        return
    if kind == "worktree":
        repo = make_repo(base / "repo")
        runtime = WorktreeRuntime(repo, "agent-1", base_dir=base / "worktrees")
        aio(runtime.ensure_dir("scratch"))
        yield Target(kind, runtime, aio(runtime.resolve_path("scratch")))
        return
    if kind == "ssh":
        server: Sshd = request.getfixturevalue("sshd")
        runtime = SSHRuntime(server.target(), max_channels=30)
        scratch = f"/tmp/scratch-{uuid.uuid4().hex[:8]}"
        aio(runtime.ensure_dir(scratch))
        yield Target(kind, runtime, scratch)
        aio(runtime.close())
        return
    runner, project = request.getfixturevalue("environment")
    runtime = env_runtime(runner, project)
    scratch = f"/tmp/scratch-{uuid.uuid4().hex[:8]}"
    aio(runtime.ensure_dir(scratch))
    yield Target(kind, runtime, scratch)
    aio(runtime.close())
