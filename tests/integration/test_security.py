from __future__ import annotations

import subprocess
from pathlib import Path
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
    assert host["PidsLimit"] == 4096  # a fork bomb stops there
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
    # (a connection of its own: the exec above may have left a ControlMaster, whose
    # sessions would not authenticate again)
    refused = dv.ssh(info["container"], "true",
                     extra=("-o", "ControlPath=none", "-o", "PubkeyAuthentication=no", "-o",
                            "PreferredAuthentications=password,keyboard-interactive"))
    assert refused.returncode == 255 and "Permission denied" in refused.stderr


def test_host_key_checking_is_strict(dv: Devenv, make_project: Any) -> None:
    info = dv.up(make_project())
    known = dv.home / "state" / "ssh" / "known_hosts"
    good = known.read_text()
    assert good.startswith(f"{info['container']},[127.0.0.1]:{info['port']} ssh-ed25519 ")
    # A different key under the same alias must make ssh refuse to connect.
    from devenv.ssh.keys import generate

    _, other = generate("impostor")
    known.write_text(f"{info['container']} {other}\n")
    bad = dv.ssh(info["container"], "true", extra=("-o", "ControlPath=none"))
    assert bad.returncode == 255 and "Host key verification failed" in bad.stderr
    known.write_text(good)
    assert dv.ssh(info["container"], "true").returncode == 0


def test_foreign_key_and_docker_socket(dv: Devenv, make_project: Any, tmp_path: Path) -> None:
    info = dv.up(make_project())
    key = tmp_path / "foreign"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    # Without devenv's ssh_config, so devenv's own key is not offered too.
    foreign = subprocess.run(
        ["ssh", "-F", "/dev/null", "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes",
         "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
         "-i", str(key), "-p", str(info["port"]), "dev@127.0.0.1", "true"],
        capture_output=True, text=True, timeout=60, check=False)
    assert foreign.returncode == 255 and "Permission denied" in foreign.stderr
    inside = dv.run("exec", info["path"], "--", "sh", "-c",
                    "ls -la /var/run/docker.sock /run/docker.sock 2>&1;"
                    " grep -c docker.sock /proc/self/mountinfo")
    assert "No such file" in inside.stdout and inside.stdout.split()[-1] == "0", inside.stdout


def test_host_provided_files_are_read_only_and_secrets_private(
        dv: Devenv, make_project: Any, tmp_path: Path) -> None:
    home = tmp_path / "host-home"
    home.mkdir()
    (home / ".gitconfig").write_text("[user]\n\tname = Host Person\n")
    info = dv.up(make_project(), env={"HOME": str(home)})
    got = dv.run("exec", info["path"], "--", "sh", "-c", """
        for f in /run/devenv/ro/.gitconfig /run/devenv/keys/authorized_keys; do
          if echo x >> "$f" 2>/dev/null; then echo "WRITABLE $f"; else echo "ro $f"; fi
        done
        git config --global user.email agent@example.com && git config user.name
    """, env={"HOME": str(home)})
    assert got.stdout.split("\n")[:3] == ["ro /run/devenv/ro/.gitconfig",
                                          "ro /run/devenv/keys/authorized_keys",
                                          "Host Person"], got.stdout + got.stderr
    assert (home / ".gitconfig").read_text() == "[user]\n\tname = Host Person\n"
    # Every file holding a key or the database of keys: 0600 in 0700 directories.
    state = dv.home / "state"
    secrets = [state / "state.db", *(state / "ssh").glob("id_*[!b]"),
               *state.glob("envs/*/keys/ssh_host_ed25519_key")]
    assert len(secrets) >= 3
    for path in secrets:
        assert path.stat().st_mode & 0o777 == 0o600, path
        assert path.parent.stat().st_mode & 0o777 == 0o700, path.parent
    for extra in ("state.db-wal", "state.db-shm"):
        if (state / extra).exists():
            assert (state / extra).stat().st_mode & 0o777 == 0o600


