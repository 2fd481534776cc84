"""The real CLI refuses private directories another user prepared (the runtime base
``/tmp/devenv-<uid>``, the ControlMaster directory in it): a clear error, never a traceback,
and nothing in them is used.

With XDG_RUNTIME_DIR unset, devenv uses /tmp/devenv-<uid> itself. So that the machine's own
(shared by every test) is never touched, each devenv here runs in a private mount namespace
(``unshare -m``) where a directory another user owns is bind-mounted over the real path.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from devenv import paths
from tests.integration.conftest import DEVENV, Devenv

OTHER = 12345
BASE = Path("/tmp", f"devenv-{os.getuid()}")  # what devenv uses without XDG_RUNTIME_DIR


def _can_unshare() -> bool:
    if os.getuid() != 0 or shutil.which("unshare") is None:
        return False
    return subprocess.run(["unshare", "-m", "true"], capture_output=True,
                          check=False).returncode == 0


pytestmark = pytest.mark.skipif(not _can_unshare(),
                                reason="needs root and unshare -m (a private mount namespace)")


def hostile_dir(path: Path) -> Path:
    """What another user would prepare: a directory of theirs, 0700."""
    path.mkdir(mode=0o700)
    os.chown(path, OTHER, OTHER)
    return path


def run_over(dv: Devenv, fake: Path, real: Path, *args: str,
             timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """``devenv ARGS`` with ``fake`` mounted over ``real``, in a mount namespace of its own."""
    script = 'mount --bind "$1" "$2" && shift 2 && exec "$@"'
    env = dict(dv.env)
    env.pop("XDG_RUNTIME_DIR", None)
    return subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", script,
                           "sh", str(fake), str(real), *DEVENV, *args],
                          capture_output=True, text=True, timeout=timeout, env=env,
                          check=False)


def refused(proc: subprocess.CompletedProcess[str], path: Path, code: int) -> None:
    assert proc.returncode == code, proc.stderr
    assert "Traceback" not in proc.stderr
    assert f"devenv: error: unsafe private directory {path}: it is owned by uid {OTHER}" \
        in proc.stderr, proc.stderr
    assert "another user may have created it" in proc.stderr


def test_a_runtime_base_another_user_made_is_refused(devenv_home: Path,
                                                     tmp_path: Path) -> None:
    paths.private_dir(BASE)  # the mount point (devenv makes it like this anyway)
    fake = hostile_dir(tmp_path / "theirs")
    runner = Devenv(devenv_home)
    # ssh-config regenerates devenv's ssh_config, whose ControlPath is in that base.
    refused(run_over(runner, fake, BASE, "ssh-config"), BASE, 4)
    assert os.listdir(fake) == []
    assert not (devenv_home / "state" / "ssh" / "config").exists()


class FakeMaster:
    """A unix socket where a ControlMaster socket would be: records whoever connects."""

    def __init__(self, path: Path) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(str(path))
        self.sock.listen()
        self.sock.settimeout(0.2)
        self.connections = 0
        self.stop = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stop:
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            conn.close()

    def close(self) -> None:
        self.stop = True
        self.thread.join(5)
        self.sock.close()


def test_exec_never_uses_a_control_dir_another_user_prepared(
        dv: Devenv, make_project: Any, tmp_path: Path) -> None:
    project = make_project("privproj")
    info = dv.up(project, env={"XDG_RUNTIME_DIR": ""})
    name, port = info["name"], info["port"]
    index = (dv.home / "state" / "index").read_text().splitlines()
    control = Path(next(line.split("\t", 1)[1] for line in index
                        if line.startswith("control\t")))
    assert control.parent == BASE
    for real in (control, BASE):
        fake = hostile_dir(tmp_path / f"theirs-{real.name}")
        sockets = fake / control.name if real == BASE else fake
        if real == BASE:
            hostile_dir(sockets)
        master = FakeMaster(sockets / f"e{port}")  # would get our command, stdin and output
        try:
            for target in (name, str(project)):  # fast path, and the full path
                refused(run_over(dv, fake, real, "exec", target, "--", "true"), real, 125)
            refused(run_over(dv, fake, real, "ssh", name, "--", "true"), real, 125)
        finally:
            master.close()
        assert master.connections == 0
    # Outside the namespaces the real directory was never changed: exec works as before.
    give_up = time.monotonic() + 15
    while dv.run("exec", name, "--", "true", env={"XDG_RUNTIME_DIR": ""}).returncode != 0:
        assert time.monotonic() < give_up
        time.sleep(0.2)
    assert dv.ok("exec", name, "--", "echo", "ok", env={"XDG_RUNTIME_DIR": ""}).stdout == "ok\n"
