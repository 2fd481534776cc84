"""The quick ``devenv list`` (:mod:`devenv.envs.quicklist`): it must print what the full path
prints, and hand over to it whenever docker's answer is anything but plain."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from devenv import cli, table
from devenv.envs import identity, index, known, quicklist

INSTANCE = "abc123def456"


def test_constants_match_their_owners() -> None:
    assert quicklist.LABEL_NAME == identity.LABEL_NAME
    assert quicklist.LABEL_PATH == identity.LABEL_PATH
    assert quicklist.LABEL_PORT == identity.LABEL_PORT
    assert quicklist.LABEL_INSTANCE == identity.LABEL_INSTANCE
    assert quicklist.INDEX_HEADER == index.INDEX_HEADER
    assert known.human_age is quicklist.human_age


def test_table_matches_print_table(capsys: pytest.CaptureFixture[str]) -> None:
    rows = [("NAME", "PROJECT", "PORT"), ("a-much-longer-name", "/p", "22200"), ("b", "", "-")]
    table.print_table(rows)
    expected = capsys.readouterr().out
    quicklist._print_table(rows)
    assert capsys.readouterr().out == expected


@pytest.mark.parametrize(("line", "values"), [
    ('["a","b"]', ["a", "b"]),
    ('[""]', [""]),
    ('["tab\\there","quote\\"d","nl\\nx","\\u00e9\\u003c"]', ["tab\there", 'quote"d', "nl\nx",
                                                              "é<"]),
    ("[]", []),
    ('["a",]', None),
    ('["a" ,"b"]', None),
    ('["a"]x', None),
    ('["a","b"', None),
    ('["a",1]', None),
    ('["unterminated]', None),
    ("", None),
    ('["\\x"]', None),
])
def test_strings_reads_json_string_arrays_only(line: str, values: list[str] | None) -> None:
    assert quicklist._strings(line) == values


@pytest.mark.parametrize(("seconds", "words"), [
    (0.4, "Less than a second"), (1, "1 second"), (59.9, "59 seconds"), (60, "About a minute"),
    (119, "About a minute"), (120, "2 minutes"), (3599, "59 minutes"),
    (3600, "About an hour"), (5399, "About an hour"), (5400, "2 hours"),
    (47.4 * 3600, "47 hours"), (47.5 * 3600, "2 days"), (13 * 86400, "13 days"),
    (14 * 86400, "2 weeks"), (59 * 86400, "8 weeks"), (60 * 86400, "2 months"),
    (729 * 86400, "24 months"), (730 * 86400, "2 years"),
])
def test_docker_words_as_go_units_says_them(seconds: float, words: str) -> None:
    assert quicklist.docker_words(timedelta(seconds=seconds)) == words


@pytest.mark.parametrize(("status", "age"), [
    ("Up Less than a second", "0 seconds"), ("Up 1 second", "1 second"),
    ("Up 42 seconds", "42 seconds"), ("Up About a minute", "1 minute"),
    ("Up 59 minutes (Paused)", "59 minutes"), ("Up 3 minutes (health: starting)", "3 minutes"),
    ("Up About an hour", None), ("Up 5 hours", None), ("Exited (0) 3 seconds ago", None),
    ("Restarting (1) 2 seconds ago", None), ("Created", None), ("Up ٣ seconds", None),
])
def test_short_ages_are_dockers_own(status: str, age: str | None) -> None:
    assert quicklist._short_age(status) == age
    if age is not None:  # the same words devenv gives an age of that length
        count = 0 if age.startswith("0 ") else int(age.split()[0])
        size = 60 if "minute" in age else 1
        assert known.human_age(timedelta(seconds=count * size)) == age


def test_long_ages_come_from_the_creation_time_when_docker_agrees() -> None:
    now = datetime(2026, 1, 10, 12, 0, 0, 500000, tzinfo=UTC)
    created = "2026-01-10 08:30:00 +0000 UTC"  # 3 h 30 min ago
    assert quicklist._long_age("Up 4 hours", created, now) == "3 hours"
    # The same instant in another zone, as a docker CLI with TZ set prints it.
    assert quicklist._long_age("Up 4 hours (healthy)", "2026-01-10 09:30:00 +0100 CET",
                               now) == "3 hours"
    assert quicklist._long_age("Up 4 hours", "2026-01-10 01:00:00 -0730 X", now) == "3 hours"
    # Restarted since (Docker's status is counted from the start): the full path.
    assert quicklist._long_age("Up 2 hours", created, now) is None
    # Near a boundary of what is shown, only the start time can tell.
    assert quicklist._long_age("Up About an hour", "2026-01-10 11:00:05 +0000 UTC",
                               now) is None
    assert quicklist._long_age("Up 2 days", "2026-01-08 11:00:00 +0000 UTC", now) == "2 days"
    for bad in ("", "yesterday", "2026-01-10 08:30:00 UTC", "2026-01-10 08:30:00 +00 UTC",
                "2026-13-10 08:30:00 +0000 UTC"):
        assert quicklist._long_age("Up 4 hours", bad, now) is None


def write_index(home: Path, text: str) -> None:
    (home / "state").mkdir(parents=True, exist_ok=True)
    (home / "state" / "index").write_text(text)


@pytest.fixture
def fake_docker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A ``docker`` on PATH that prints ``ps.out`` (exit code in ``ps.code``) and records its
    arguments in ``argv``."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "docker"
    script.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > {bin_dir}/argv\n'
                      f"cat {bin_dir}/ps.out\nexit $(cat {bin_dir}/ps.code)\n")
    script.chmod(0o755)
    (bin_dir / "ps.code").write_text("0\n")
    (bin_dir / "ps.out").write_text("")
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    return bin_dir


def ps_line(name: str, status: str = "Up 5 minutes", *, state: str = "running",
            image: str = "devenv-default:abc", names: str | None = None,
            created: str = "2026-01-01 00:00:00 +0000 UTC", port: str = "22200",
            label_name: str | None = None) -> str:
    return json.dumps(["0123abcd", names if names is not None else f"devenv-{name}", image,
                       state, status, created,
                       label_name if label_name is not None else name, f"/p/{name}", port],
                      separators=(",", ":"))  # as docker prints it


def test_prints_the_table_from_one_ps_call(fake_docker: Path, devenv_home: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    assert quicklist.run() is None  # no index: nothing ever started, the full path says so
    write_index(devenv_home, f"instance\t{INSTANCE}\ncontrol\t/x\n")
    assert quicklist.run() == 0
    assert capsys.readouterr().out == "no environments running\n"
    argv = (fake_docker / "argv").read_text().splitlines()
    assert argv[:4] == ["ps", "--no-trunc", "--filter", f"label=devenv.instance={INSTANCE}"]
    (fake_docker / "ps.out").write_text("\n".join([
        ps_line("zeta", "Up 3 seconds"), ps_line("alpha", "Up About a minute (Paused)",
                                                 state="paused", port=""),
        ps_line("gone", "Exited (0) 2 seconds ago", state="exited"),
        ps_line("odd", "Up 2 seconds", port="0"), ps_line("odder", "Up 2 seconds", port="007")]
        ) + "\n")
    assert quicklist.run() == 0
    assert capsys.readouterr().out.splitlines() == [
        "NAME   PROJECT   PORT   STATUS   STARTED        IMAGE",
        "alpha  /p/alpha  -      paused   1 minute ago   devenv-default:abc",
        "odd    /p/odd    -      running  2 seconds ago  devenv-default:abc",
        "odder  /p/odder  7      running  2 seconds ago  devenv-default:abc",
        "zeta   /p/zeta   22200  running  3 seconds ago  devenv-default:abc",
    ]  # the ports as the full listing shows them (int(), 0 as "-")


@pytest.mark.parametrize("line", [
    ps_line("x", image="sha256:0123"),  # the image's name now means another image
    ps_line("x", "Restarting (1) 2 seconds ago", state="restarting"),
    ps_line("x", "Up 4 hours", created="2026-01-01 00:00:00 +0000 UTC"),  # it restarted
    ps_line("x", names="devenv-x,other/alias,third"),
    ps_line("x", label_name=""),
    ps_line("x", image="<no image>"),
    '["too","short"]',
    "Error: something docker said",
])
def test_anything_unusual_goes_to_the_full_path(line: str, fake_docker: Path,
                                                devenv_home: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    write_index(devenv_home, f"instance\t{INSTANCE}\n")
    (fake_docker / "ps.out").write_text(ps_line("fine") + "\n" + line + "\n")
    assert quicklist.run() is None
    assert capsys.readouterr().out == ""  # nothing printed: the full path prints it all


@pytest.mark.parametrize("index", ["", "instance\t\n", "instance\tab/../c\n", "x\tabc\n",
                                   "instance\tabc def\n"])
def test_an_odd_index_goes_to_the_full_path(index: str, fake_docker: Path,
                                            devenv_home: Path) -> None:
    write_index(devenv_home, index)
    assert quicklist.run() is None
    assert not (fake_docker / "argv").exists()  # docker was not even asked


def test_a_failing_or_missing_docker_goes_to_the_full_path(
        fake_docker: Path, devenv_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_index(devenv_home, f"instance\t{INSTANCE}\n")
    (fake_docker / "ps.code").write_text("1\n")
    assert quicklist.run() is None
    monkeypatch.setenv("PATH", str(fake_docker / "nowhere"))
    assert quicklist.run() is None


def test_a_hanging_docker_is_killed(fake_docker: Path, devenv_home: Path,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    write_index(devenv_home, f"instance\t{INSTANCE}\n")
    (fake_docker / "docker").write_text("#!/bin/sh\nexec sleep 30\n")
    monkeypatch.setattr(quicklist, "PS_TIMEOUT", 0.3)
    assert quicklist.run() is None


def test_cli_takes_the_full_path_when_the_quick_one_declines(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from devenv.commands import listing

    seen: list[dict[str, bool]] = []
    monkeypatch.setattr(quicklist, "run", lambda: None)
    monkeypatch.setattr(listing, "run", lambda **kw: seen.append(kw) or 0)
    assert cli.main(["list"]) == 0
    assert seen == [{"as_json": False, "include_stopped": False}]
    monkeypatch.setattr(quicklist, "run", lambda: 0)
    assert cli.main(["list"]) == 0 and len(seen) == 1
    assert cli.main(["list", "--all"]) == 0 and len(seen) == 2  # options: argparse
