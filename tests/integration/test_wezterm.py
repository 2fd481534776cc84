"""The WezTerm module, executed by a real Lua interpreter (Debian's lua5.4) with a stub
``wezterm`` module, the way wezterm.lua would load it."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from devenv.integrations import wezterm

from .conftest import Devenv

LUA = shutil.which("lua5.4")
pytestmark = pytest.mark.skipif(LUA is None, reason="lua5.4 is not installed (scripts/test.sh "
                                "installs it)")

STUB = """
local M = {}
function M.config_builder() return { ssh_domains = { { name = "users-own" } } } end
return M
"""

WEZTERM_LUA = """
package.path = {stub_dir} .. "/?.lua;" .. package.path
local wezterm = require "wezterm"
local config = wezterm.config_builder()
{snippet}
for _, d in ipairs(config.ssh_domains) do
  local o = d.ssh_option or {{}}
  print(table.concat({{d.name, d.remote_address or "-", d.username or "-",
    d.multiplexing or "-", d.remote_wezterm_path or "-", o.identityfile or "-",
    o.userknownhostsfile or "-", o.hostkeyalias or "-", o.stricthostkeychecking or "-"}}, "|"))
end
"""


def run_lua(tmp_path: Path, module: Path) -> list[list[str]]:
    stub_dir = tmp_path / "stub"
    stub_dir.mkdir(exist_ok=True)
    (stub_dir / "wezterm.lua").write_text(STUB)
    snippet = wezterm.SNIPPET.format(path=wezterm.lua_string(str(module)))
    script = tmp_path / "wezterm.lua"
    script.write_text(WEZTERM_LUA.format(stub_dir=wezterm.lua_string(str(stub_dir)),
                                         snippet=snippet))
    got = subprocess.run([str(LUA), str(script)], capture_output=True, check=False)
    assert got.returncode == 0, got.stderr
    # Bytes and split("\n"): text mode and splitlines() would eat a path's carriage return.
    return [line.split("|") for line in got.stdout.decode().split("\n") if line]


def test_one_domain_per_environment(dv: Devenv, make_project: Any, tmp_path: Path) -> None:
    infos = [dv.up(make_project(f"w{i}")) for i in range(2)]
    printed = dv.ok("wezterm", "--print").stdout
    module = tmp_path / "devenv.lua"
    module.write_text(printed)
    assert "dofile(" in dv.ok("wezterm", "--install").stdout
    rows = run_lua(tmp_path, module)
    assert rows[0][0] == "users-own"  # the user's own domains are kept
    ssh_dir = dv.home / "state" / "ssh"
    known_hosts = dv.home / "state" / "wezterm" / "known_hosts"
    expected = sorted(
        [f"devenv:{i['name']}", f"127.0.0.1:{i['port']}", "dev", "None", "-",
         str(ssh_dir / "id_ed25519"), str(known_hosts), i["container"], "yes"]
        for i in infos)
    assert sorted(rows[1:]) == expected


def connect_like_wezterm(row: list[str]) -> subprocess.CompletedProcess[str]:
    """OpenSSH with only what WezTerm's SSH clients use from a domain: the address, the user,
    the key and userknownhostsfile, strictly checked -- and no HostKeyAlias, which they
    ignore (the host key is looked up as [127.0.0.1]:<port>)."""
    host, port = row[1].rsplit(":", 1)
    return subprocess.run(
        ["ssh", "-F", "/dev/null", "-p", port, "-l", row[2], "-o", f"IdentityFile={row[5]}",
         "-o", "IdentitiesOnly=yes", "-o", f"UserKnownHostsFile={row[6]}",
         "-o", "GlobalKnownHostsFile=/dev/null", "-o", "StrictHostKeyChecking=yes",
         "-o", "BatchMode=yes", "-o", "ConnectTimeout=15", host, "echo", "reached"],
        capture_output=True, text=True, timeout=60, check=False)


def test_domains_pass_strict_host_key_checking_without_an_alias(
        dv: Devenv, make_project: Any, tmp_path: Path) -> None:
    project = make_project("wzkeys")
    dv.up(project)
    module = dv.home / "state" / "wezterm" / "devenv.lua"
    (row,) = run_lua(tmp_path, module)[1:]
    got = connect_like_wezterm(row)
    assert got.returncode == 0 and got.stdout == "reached\n", got.stderr
    # devenv's own known_hosts pins [127.0.0.1]:<port> too: a client without HostKeyAlias
    # (paramiko, asyncssh, WezTerm) checks strictly with that file alone ...
    own = dv.home / "state" / "ssh" / "known_hosts"
    plain = connect_like_wezterm([*row[:6], str(own), *row[7:]])
    assert plain.returncode == 0 and plain.stdout == "reached\n", plain.stderr
    # ... and a wrong key there is refused.
    from devenv.ssh.keys import generate

    wrong = tmp_path / "wrong_known_hosts"
    wrong.write_text(f"[127.0.0.1]:{row[1].rsplit(':', 1)[1]} {generate('impostor')[1]}\n")
    refused = connect_like_wezterm([*row[:6], str(wrong), *row[7:]])
    assert refused.returncode == 255 and "verification failed" in refused.stderr
    # A new port after stop/up: the regenerated module and known_hosts still check strictly.
    dv.ok("stop", str(project))
    with __import__("socket").socket() as s:
        s.bind(("127.0.0.1", 0))
        other = s.getsockname()[1]
    dv.up(project, "--port", str(other))
    (row,) = run_lua(tmp_path, module)[1:]
    assert row[1] == f"127.0.0.1:{other}"
    assert connect_like_wezterm(row).returncode == 0


def test_mux_domains_and_odd_paths(tmp_path: Path) -> None:
    odd = tmp_path / 'we"ird\\dir\r\x01' / "9\ttab"  # a digit after an escape too
    odd.mkdir(parents=True)
    module = tmp_path / "devenv.lua"
    key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAexample"
    module.write_text(wezterm.render(
        [wezterm.Domain("a-b", 22201, "dev", True, key),
         wezterm.Domain("c-d", 22202, "dev", False, key)], odd / "id", odd / "kh"))
    rows = run_lua(tmp_path, module)
    assert rows[1] == ["devenv:a-b", "127.0.0.1:22201", "dev", "WezTerm", wezterm.MUX_PATH,
                       str(odd / "id"), str(odd / "kh"), "devenv-a-b", "yes"]
    assert rows[2][3:5] == ["None", "-"]
