"""The runtime library stands alone: used with directories of the caller's choosing it
writes nothing under DEVENV_HOME (nor in its own default place), and it works without any
devenv state at all -- against a real sshd."""

from __future__ import annotations

import asyncio
from pathlib import Path

from devenv.runtime import LocalRuntime, RuntimeDirs, SSHRuntime
from tests.integration.runtime_fixtures import Sshd, sshd  # noqa: F401 - fixture


def files_under(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")) if root.exists() else []


def test_ssh_runtime_writes_only_where_it_is_told(sshd: Sshd, tmp_path: Path,
                                                  devenv_home: Path) -> None:
    default = Path(RuntimeDirs.default().lock_dir).parent
    before_default = files_under(default)
    mine = tmp_path / "rt"
    dirs = RuntimeDirs.under(str(mine))

    async def main() -> None:
        rt = SSHRuntime(sshd.target(), dirs=dirs)
        try:
            result = await rt.exec(["sh", "-c", "echo hi"])
            assert result.ok and result.stdout == b"hi\n"
            await rt.write_file("standalone.txt", b"x")
            assert await rt.read_bytes("standalone.txt") == b"x"
            local = LocalRuntime(tmp_path / "work", dirs=dirs)
            (tmp_path / "work").mkdir()
            info = await local.spawn(["true"])
            assert info.output_dir.startswith(str(mine))
        finally:
            await rt.close()

    asyncio.run(main())
    assert files_under(devenv_home) == []  # nothing of devenv's: no state, no database
    assert files_under(default) == before_default  # nor in the library's default place
    written = files_under(mine)
    assert "health" in written and "locks" in written, written
    # The sockets and health records are private to us.
    for name in ("health", "locks"):
        assert (mine / name).stat().st_mode & 0o777 == 0o700
    control = Path(dirs.control_dir)
    assert control.stat().st_mode & 0o777 == 0o700
    assert any(p.is_socket() for p in control.iterdir())
