from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from devenv.envs import drift, profiles
from devenv.images import catalogue


def test_differences_name_what_changed() -> None:
    old = {"image": "a", "env": {"A": "1", "B": "2"}, "mounts": [], "post_create": None,
           "post_start": None, "ssh_port": None}
    new = {**old, "env": {"A": "9", "C": "3"}, "ssh_port": 23000}
    assert drift.differences(old, new) == ["env.A changed", "env.B removed", "env.C added",
                                           "ssh_port changed"]
    assert drift.differences(old, dict(old)) == []
    assert drift.differences({}, {**old, "image": "b"})[0].startswith("image")


def test_profile_staging(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                         devenv_home: Path) -> None:
    home = tmp_path / "home"
    (home / ".claude" / "agents").mkdir(parents=True)
    (home / ".claude" / "projects" / "other-project").mkdir(parents=True)
    (home / ".claude" / "history.jsonl").write_text("host history")
    (home / ".claude" / "settings.json").write_text("{}")
    (home / ".claude" / ".credentials.json").write_text("secret")
    (home / ".claude.json").write_text(
        '{"numStartups": 3, "projects": {"/other/project": {"history": ["secret"]}}}')
    (home / ".gitconfig").write_text("[user]\n")
    monkeypatch.setenv("HOME", str(home))
    keys = tmp_path / "keys"
    keys.mkdir()
    tools = catalogue.resolve([("claude-code", "x")], catalogue.builtin())
    mounts = profiles.prepare("env-a", tools, str(keys))
    targets = {target: (source, ro) for source, target, ro in mounts}
    assert targets["/run/devenv/host/.claude/agents"] == (str(home / ".claude" / "agents"), True)
    assert all(ro for _, ro in targets.values())  # nothing of the host is writable
    # Nothing mounted leads to the host's private entries, nor to ~/.claude as a whole.
    sources = [source for source, _ in targets.values()]
    assert str(home / ".claude") not in sources
    assert not any("projects" in s or "history" in s for s in sources)
    lines = (keys / "profile.tsv").read_text().splitlines()
    assert "link\t/run/devenv/host/.claude/agents\t.claude/agents\t" in lines
    assert "file\t/run/devenv/ro/.claude/settings.json\t.claude/settings.json" in lines
    assert "include\t/run/devenv/ro/.gitconfig\t.gitconfig" in lines
    assert "seed\t/run/devenv/seed/.claude.json\t.claude.json" in lines
    assert "seed\t/run/devenv/seed/.claude/.credentials.json\t.claude/.credentials.json" in lines
    staged = devenv_home / "state" / "envs" / "env-a" / "profile"
    assert (staged / "seed" / ".claude" / ".credentials.json").read_text() == "secret"
    assert oct((staged / "seed" / ".claude.json").stat().st_mode & 0o777) == "0o600"
    # Every project's history in ~/.claude.json stays on the host.
    seeded = json.loads((staged / "seed" / ".claude.json").read_text())
    assert seeded == {"numStartups": 3}
    # Missing host files are skipped silently.
    monkeypatch.setenv("HOME", str(tmp_path / "nobody"))
    profiles.prepare("env-a", tools, str(keys))
    assert (keys / "profile.tsv").read_text() == ""
    assert os.listdir(staged / "seed") == []


def test_private_entries_of_a_shared_directory_are_not_in_its_view(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, devenv_home: Path) -> None:
    """A recipe that shares a whole directory but marks entries private: the view holds
    copies of the shareable files and mount points for its subdirectories, never the
    private ones, and a link out of the home directory is not followed."""
    home = tmp_path / "home"
    tool_dir = home / ".tool"
    (tool_dir / "plugins").mkdir(parents=True)
    (tool_dir / "sessions").mkdir()
    (tool_dir / "config.json").write_text("{}")
    (tool_dir / "token").write_text("secret")
    outside = tmp_path / "outside"
    outside.mkdir()
    (tool_dir / "escape").symlink_to(outside)
    monkeypatch.setenv("HOME", str(home))
    recipes = tmp_path / "recipes"
    (recipes / "mytool").mkdir(parents=True)
    (recipes / "mytool" / "Dockerfile").write_text("ARG DEVENV_PARENT\nFROM ${DEVENV_PARENT}\n")
    (recipes / "mytool" / "manifest.toml").write_text(
        'summary = "x"\nversion = "true"\n[profile]\nreadonly = ["~/.tool/"]\n'
        'private = ["sessions", "token"]\n')
    tools = list(catalogue._from_directory(recipes).values())
    keys = tmp_path / "keys"
    keys.mkdir()
    mounts = profiles.prepare("env-b", tools, str(keys))
    view = devenv_home / "state" / "envs" / "env-b" / "profile" / "view" / ".tool"
    assert (str(view), "/run/devenv/host/.tool", True) in mounts
    assert (str(tool_dir / "plugins"), "/run/devenv/host/.tool/plugins", True) in mounts
    assert sorted(os.listdir(view)) == ["config.json", "plugins"]
    assert not any(str(outside) in source or "sessions" in source for source, _, _ in mounts)
