from __future__ import annotations

from pathlib import Path

import pytest

from devenv import __version__, cli
from devenv.commands import up
from devenv.errors import ConflictError

VERBS = ["shell", "up", "exec", "list", "stop", "trust", "help"]


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"devenv {__version__}"


@pytest.mark.parametrize("verb", VERBS)
def test_every_verb_has_help(verb: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main([verb, "-h"]) == 0
    assert "usage: devenv" in capsys.readouterr().out


def test_help_verb(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["help", "stop"]) == 0
    assert "devenv stop PATH|NAME" in capsys.readouterr().out
    assert cli.main(["help"]) == 0
    out = capsys.readouterr().out
    assert all(verb in out for verb in VERBS) and "exit codes" in out


@pytest.mark.parametrize("argv", [["up", "--port", "x"], ["list", "--bogus"], ["exec"],
                                  ["help", "nope"]])
def test_usage_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(argv) == 2
    assert "usage:" in capsys.readouterr().err


def test_bad_input_is_one_line_and_hint(tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["up", str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("devenv: error: project path does not exist")
    assert err[1].startswith("devenv: hint: ")
    assert len(err) == 2


def test_exec_and_shell_use_125_for_their_own_failures(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["exec", str(tmp_path / "missing"), "--", "true"]) == 125
    assert cli.main([str(tmp_path / "missing")]) == 125
    assert cli.main(["exec", str(tmp_path), "--"]) == 125
    assert "no command given" in capsys.readouterr().err


def test_conflicts_map_to_4(monkeypatch: pytest.MonkeyPatch,
                            capsys: pytest.CaptureFixture[str]) -> None:
    def refuse(*args: object, **kwargs: object) -> int:
        raise ConflictError("taken", "pick another")

    monkeypatch.setattr(up, "run", refuse)
    assert cli.main(["up", "."]) == 4
    assert capsys.readouterr().err == "devenv: error: taken\ndevenv: hint: pick another\n"


def test_unexpected_errors_exit_3_with_a_log(monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str],
                                             devenv_home: Path) -> None:
    def crash(*args: object, **kwargs: object) -> int:
        raise ZeroDivisionError("bug")

    monkeypatch.setattr(up, "run", crash)
    assert cli.main(["up", "."]) == 3
    err = capsys.readouterr().err
    assert "internal error: ZeroDivisionError: bug" in err and "Traceback" not in err
    log = devenv_home / "cache" / "logs" / "crash.log"
    assert "ZeroDivisionError" in log.read_text()


def test_interrupt_is_130(monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(*args: object, **kwargs: object) -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr(up, "run", interrupted)
    assert cli.main(["up", "."]) == 130


def test_stop_needs_targets_or_all(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["stop"]) == 2
    assert cli.main(["stop", "x", "--all"]) == 2


def test_exec_command_is_everything_after_the_first_dashes(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from devenv.commands import execute

    seen: list[tuple[str, list[str], str | None]] = []
    monkeypatch.setattr(execute, "run", lambda path, command, name=None, **_:
                        seen.append((path, command, name)) or 0)
    cli.main(["exec", "P", "--", "--", "x"])
    cli.main(["exec", "--name", "n", "P", "--", "-v", "--", "y"])
    cli.main(["exec", "P", "--cwd", "d", "--", "z"])  # options may follow PATH
    assert seen == [("P", ["--", "x"], None), ("P", ["-v", "--", "y"], "n"),
                    ("P", ["z"], None)]
    assert cli.main(["exec", "P", "ls", "-la"]) == 2  # the command comes after --


def test_shell_options_after_path_and_the_command_after_dashes(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from devenv.commands import shell

    seen: list[tuple[str, str | None, list[str]]] = []
    monkeypatch.setattr(shell, "run", lambda path, port=None, name=None, session=None,
                        command=None, here=False, grant_write=False, workspace=None: seen.append(
                            (path, session, command or []))
                        or 0)
    cli.main([".", "--session", "agent", "--", "sleep", "--", "9"])
    cli.main(["--session", "s", "P"])
    cli.main(["P", "--", "ls", "--session", "x"])
    assert seen == [(".", "agent", ["sleep", "--", "9"]), ("P", "s", []),
                    ("P", None, ["ls", "--session", "x"])]
    assert cli.main(["P", "stray"]) == 2  # a word that is neither PATH nor after "--"


def test_bad_session_name_fails_before_anything_starts(
        tmp_path: Path, devenv_home: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    from devenv.envs import start

    def must_not_start(*args: object, **kwargs: object) -> None:
        raise AssertionError("started")

    monkeypatch.setattr(start, "target", must_not_start)
    assert cli.main([str(tmp_path), "--session", "a.b"]) == 125
    assert "invalid session name 'a.b'" in capsys.readouterr().err
    assert not (devenv_home / "state").exists()  # no state, no keys, nothing


@pytest.mark.parametrize("value", ["nan", "inf", "-1", "0"])
def test_exec_timeout_must_be_a_positive_number(value: str,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["exec", "--timeout", value, "P", "--", "true"]) == 125
    err = capsys.readouterr().err
    assert "--timeout must be a positive number of seconds" in err and "Traceback" not in err


def test_errors_never_send_control_characters_to_the_terminal(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A message may quote what a container or a file said: escapes and newlines in it are
    shown escaped, on one line."""
    (tmp_path / ".devenv").mkdir()
    (tmp_path / ".devenv" / "devenv.toml").write_text('[env]\n"A\\u001b[31m\\nB" = "x"\n')
    assert cli.main(["config", str(tmp_path)]) == 7
    err = capsys.readouterr().err
    assert "\x1b" not in err and len(err.strip().splitlines()) == 2, err


def test_plain_forms_skip_argparse_with_the_same_arguments(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from devenv import cli_args
    from devenv.commands import stop

    seen: list[tuple[str, tuple[object, ...], dict[str, object]]] = []
    monkeypatch.setattr(up, "run", lambda *a, **k: seen.append(("up", a, k)) or 0)
    monkeypatch.setattr(stop, "run", lambda *a, **k: seen.append(("stop", a, k)) or 0)
    build = cli_args.build

    def no_parser(*args: object) -> object:
        raise AssertionError("argparse was built")

    monkeypatch.setattr(cli_args, "build", no_parser)
    assert cli.main(["up"]) == cli.main(["up", "p"]) == cli.main(["stop", "a", "b"]) == 0
    assert seen == [("up", (".",), {}), ("up", ("p",), {}), ("stop", (["a", "b"],), {})]
    # Anything else is argparse's: options, a second PATH, no target.
    monkeypatch.setattr(cli_args, "build", build)
    seen.clear()
    assert cli.main(["up", "--json", "p"]) == 0
    assert cli.main(["stop", "-x"]) == 2
    assert cli.main(["up", "p", "q"]) == 2
    assert seen == [("up", ("p",), {"port": None, "name": None, "as_json": True,
                                    "recreate": False, "rebuild": False, "force": False,
                                    "here": False, "grant_write": False})]


@pytest.mark.parametrize("argv", [["--version"], ["--version", "up", "--bogus"]])
def test_version_needs_no_parser(argv: list[str]) -> None:
    import subprocess
    import sys

    got = subprocess.run([sys.executable, "-X", "importtime", "-m", "devenv", *argv],
                         capture_output=True, text=True, timeout=60, check=False)
    assert (got.returncode, got.stdout) == (0, f"devenv {__version__}\n")
    assert "argparse" not in got.stderr and "devenv.cli_args" not in got.stderr
