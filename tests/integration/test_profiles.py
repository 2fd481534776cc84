"""Agent config profiles: host configs visible, never writable; seeded copies writable."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from .conftest import Devenv


def digest(paths: list[Path]) -> list[str]:
    return [hashlib.sha256(p.read_bytes()).hexdigest() for p in paths]


def test_claude_code_profile(dv: Devenv, make_project: Any, tmp_path: Path) -> None:
    home = tmp_path / "host-home"
    (home / ".claude" / "agents").mkdir(parents=True)
    (home / ".claude" / "projects" / "host-session").mkdir(parents=True)
    (home / ".claude" / "history.jsonl").write_text("host history\n")
    settings = home / ".claude" / "settings.json"
    settings.write_text('{"hooks": {"PreToolUse": []}}\n')
    credentials = home / ".claude" / ".credentials.json"
    credentials.write_text('{"token": "host"}\n')
    credentials.chmod(0o600)
    state = home / ".claude.json"
    state.write_text('{"numStartups": 1}\n')
    (home / ".claude" / "agents" / "reviewer.md").write_text("# reviewer\n")
    (home / ".gitconfig").write_text("[user]\n\tname = Host Person\n")
    host_files = [settings, credentials, state, home / ".gitconfig"]
    before = digest(host_files)

    project = make_project()
    (project / ".devenv").mkdir()
    (project / ".devenv" / "devenv.toml").write_text('tools = ["claude-code"]\n')
    env = {"HOME": str(home)}
    dv.ok("up", str(project), env=env, timeout=1800)
    script = r"""
        echo '{}' > ~/.claude/settings.json 2>/dev/null && echo settings:written \
            || echo settings:refused
        echo '{"numStartups": 9}' > ~/.claude.json && echo claude.json:written
        echo '{"token": "refreshed"}' > ~/.claude/.credentials.json && echo credentials:written
        cat ~/.claude/agents/reviewer.md
        mkdir -p ~/.claude/projects/mine && echo projects:local
        test -e ~/.claude/projects/host-session && echo projects:HOST-LEAKED || true
        find / \( -path /proc -o -path /sys \) -prune -o -name host-session -print 2>/dev/null \
            | grep -q . && echo HOST-LEAKED || true
        grep -rqs 'host history' /run /home && echo HISTORY-LEAKED || true
        git config user.name
        claude --version >/dev/null && echo claude:ok
    """
    got = dv.run("exec", str(project), "--", "bash", "-c", script, env=env)
    assert got.stdout.split("\n")[:8] == [
        "settings:refused", "claude.json:written", "credentials:written", "# reviewer",
        "projects:local", "Host Person", "claude:ok", ""], got.stdout + got.stderr
    assert digest(host_files) == before  # byte for byte
    assert sorted(p.name for p in (home / ".claude" / "projects").iterdir()) == ["host-session"]

    # The container's writable copies persist across stop/start; the host stays as it was.
    dv.ok("stop", str(project))
    dv.ok("up", str(project), env=env)
    again = dv.run("exec", str(project), "--", "cat", "/home/dev/.claude.json", env=env)
    assert again.stdout == '{"numStartups": 9}\n'
    assert digest(host_files) == before


def test_missing_host_files_are_skipped(dv: Devenv, make_project: Any, tmp_path: Path) -> None:
    home = tmp_path / "empty-home"
    home.mkdir()
    project = make_project()
    (project / ".devenv").mkdir()
    (project / ".devenv" / "devenv.toml").write_text('tools = ["codex"]\n')
    dv.ok("up", str(project), env={"HOME": str(home)}, timeout=1800)
    got = dv.run("exec", str(project), "--", "sh", "-c", "ls -A ~/.codex 2>&1; codex --version")
    assert got.returncode == 0, got.stderr
    assert "codex-cli" in got.stdout
