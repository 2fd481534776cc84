"""Persistent sessions: names, the listing parser, and the remote script run by a real
``sh`` against a real tmux (on a private socket), so quoting is tested for real."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from devenv.envs import sessions as tmux
from devenv.errors import UsageError


@pytest.mark.parametrize("name", ["agent", "a-b_C9", "x" * 64])
def test_good_names(name: str) -> None:
    assert tmux.check_name(name) == name


@pytest.mark.parametrize("name", ["", "a:b", "a.b", "a b", "é", "x" * 65, "$(id)"])
def test_bad_names(name: str) -> None:
    with pytest.raises(UsageError, match="invalid session name"):
        tmux.check_name(name)


def test_parse_sessions() -> None:
    text = ("zeta\t0\t1700000000\t2\tsleep\t/workspace/p\tsleep 1000\n"
            "agent\t2\t1700000100\t1\tbash\t/workspaces/fix-login\t\n"
            "garbage line\n"
            "q\t1\t1700000200\t1\tsh\t/\tsh -c \"exec \\\"$0\\\"\" \"/d ir/it's\"\n"
            "tabs\t0\t1\t1\tpython3\t/workspaces/b/src\tpython3 -c \"a\tb\"\n")
    rows = tmux.parse_sessions(text)
    assert [r.name for r in rows] == ["agent", "q", "tabs", "zeta"]
    agent, q, tabs, zeta = rows
    assert (agent.state, agent.clients, agent.command, agent.running) == \
        ("attached", 2, "", "bash")
    assert (zeta.state, zeta.windows, zeta.created, zeta.command) == \
        ("detached", 2, 1700000000, "sleep 1000")
    assert q.command == "/d ir/it's"  # a one-word command, shown as typed
    assert tabs.command == 'python3 -c "a\tb"'
    assert (agent.workspace, tabs.workspace, zeta.workspace, q.workspace) == \
        ("fix-login", "b", "", "")


@pytest.fixture
def tmux_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    if shutil.which("tmux") is None:
        if os.environ.get("DEVENV_TEST_REQUIRE_ENGINE"):  # scripts/test.sh installed it
            pytest.fail("tmux is required but not installed")
        pytest.skip("tmux is not installed on this host (scripts/test.sh installs it)")
    sock_dir = tmp_path / "tmux"
    sock_dir.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TMUX")}
    env["TMUX_TMPDIR"] = str(sock_dir)  # a private server: never the user's own
    yield env
    subprocess.run(["tmux", "kill-server"], env=env, capture_output=True, check=False)


def _sh(script: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["sh", "-c", script], env=env, capture_output=True, text=True,
                          timeout=30, check=False)


def _wait_for(path: Path) -> str:
    deadline = time.monotonic() + 10
    while not path.exists() or not path.read_text():
        assert time.monotonic() < deadline, f"{path} never written"
        time.sleep(0.02)
    return path.read_text()


WORDS = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\0"),
                max_size=20)


@settings(max_examples=15, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(args=st.lists(WORDS, max_size=4))
@example(args=[";", "a;", "x\\;", "{", "}", "-d", "#{pane_id}", "$HOME"])
def test_detached_session_runs_the_command_exactly(args: list[str], tmux_env: dict[str, str],
                                                   tmp_path: Path) -> None:
    workspace = tmp_path / "we'ird $(dir) \"x\""
    workspace.mkdir(exist_ok=True)
    out = workspace / "argv.json"
    out.unlink(missing_ok=True)
    command = [sys.executable, "-c", "import json, os, sys; open('argv.json', 'w').write("
               "json.dumps([os.getcwd(), *sys.argv[1:]]))", *args]
    script = tmux.attach_script(str(workspace), "t1", command, tty=False, project="/p q")
    got = _sh(script, tmux_env)
    assert got.returncode == 0, got.stderr
    # It may end before tmux answers ("started, and its command has already ended").
    assert "devenv: session t1 started" in got.stderr
    assert json.loads(_wait_for(out)) == [str(workspace), *args]
    subprocess.run(["tmux", "kill-server"], env=tmux_env, capture_output=True, check=False)


def test_detached_start_says_how_to_attach(tmux_env: dict[str, str], tmp_path: Path) -> None:
    got = _sh(tmux.attach_script(str(tmp_path), "long", ["sleep", "60"], tty=False,
                                 project="/p q"), tmux_env)
    assert got.returncode == 0
    assert got.stderr == ("devenv: session long started, detached; attach: devenv '/p q' "
                          "--session long\n")


def test_second_start_keeps_the_running_session(tmux_env: dict[str, str],
                                                tmp_path: Path) -> None:
    first = tmux.attach_script(str(tmp_path), "agent", ["sleep", "60"], tty=False,
                               project="/p")
    assert _sh(first, tmux_env).returncode == 0
    again = _sh(tmux.attach_script(str(tmp_path), "agent", ["touch", "ran"], tty=False,
                                   project="/p"), tmux_env)
    assert again.returncode == 4  # the command was not run: a script must be able to tell
    assert "already running; the command was not run" in again.stderr
    plain = _sh(tmux.attach_script(str(tmp_path), "agent", [], tty=False, project="/p"),
                tmux_env)
    assert plain.returncode == 0 and "already running; attach" in plain.stderr
    listed = subprocess.run(tmux.list_argv(), env=tmux_env, capture_output=True, text=True,
                            check=True).stdout
    (row,) = tmux.parse_sessions(listed)
    assert (row.name, row.state, row.command, row.running) == \
        ("agent", "detached", "sleep 60", "sleep")
    assert not (tmp_path / "ran").exists()
    assert _sh(" ".join(tmux.kill_argv("agent")), tmux_env).returncode == 0
    left = subprocess.run(tmux.list_argv(), env=tmux_env, capture_output=True, text=True,
                          check=True).stdout
    assert tmux.parse_sessions(left) == []


def test_missing_workspace_or_tmux_fails_before_running(tmux_env: dict[str, str],
                                                        tmp_path: Path) -> None:
    gone = _sh(tmux.attach_script(str(tmp_path / "gone"), "a", ["true"], tty=False,
                                  project="/p"), tmux_env)
    assert gone.returncode == 125
    no_tmux = {**tmux_env, "PATH": str(tmp_path)}  # sh is found by absolute path below
    script = tmux.attach_script(str(tmp_path), "a", ["true"], tty=True, project="/p")
    got = subprocess.run(["/bin/sh", "-c", script], env=no_tmux, capture_output=True,
                         text=True, timeout=30, check=False)
    assert got.returncode == 125 and "tmux is not installed" in got.stderr


def test_one_word_is_a_program_not_shell_code(tmux_env: dict[str, str],
                                              tmp_path: Path) -> None:
    sneaky = _sh(tmux.attach_script(str(tmp_path), "w1", ["touch a b; echo pwned > c"],
                                    tty=False, project="/p"), tmux_env)
    assert sneaky.returncode == 0  # tmux started it; the program "touch a b; ..." is missing
    time.sleep(0.5)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tmux"]
    prog = tmp_path / "my prog's"
    prog.write_text("#!/bin/sh\necho ran > marker; exec sleep 60\n")
    prog.chmod(0o755)
    got = _sh(tmux.attach_script(str(tmp_path), "w2", [str(prog)], tty=False, project="/p"),
              tmux_env)
    assert got.returncode == 0, got.stderr
    assert _wait_for(tmp_path / "marker") == "ran\n"
    listed = subprocess.run(tmux.list_argv(), env=tmux_env, capture_output=True, text=True,
                            check=True).stdout
    rows = {r.name: r for r in tmux.parse_sessions(listed)}
    assert rows["w2"].command == str(prog)  # shown as typed, not as the wrapper


def test_unknown_terminal_falls_back_to_xterm() -> None:
    got = subprocess.run(["sh", "-c", f"{tmux.TERMINFO}; echo $TERM"], capture_output=True,
                         text=True, check=True, env={**os.environ, "TERM": "no-such-term"})
    assert got.stdout == "xterm-256color\n"
    kept = subprocess.run(["sh", "-c", f"{tmux.TERMINFO}; echo $TERM"], capture_output=True,
                          text=True, check=True, env={**os.environ, "TERM": "vt100"})
    assert kept.stdout == "vt100\n"
