"""Private directories (runtime base, control sockets, locks, background output) are created
0700 and verified before use; one another user prepared is a clear error, never used."""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from devenv import lockfile, paths
from devenv.envs import index
from devenv.errors import ConflictError
from devenv.runtime import LocalRuntime, dirs, private
from devenv.runtime.errors import PathError, UnsafeDirectory
from devenv.runtime.locks import async_locked
from devenv.ssh import config as ssh_config

from .greeter import Greeter

OTHER = 12345  # another user's uid

needs_root = pytest.mark.skipif(os.getuid() != 0, reason="chown to another uid needs root")


@pytest.fixture
def runtime_base(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No XDG_RUNTIME_DIR: the base is devenv-<uid> in a sticky /tmp of this test's own."""
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    tmp.chmod(0o1777)
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    monkeypatch.setattr(private, "SHARED_TMP", str(tmp))
    return tmp / f"devenv-{os.getuid()}"


def other_users(path: Path) -> None:
    path.mkdir(mode=0o700)
    os.chown(path, OTHER, OTHER)


def world_writable(path: Path) -> None:
    path.mkdir()
    path.chmod(0o777)


def link_to_a_dir(path: Path) -> None:
    elsewhere = path.parent / f"{path.name}-elsewhere"
    elsewhere.mkdir(mode=0o700)  # ours and private: the link is what is wrong
    path.symlink_to(elsewhere)


BAD: dict[str, tuple[Callable[[Path], None], str]] = {
    "other-owner": (other_users, f"is owned by uid {OTHER}, not by you"),
    "mode-0777": (world_writable, "is open to other users (mode 0777)"),
    "symlink": (link_to_a_dir, "is a symbolic link"),
}


def prepare(kind: str, path: Path) -> str:
    make, problem = BAD[kind]
    if kind == "other-owner" and os.getuid() != 0:
        pytest.skip("chown to another uid needs root")
    make(path)
    return re.escape(problem)


def contents(path: Path) -> list[str]:
    return sorted(os.listdir(path.resolve()))


def test_a_new_dir_and_its_parents_are_0700(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        leaf = paths.private_dir(tmp_path / "a" / "b" / "c")
    finally:
        os.umask(old)
    for p in (tmp_path / "a", tmp_path / "a" / "b", leaf):
        assert p.stat().st_mode & 0o777 == 0o700, p
    assert paths.private_dir(leaf) == leaf  # a good one passes, again and again


def test_a_readable_dir_of_ours_is_closed(tmp_path: Path) -> None:
    # Made by an older devenv (a parent created with the umask): nobody else could write
    # to it, so it is kept and closed to 0700.
    path = tmp_path / "d"
    path.mkdir()
    path.chmod(0o755)
    paths.private_dir(path)
    assert path.stat().st_mode & 0o777 == 0o700


@pytest.mark.parametrize("kind", sorted(BAD))
def test_a_prepared_dir_is_refused_and_left_alone(kind: str, tmp_path: Path) -> None:
    path = tmp_path / "d"
    problem = prepare(kind, path)
    before = os.lstat(path)
    with pytest.raises(ConflictError, match=problem) as info:
        paths.private_dir(path)
    assert info.value.message.startswith(f"unsafe private directory {path}: it ")
    assert "another user may have created it" in (info.value.hint or "")
    assert "\n" not in info.value.message
    after = os.lstat(path)
    assert (after.st_mode, after.st_uid) == (before.st_mode, before.st_uid)
    assert contents(path) == []


def test_a_parent_others_can_write_to_is_refused(tmp_path: Path) -> None:
    parent = tmp_path / "open"
    parent.mkdir()
    parent.chmod(0o777)  # anyone could rename our directory away and put theirs instead
    with pytest.raises(ConflictError, match=re.escape(
            f"has a parent {parent} that other users can write to (mode 0777)")):
        paths.private_dir(parent / "d")
    parent.chmod(0o1777)  # sticky, like /tmp: nobody else can rename what is ours
    assert paths.private_dir(parent / "d") == parent / "d"


@needs_root
def test_a_parent_of_another_user_is_refused(tmp_path: Path) -> None:
    parent = tmp_path / "theirs"
    other_users(parent)
    (parent / "d").mkdir(mode=0o700)  # ours, but its parent is not
    with pytest.raises(ConflictError, match=f"has a parent {parent} owned by uid {OTHER}"):
        paths.private_dir(parent / "d")


@pytest.mark.parametrize("kind", sorted(BAD))
def test_control_dir_refused(kind: str, runtime_base: Path) -> None:
    paths.private_dir(runtime_base)
    control = runtime_base / ssh_config.control_dir().name
    os.rmdir(control)
    problem = prepare(kind, control)
    with pytest.raises(ConflictError, match=problem):
        ssh_config.control_dir()
    with pytest.raises(ConflictError, match=problem):
        ssh_config.ssh_argv("devenv-x")  # ssh would use the ControlPath in it
    with pytest.raises(ConflictError, match=problem):
        ssh_config.write([], Path("/h/id"))
    assert contents(control) == []


@pytest.mark.parametrize("kind", sorted(BAD))
def test_runtime_base_refused(kind: str, runtime_base: Path) -> None:
    problem = prepare(kind, runtime_base)
    for use in (ssh_config.control_dir, paths.machine_locks_dir):
        with pytest.raises(ConflictError, match=problem):
            use()
    with pytest.raises(ConflictError, match=problem), \
            lockfile.locked("t", timeout=1, what="test", machine=True):
        pass
    assert contents(runtime_base) == []


@needs_root
def test_xdg_runtime_dir_of_another_user_is_refused(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    runtime = tmp_path / "run-user"
    other_users(runtime)  # e.g. kept from another user's session by su
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    with pytest.raises(ConflictError, match="XDG_RUNTIME_DIR") as info:
        ssh_config.control_dir()
    assert "unset XDG_RUNTIME_DIR" in (info.value.hint or "")
    assert contents(runtime) == []


def test_xdg_runtime_dir_may_be_readable(tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    runtime = tmp_path / "run-user"
    runtime.mkdir()
    runtime.chmod(0o755)  # not writable by others: fine as a base, and left as it is
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    control = ssh_config.control_dir()
    assert control.parent == runtime and control.stat().st_mode & 0o777 == 0o700
    assert runtime.stat().st_mode & 0o777 == 0o755
    assert paths.machine_locks_dir() == runtime / "devenv-locks"
    runtime.chmod(0o777)
    with pytest.raises(ConflictError, match="open to other users"):
        ssh_config.control_dir()


@pytest.mark.parametrize("kind", sorted(BAD))
def test_both_lock_kinds_refuse_a_bad_locks_dir(kind: str, devenv_home: Path) -> None:
    locks = paths.locks_dir()
    locks.parent.mkdir(parents=True)
    problem = prepare(kind, locks)
    with pytest.raises(ConflictError, match=problem), \
            lockfile.locked("t", timeout=1, what="test"):
        pass

    async def take() -> None:
        async with async_locked(str(locks), "t", timeout=1, what="test"):
            pass

    with pytest.raises(UnsafeDirectory, match=problem):
        asyncio.run(take())
    assert contents(locks) == []


@pytest.mark.parametrize("kind", sorted(BAD))
def test_pool_never_probes_through_a_bad_control_dir(
        kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from devenv.runtime.master import Endpoint
    from devenv.runtime.pool import Pool

    bindir = tmp_path / "bin"
    bindir.mkdir()
    log = tmp_path / "ssh.log"
    (bindir / "ssh").write_text(f'#!/bin/sh\necho "$*" >> {log}\necho ok\n')
    (bindir / "ssh").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    control = tmp_path / "ctl"
    problem = prepare(kind, control)
    ep = Endpoint("ssh:test\0fakehost", "fakehost", "fakehost", ("-o", "BatchMode=yes"),
                  str(control / "m"))

    async def main() -> None:
        await Pool().acquire(ep, max_wait=5)

    with pytest.raises(UnsafeDirectory, match=problem):
        asyncio.run(main())
    assert not log.exists()  # no ssh ran: neither -O check nor a new master
    assert contents(control) == []


@pytest.fixture
def listener() -> Iterator[int]:
    server = Greeter(b"SSH-2.0-OpenSSH_9.2\r\n")  # the environment's published port
    try:
        yield server.port
    finally:
        server.close()


@pytest.mark.parametrize("kind", [*sorted(BAD), "base-other-owner", "base-mode-0777"])
def test_fast_path_never_uses_an_unverified_control_dir(
        kind: str, devenv_home: Path, tmp_path: Path, listener: int) -> None:
    project = tmp_path / "p"
    project.mkdir()
    base = tmp_path / "base"
    base.mkdir(mode=0o700)
    control = base / "cm-x"
    (devenv_home / "state").mkdir(parents=True)
    (devenv_home / "state" / "index").write_text(
        f"instance\tabc\ncontrol\t{control}\n"
        f"{project}\tx-p\t{listener}\t{index.config_stamp(str(project))}\tid\n")
    control.mkdir(mode=0o700)
    hit = index.lookup(str(project))
    assert hit is not None and hit.control == f"{control}/e{listener}"  # a good one is used
    control.rmdir()
    assert index.lookup(str(project)) is None  # missing: the full path creates it
    if kind == "base-other-owner":
        control.mkdir(mode=0o700)
        if os.getuid() != 0:
            pytest.skip("chown to another uid needs root")
        os.chown(base, OTHER, OTHER)  # another user could swap the socket dir in it
    elif kind == "base-mode-0777":
        control.mkdir(mode=0o700)
        base.chmod(0o777)
    else:
        prepare(kind, control)
    assert index.lookup(str(project)) is None
    assert index.lookup(str(project), probe=False) is None


@pytest.mark.parametrize("kind", sorted(BAD))
def test_local_background_output_dir_refused(kind: str, tmp_path: Path) -> None:
    bg = tmp_path / "bg"
    problem = prepare(kind, bg)
    runtime = LocalRuntime(tmp_path, dirs=dirs.RuntimeDirs.under(str(bg.parent)))

    async def main() -> None:
        with pytest.raises(PathError, match=problem):
            await runtime.spawn(["true"])
        with pytest.raises(PathError, match=problem):
            await runtime.background()
        with pytest.raises(PathError, match=problem):
            await runtime.read_output("20240101-000000-abcdef")
        with pytest.raises(PathError, match=problem):
            await runtime.terminate("20240101-000000-abcdef")

    asyncio.run(main())
    assert contents(bg) == []


def test_local_background_output_dir_is_made_private(tmp_path: Path) -> None:
    bg = tmp_path / "cache" / "bg"
    runtime = LocalRuntime(tmp_path, dirs=dirs.RuntimeDirs.under(str(bg.parent)))

    async def main() -> bytes:
        info = await runtime.spawn(["echo", "hi"])
        for _ in range(100):
            out, _ = await runtime.read_output(info.id)
            if out:
                return out
            await asyncio.sleep(0.05)
        return b""

    assert asyncio.run(main()) == b"hi\n"
    assert bg.stat().st_mode & 0o777 == 0o700
    assert (tmp_path / "cache").stat().st_mode & 0o777 == 0o700


@needs_root
def test_as_root_a_dir_handed_to_the_container_user_stays_usable(tmp_path: Path) -> None:
    # registry.prepare_mounts hands an environment's key dir to the container user; inside
    # a private parent of ours nobody else could have prepared it.
    keys = paths.private_dir(tmp_path / "envs" / "x") / "keys"
    keys.mkdir(mode=0o700)
    os.chown(keys, 1000, 1000)
    assert paths.ensure_private_dir(keys) == keys
    (tmp_path / "envs" / "x").chmod(0o777)  # but not in a parent others can write to
    with pytest.raises(ConflictError, match="open to other users"):
        paths.ensure_private_dir(keys)
    with pytest.raises(ConflictError, match="is owned by uid 1000"):
        paths.private_dir(keys)


def test_the_librarys_default_base_is_verified_before_use(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Review finding: without XDG_RUNTIME_DIR the library's base /tmp/devenv-runtime-<uid>
    was only checked as a parent, links followed: a link planted there by another user sent
    the sockets where that user could later point. It is refused now, nothing is made."""
    from devenv.runtime.errors import UnsafeDirectory

    tmp = tmp_path / "tmp"
    tmp.mkdir()
    tmp.chmod(0o1777)
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    monkeypatch.delenv("DEVENV_RUNTIME_DIR", raising=False)
    monkeypatch.setattr(private, "SHARED_TMP", str(tmp))
    victim = tmp_path / "victim"
    victim.mkdir(mode=0o700)
    (tmp / f"devenv-runtime-{os.getuid()}").symlink_to(victim)
    with pytest.raises(UnsafeDirectory, match="symbolic link"):
        dirs.RuntimeDirs.default()
    long_root = tmp_path / ("x" * 80)
    with pytest.raises(UnsafeDirectory, match="symbolic link"):
        dirs.RuntimeDirs.under(str(long_root))  # its sockets would go to the base
    assert list(victim.iterdir()) == []
