"""``devenv wezterm [--print | --install]``: WezTerm SSH domains for every environment."""

from __future__ import annotations

from devenv import state
from devenv.envs import registry
from devenv.integrations import wezterm


def run(*, install: bool = False) -> int:
    conn = state.connect()
    try:
        registry.refresh_files(conn)  # writes the module, current
    finally:
        conn.close()
    if install:
        print(f"-- devenv keeps {wezterm.module_path()} current; add these two lines to "
              "wezterm.lua (after `local config = wezterm.config_builder()`):")
        print(wezterm.snippet())
        return 0
    print(wezterm.module_path().read_text(), end="")
    return 0
