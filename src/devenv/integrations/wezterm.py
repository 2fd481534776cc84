"""WezTerm SSH domains for every known environment, as a Lua module.

WezTerm cannot add domains at run time, so the module lists every project devenv knows, on
its stable port; devenv rewrites it whenever it rewrites its ssh_config. ``wezterm.lua`` loads
it with two lines (see :data:`SNIPPET`). Environments with the ``wezterm-mux`` tool get
``multiplexing = "WezTerm"`` (WezTerm's own mux over SSH); the others ``"None"`` (plain SSH).

WezTerm's SSH clients ignore ``HostKeyAlias``: they look a host key up as
``[127.0.0.1]:<port>`` in ``userknownhostsfile``. So the domains get a known_hosts file of
their own that pins each environment's key under its (stable) port as well as its alias,
regenerated with the module: strict checking, and no trust-on-first-use prompt.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from devenv.lockfile import atomic_write
from devenv.paths import ensure_private_dir, ssh_dir
from devenv.ssh.config import render_known_hosts

TYPE_CHECKING = False
if TYPE_CHECKING:
    from devenv.envs.events import KnownEnv

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
    host_pub: str  # "ssh-ed25519 AAAA... comment": the environment's pinned host key


def module_path() -> Path:
    return ssh_dir().parent / "wezterm" / "devenv.lua"


def known_hosts_path() -> Path:
    return module_path().with_name("known_hosts")


def lua_string(text: str) -> str:
    """A Lua string literal for ``text`` (paths may hold quotes, backslashes and control
    characters; Lua's ``\\ddd`` takes a decimal byte, three digits so a digit may follow)."""
    out = []
    for char in text:
        if char in '"\\':
            out.append("\\" + char)
        elif ord(char) < 32 or ord(char) == 127:
            out.append(f"\\{ord(char):03d}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def render(domains: Iterable[Domain], identity: Path, known_hosts: Path) -> str:
    lines = ["-- Written by devenv (devenv wezterm --print); regenerated with its ssh_config.",
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


def write(domains: list[Domain], identity: Path) -> Path:
    """Regenerate the module and its known_hosts; return the module's path."""
    path = module_path()
    ensure_private_dir(path.parent)
    pins = ((f"[127.0.0.1]:{d.port},devenv-{d.name}", d.host_pub) for d in domains)
    atomic_write(known_hosts_path(), render_known_hosts(pins), 0o644)
    atomic_write(path, render(domains, identity, known_hosts_path()), 0o644)
    return path


def on_environments_changed(envs: list[KnownEnv], identity: Path) -> None:
    """Subscribed to :mod:`devenv.envs.events`: the domains follow the known environments."""
    write([Domain(e.name, e.port, e.user, "wezterm-mux" in e.tools, e.host_pub)
           for e in envs], identity)


def snippet() -> str:
    return SNIPPET.format(path=lua_string(str(module_path())))
