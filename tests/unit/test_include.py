from __future__ import annotations

from pathlib import Path

import pytest

from devenv.errors import DevenvError
from devenv.ssh import include


@pytest.fixture
def user_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "home" / ".ssh" / "config"
    monkeypatch.setattr(include, "user_config", lambda: path)
    return path


def test_install_creates_a_private_file(user_config: Path) -> None:
    assert include.install(Path("/d/ssh config"))
    assert user_config.read_text() == f'{include.COMMENT}\nInclude "/d/ssh config"\n'
    assert oct(user_config.stat().st_mode & 0o777) == "0o600"
    assert oct(user_config.parent.stat().st_mode & 0o777) == "0o700"


def test_install_uninstall_round_trip_is_exact(user_config: Path) -> None:
    user_config.parent.mkdir(parents=True)
    original = b"# mine\r\nHost a\n  User b\n\nHost *\n  ServerAliveInterval 30"  # no EOL
    user_config.write_bytes(original)
    user_config.chmod(0o640)
    assert include.install(Path("/d/config"))
    assert not include.install(Path("/d/config"))  # idempotent
    assert user_config.read_bytes().endswith(original)
    assert oct(user_config.stat().st_mode & 0o777) == "0o640"  # mode kept
    backup = user_config.with_name("config.devenv-backup")
    assert backup.read_bytes() == original
    assert include.uninstall(Path("/d/config"))
    assert user_config.read_bytes() == original
    assert not include.uninstall(Path("/d/config"))


def test_broken_or_read_only_files_change_nothing(user_config: Path) -> None:
    user_config.parent.mkdir(parents=True)
    user_config.write_text("Host x\n  NoSuchOption 1\n")
    with pytest.raises(DevenvError, match="is not a valid ssh config"):
        include.install(Path("/d/config"))
    assert user_config.read_text() == "Host x\n  NoSuchOption 1\n"
    user_config.write_text("Host x\n")
    user_config.chmod(0o400)
    with pytest.raises(DevenvError, match="is read-only"):
        include.install(Path("/d/config"))
    assert user_config.read_text() == "Host x\n"
