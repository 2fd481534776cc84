from __future__ import annotations

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
    (home / ".claude" / "settings.json").write_text("{}")
    (home / ".claude" / ".credentials.json").write_text("secret")
    (home / ".claude.json").write_text("{}")
    (home / ".gitconfig").write_text("[user]\n")
    monkeypatch.setenv("HOME", str(home))
    keys = tmp_path / "keys"
    keys.mkdir()
    tools = catalogue.resolve([("claude-code", "x")], catalogue.builtin())
    mounts = profiles.prepare("env-a", tools, str(keys))
    targets = {target: (source, ro) for source, target, ro in mounts}
    assert targets["/run/devenv/host/.claude"] == (str(home / ".claude"), True)
    assert all(ro for _, ro in targets.values())  # nothing of the host is writable
    lines = (keys / "profile.tsv").read_text().splitlines()
    link = next(line for line in lines if line.startswith("link\t"))
    _, source, rel, private = link.split("\t")
    assert (source, rel) == ("/run/devenv/host/.claude", ".claude")
    assert {"projects", ".credentials.json"} <= set(private.split(","))
    assert "file\t/run/devenv/ro/.gitconfig\t.gitconfig" in lines
    assert "seed\t/run/devenv/seed/.claude.json\t.claude.json" in lines
    assert "seed\t/run/devenv/seed/.claude/.credentials.json\t.claude/.credentials.json" in lines
    staged = devenv_home / "state" / "envs" / "env-a" / "profile"
    assert (staged / "seed" / ".claude" / ".credentials.json").read_text() == "secret"
    assert oct((staged / "seed" / ".claude.json").stat().st_mode & 0o777) == "0o600"
    # Missing host files are skipped silently.
    monkeypatch.setenv("HOME", str(tmp_path / "nobody"))
    profiles.prepare("env-a", tools, str(keys))
    assert (keys / "profile.tsv").read_text() == ""
    assert os.listdir(staged / "seed") == []
