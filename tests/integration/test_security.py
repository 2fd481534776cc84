from __future__ import annotations

from typing import Any

from .conftest import Devenv, expected_uid, inspect


def test_container_is_locked_down(dv: Devenv, make_project: Any) -> None:
    info = dv.up(make_project())
    data = inspect(info["container"])
    host = data["HostConfig"]
    assert host["CapDrop"] == ["ALL"] and not host.get("CapAdd")
    assert "no-new-privileges" in host["SecurityOpt"]
    assert host["Init"] is True and host["AutoRemove"] is True
    assert host["Privileged"] is False
    assert data["Config"]["User"] == f"{expected_uid()}:{expected_uid()}"
    mounts = data["Mounts"]
    assert not any("docker.sock" in (m.get("Source", "") + m.get("Destination", ""))
                   for m in mounts)
    keys = next(m for m in mounts if m["Destination"] == "/run/devenv/keys")
    assert keys["RW"] is False
    bindings = data["NetworkSettings"]["Ports"]
    assert set(bindings) == {"2222/tcp"}
    assert [b["HostIp"] for b in bindings["2222/tcp"]] == ["127.0.0.1"]
    assert bindings["2222/tcp"][0]["HostPort"] == str(info["port"])


def test_no_root_process_and_key_only_sshd(dv: Devenv, make_project: Any) -> None:
    info = dv.up(make_project())
    ps = dv.ok("exec", info["path"], "--", "ps", "-eo", "uid=,comm=").stdout.split("\n")
    uids = {line.split()[0] for line in ps if line.strip()}
    assert uids == {str(expected_uid())}, ps
    # Password and keyboard-interactive logins are refused; only devenv's key works.
    refused = dv.ssh(info["container"], "true",
                     extra=("-o", "PubkeyAuthentication=no", "-o",
                            "PreferredAuthentications=password,keyboard-interactive"))
    assert refused.returncode == 255 and "Permission denied" in refused.stderr


def test_host_key_checking_is_strict(dv: Devenv, make_project: Any) -> None:
    info = dv.up(make_project())
    known = dv.home / "state" / "ssh" / "known_hosts"
    good = known.read_text()
    assert good.startswith(info["container"] + " ssh-ed25519 ")
    # A different key under the same alias must make ssh refuse to connect.
    from devenv.ssh.keys import generate

    _, other = generate("impostor")
    known.write_text(f"{info['container']} {other}\n")
    bad = dv.ssh(info["container"], "true")
    assert bad.returncode == 255 and "Host key verification failed" in bad.stderr
    known.write_text(good)
    assert dv.ssh(info["container"], "true").returncode == 0