def test_private_entries_of_a_tool_profile_are_not_visible(
        dv: Devenv, make_project: Any, tmp_path: Path) -> None:
    """A profile that shares a directory but keeps entries private (as Claude Code's state
    once was): the private entries are nowhere in the container."""
    home = tmp_path / "host-home"
    (home / ".tool" / "projects" / "other-project").mkdir(parents=True)
    (home / ".tool" / "projects" / "other-project" / "transcript").write_text("secret")
    (home / ".tool" / "history.jsonl").write_text("secret history")
    (home / ".tool" / "agents").mkdir()
    (home / ".tool" / "agents" / "a.md").write_text("shared agent")
    (home / ".tool" / "settings.json").write_text("{}")
    recipe = dv.home / "config" / "tools" / "sharer"
    recipe.mkdir(parents=True)
    (recipe / "Dockerfile").write_text("ARG DEVENV_PARENT\nFROM ${DEVENV_PARENT}\n")
    (recipe / "manifest.toml").write_text(
        'summary = "x"\nversion = "true"\n[profile]\nreadonly = ["~/.tool/"]\n'
        'private = ["projects", "history.jsonl"]\n')
    project = make_project()
    (project / ".devenv").mkdir()
    (project / ".devenv" / "devenv.toml").write_text('tools = ["sharer"]\n')
    env = {"HOME": str(home)}
    dv.ok("up", str(project), env=env, timeout=900)
    got = dv.run("exec", str(project), "--", "sh", "-c",
                 "cat ~/.tool/agents/a.md; echo; ls -A ~/.tool /run/devenv/host/.tool;"
                 " grep -rls secret /run /home /tmp || true", env=env)
    assert got.returncode == 0, got.stderr
    assert got.stdout.startswith("shared agent\n"), got.stdout
    assert "projects" not in got.stdout and "history" not in got.stdout, got.stdout


def test_status_log_cannot_lead_the_host_anywhere(dv: Devenv, make_project: Any,
                                                  tmp_path: Path) -> None:
    """The one host file a container writes is a single mounted file: no link can be planted
    beside it or in its place, and what devenv quotes from it is the container's own words
    (items 1 and 2 of the hostile review: chown through links, host files read through
    links)."""
    victim = tmp_path / "victim"
    victim.write_text("root-only secret line\n")
    victim.chmod(0o600)
    victim_dir = tmp_path / "victim-dir"
    victim_dir.mkdir(mode=0o700)
    before = [(p.stat().st_uid, p.stat().st_mode) for p in (victim, victim_dir)]
    project = make_project()
    info = dv.up(project)
    plant = dv.run("exec", info["path"], "--", "sh", "-c", f"""
        cd /run/devenv/status || exit 9
        ln -s {victim} e 2>/dev/null && echo PLANTED-LINK
        ln -s {victim_dir} d 2>/dev/null && echo PLANTED-DIR-LINK
        rm -f init.log 2>/dev/null && echo REMOVED-LOG
        ln -sf {victim} init.log 2>/dev/null && echo REPLACED-LOG
        echo fine
    """)
    assert plant.stdout == "fine\n", plant.stdout + plant.stderr
    dv.ok("stop", str(project))
    dv.up(project)
    assert [(p.stat().st_uid, p.stat().st_mode) for p in (victim, victim_dir)] == before

    # A container that dies while starting: devenv quotes its last words, sanitised, and
    # nothing else.
    dying = make_project()
    (dying / ".devenv").mkdir()
    (dying / ".devenv" / "die.sh").write_text(
        "#!/bin/sh\nprintf 'dying \\033[31mred\\n' >> /run/devenv/status/init.log\n"
        f"ln -sf {victim} /run/devenv/status/init.log\nexit 3\n")
    (dying / ".devenv" / "Dockerfile").write_text(
        "ARG DEVENV_BASE_IMAGE\nFROM ${DEVENV_BASE_IMAGE}\n"
        "COPY die.sh /usr/local/bin/devenv-init\n")
    (dying / ".devenv" / "die.sh").chmod(0o755)
    got = dv.run("up", str(dying), timeout=900)
    assert got.returncode != 0 and "Traceback" not in got.stderr
    assert "exited while starting: dying \\x1b[31mred" in got.stderr, got.stderr
    assert "secret" not in got.stderr
