"""WezTerm SSH domains for every known environment, as a Lua module.

WezTerm cannot add domains at run time, so the module lists every project devenv knows, on
its stable port; devenv rewrites it whenever it rewrites its ssh_config. ``wezterm.lua`` loads
it with two lines (see :data:`SNIPPET`). Environments with the ``wezterm-mux`` tool get
``multiplexing = "WezTerm"`` (WezTerm's own mux over SSH); the others ``"None"`` (plain SSH).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from devenv.lockfile import atomic_write
from devenv.paths import ensure_private_dir, ssh_dir

MUX_PATH = "/usr/bin/wezterm"
SNIPPET = """\
local devenv = dofile({path})
devenv.apply_to_config(config)"""


@dataclass(frozen=True)
class Domain:
    name: str  # the environment name
    port: int
    user: str
    mux: bool  # the environment has wezterm-mux-server


def module_path() -> Path:
    return ssh_dir().parent / "wezterm" / "devenv.lua"


def lua_string(text: str) -> str:
    """A Lua string literal for ``text`` (paths may hold quotes and backslashes)."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def render(domains: Iterable[Domain], identity: Path, known_hosts: Path) -> str:
    lines = ["-- Written by devenv (devenv wezterm --print); regenerated on every 'devenv up'.",
             "local DOMAINS = {"]
    for d in domains:
        lines += [
            "  {",
            f"    name = {lua_string('devenv:' + d.name)},",
            f"    remote_address = {lua_string(f'127.0.0.1:{d.port}')},",
            f"    username = {lua_string(d.user)},",
            f"    multiplexing = {lua_string('WezTerm' if d.mux else 'None')},",
        ]
        if d.mux:
            lines.append(f"    remote_wezterm_path = {lua_string(MUX_PATH)},")
        lines += [
            "    ssh_option = {",
            f"      identityfile = {lua_string(str(identity))},",
            '      identitiesonly = "yes",',
            f"      userknownhostsfile = {lua_string(str(known_hosts))},",
            f"      hostkeyalias = {lua_string('devenv-' + d.name)},",
            '      stricthostkeychecking = "yes",',
            "    },",
            "  },",
        ]
    lines += [
        "}",
        "return {",
        "  ssh_domains = DOMAINS,",
        "  apply_to_config = function(config)",
        "    config.ssh_domains = config.ssh_domains or {}",
        "    for _, domain in ipairs(DOMAINS) do table.insert(config.ssh_domains, domain) end",
        "  end,",
        "}",
        "",
    ]
    return "\n".join(lines)


def write(domains: list[Domain], identity: Path, known_hosts: Path) -> Path:
    path = module_path()
    ensure_private_dir(path.parent)
    atomic_write(path, render(domains, identity, known_hosts), 0o644)
    return path


def snippet() -> str:
    return SNIPPET.format(path=lua_string(str(module_path())))
