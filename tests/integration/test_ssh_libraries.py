"""SSH clients that read neither HostKeyAlias nor Include, and configuration tools, against a
real environment: paramiko verifying strictly with devenv's known_hosts alone (RejectPolicy),
and Ansible's ping module, which needs python3 on the default image."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import paramiko  # a test dependency ([test] in pyproject.toml), as is ansible-core
import pytest

from .conftest import Devenv


def test_paramiko_with_reject_policy_and_only_devenvs_known_hosts(
        dv: Devenv, make_project: Any, tmp_path: Path) -> None:
    info = dv.up(make_project("pk"))
    ssh = dv.home / "state" / "ssh"
    key = paramiko.Ed25519Key.from_private_key_file(str(ssh / "id_ed25519"))

    def connect(known_hosts: Path) -> str:
        client = paramiko.SSHClient()
        client.load_host_keys(str(known_hosts))
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
        try:
            client.connect("127.0.0.1", port=info["port"], username="dev", pkey=key,
                           look_for_keys=False, allow_agent=False, timeout=15)
            _, out, _ = client.exec_command("echo ok", timeout=30)
            return str(out.read().decode())
        finally:
            client.close()

    assert connect(ssh / "known_hosts") == "ok\n"
    from devenv.ssh.keys import generate

    wrong = tmp_path / "known_hosts"
    wrong.write_text(f"[127.0.0.1]:{info['port']} {generate('impostor')[1]}\n")
    with pytest.raises(paramiko.BadHostKeyException):
        connect(wrong)
    wrong.write_text("")  # unknown: RejectPolicy refuses
    with pytest.raises(paramiko.SSHException):
        connect(wrong)


def test_ansible_ping_on_the_default_image(dv: Devenv, make_project: Any,
                                           tmp_path: Path) -> None:
    ansible = os.path.join(os.path.dirname(sys.executable), "ansible")  # the venv's
    info = dv.up(make_project("ans"))
    assert dv.ok("exec", info["path"], "--", "python3", "-c",
                 "import sys; print(sys.version_info[0])").stdout == "3\n"
    env = dict(os.environ, HOME=str(tmp_path),  # its ~/.ansible goes here, not the user's
               ANSIBLE_SSH_CONTROL_PATH_DIR=str(tmp_path / "cp"),
               ANSIBLE_LOCAL_TEMP=str(tmp_path / "tmp"), ANSIBLE_NOCOLOR="1")
    got = subprocess.run(
        [ansible, "all", "-i", f"{info['container']},", "-m", "ping",
         "--ssh-common-args", f"-F {dv.ssh_config}"],
        env=env, capture_output=True, text=True, timeout=180, check=False)
    assert got.returncode == 0, got.stdout + got.stderr
    assert '"ping": "pong"' in got.stdout and "SUCCESS" in got.stdout
