"""Workspace names, and the parsing of what a target says (status, snapshot messages): the
target is hostile, so its output is checked, never trusted."""

from __future__ import annotations

from typing import Any

import pytest

from devenv.errors import DevenvError, UsageError
from devenv.workspaces import names
from devenv.workspaces.status import parse_snapshot, parse_status

A, B, C, D, E = ("a" * 40, "b" * 40, "c" * 40, "d" * 40, "e" * 40)


@pytest.mark.parametrize("good", ["a", "fix-login", "A_1.2", "x" * 64, "9lives"])
def test_good_names(good: str) -> None:
    assert names.check(good) == good


@pytest.mark.parametrize("bad", ["", "../x", "-f", "a b", "HEAD", "head", "stash", "x" * 65,
                                 "ünï", "a/b", ".hidden", "x.lock", "a..b", "a.", "a\nb",
                                 "$(x)", "a\x1b[2J"])
def test_bad_names(bad: str) -> None:
    with pytest.raises(UsageError):
        names.check(bad)


@pytest.mark.parametrize("bad", ["", "../x", "a/../b", "-f", "refs/heads/x", "a//b", "a/",
                                 "a/.b", "a.lock/b", "HEAD", "x" * 201, "ü"])
def test_bad_branches(bad: str) -> None:
    with pytest.raises(UsageError):
        names.check_branch(bad)


def test_stamps() -> None:
    assert names.check_stamp("20261201T031500Z-2") == "20261201T031500Z-2"
    for bad in ("../../heads/main", "20261201", "x"):
        with pytest.raises(UsageError):
            names.check_stamp(bad)


def status(*entries: str, commits: tuple[str, ...] = (), stash: tuple[str, ...] = ()) -> bytes:
    parts = [A, "refs/heads/devenv/w", "@status", *entries, "@commits", *commits, "",
             "@stash", *stash, "", "@end", ""]
    return "\0".join(parts).encode()


def test_parse_status_kinds() -> None:
    u = parse_status(status("M  staged.txt", " M mod.txt", "MM both.txt", "?? new\nline.txt",
                            "R  new-name", "old-name", " D gone",
                            commits=(f"{B} unpushed work",), stash=(f"{C} WIP on x",)))
    assert u.staged == ["staged.txt", "both.txt", "new-name"]
    assert u.modified == ["mod.txt", "both.txt", "gone"]
    assert u.untracked == ["new\nline.txt"]
    assert u.commits == [f"{B} unpushed work"] and len(u.stash) == 1
    shown = "; ".join(u.kinds())
    assert "\n" not in shown and "new\\nline.txt" in shown  # escaped, never obeyed
    assert u.brief() == "3 staged, 3 modified, 1 untracked, 1 unpushed, 1 stashed"


def test_parse_status_clean_and_broken() -> None:
    assert parse_status(status()).empty
    with pytest.raises(DevenvError):
        parse_status(b"garbage")


def snapshot_raw(*parents: str, message: str) -> str:
    header = "tree " + E + "\n" + "".join(f"parent {p}\n" for p in parents)
    return header + "author x <x> 1 +0000\ncommitter x <x> 1 +0000\n\n" + message


def test_parse_snapshot() -> None:
    raw = snapshot_raw(A, B, C, message=(
        f"devenv snapshot of workspace w\n\nhead: {A}\nbranch: refs/heads/devenv/w\n"
        f"index: {B}\ntip: \nbase: {D}\nstash: {C}\n"))
    snap = parse_snapshot(E, raw)
    assert (snap.head, snap.index, snap.tip, snap.base, snap.stash) == (A, B, "", D, (C,))


@pytest.mark.parametrize("message", [
    f"head: {D}\nindex: {B}\n",  # names a commit that is not its parent
    f"head: {A}\nindex: not-an-id\n",
    f"head: {A}\nindex: {B}\nbranch: ../../../etc\n",
    f"head: {A}\nindex: {B}\nbranch: refs/heads/x\nbranch: -f\ntip: $(rm)\n",
])
def test_parse_snapshot_refuses_what_does_not_fit(message: str) -> None:
    with pytest.raises(DevenvError):
        parse_snapshot(E, snapshot_raw(A, B, message=message))


def test_a_rename_in_the_working_tree_is_one_entry() -> None:
    u = parse_status(status(" R new.txt", "old.txt", "?? other"))
    assert u.modified == ["new.txt"] and u.untracked == ["other"] and not u.staged


def _ssh_target() -> Any:
    from devenv.workspaces.targets import Target

    t = Target("ssh", "h", "host h", runtime=None, root="~/devenv/src/p",  # type: ignore[arg-type]
               project="/p", repo_path="/p")
    t.object_format = "sha1"
    return t


def _ended(code: int | None, out: bytes, err: bytes = b"", timed_out: bool = False) -> Any:
    from devenv.runtime import ExecResult

    return ExecResult(code, 0.0, stdout=out, stderr=err, timed_out=timed_out)


def test_a_prepared_step_splits_what_prepare_said_from_the_scripts_output() -> None:
    t = _ssh_target()
    out = (b"/home/dev/devenv/src/p\nflock\nsha1\nempty\n:devenv-prepared:\nline\n"
           b":devenv-prepared:\n")
    assert t._prepared_by(_ended(0, out), out) == b"line\n:devenv-prepared:\n"
    assert (t.root, t.has_flock, t.empty, t._prepared) == ("/home/dev/devenv/src/p", True,
                                                           True, True)


@pytest.mark.parametrize("out", [b"", b"relative\nflock\nsha1\nsynced\n:devenv-prepared:\n",
                                 b"/r\nflock\nsha1\nsynced\nno mark\n", b"/r\nflock\n",
                                 b"/r\nflock\nsynced\n:devenv-prepared:\n"])
def test_a_prepare_that_said_something_else_is_an_error(out: bytes) -> None:
    t = _ssh_target()
    with pytest.raises(DevenvError):
        t._prepared_by(_ended(0, out), out)
    assert not t._prepared and t.root == "~/devenv/src/p"


def test_a_synced_repository_in_another_object_format_is_refused() -> None:
    t = _ssh_target()
    out = b"/r\nflock\nsha256\nsynced\n:devenv-prepared:\n"
    with pytest.raises(DevenvError, match="holds sha256 objects, the project sha1"):
        t._prepared_by(_ended(0, out), out)
    assert not t._prepared


def test_why_a_target_could_not_be_prepared() -> None:
    t = _ssh_target()
    with pytest.raises(UsageError, match="git is not installed there"):
        t._prepared_by(_ended(127, b"/r\nflock\n", b"sh: 1: git: not found"), b"/r\nflock\n")
    with pytest.raises(DevenvError, match="disk full") as failed:
        t._prepared_by(_ended(1, b"", b"mkdir: disk full"), b"")
    assert failed.value.hint is None
    with pytest.raises(DevenvError, match="no end within") as busy:
        t._prepared_by(_ended(None, b"/r\nflock\n", timed_out=True), b"/r\nflock\n")
    assert "try again" in str(busy.value.hint)
    t.kind = "env"  # an environment from before workspaces: no volume to make the root on
    with pytest.raises(DevenvError) as old:
        t._prepared_by(_ended(20, b"", b"mkdir: Permission denied"), b"")
    assert "devenv up --recreate" in str(old.value.hint)


def test_a_seed_tar_header_holds_packs_past_8_gib() -> None:
    import io
    import tarfile
    import time

    from devenv.workspaces.sync import tar_header

    size = 9 << 30
    info = tarfile.TarInfo.frombuf(tar_header("pack", size), "utf-8", "surrogateescape")
    assert (info.name, info.size, info.mode) == ("pack", size, 0o444)
    assert abs(info.mtime - time.time()) < 60
    small = tar_header("refs", 5) + b"x\n" * 2 + b"y" + b"\0" * 507 + b"\0" * 1024
    with tarfile.open(fileobj=io.BytesIO(small)) as archive:
        assert archive.extractfile("refs").read() == b"x\nx\ny"  # type: ignore[union-attr]


def test_the_status_of_each_workspace_is_read_from_framed_answers() -> None:
    """One trip answers for several workspaces; a hostile target's frames are checked."""
    import asyncio

    from devenv.state import Workspace
    from devenv.workspaces.common import unsaved_each

    clean = b"%s\0refs/heads/devenv/a\0@status\0@commits\0@stash\0@end\0" % A.encode()
    dirty = b"%s\0\0@status\0?? new.txt\0@commits\0@stash\0@end\0" % B.encode()
    wss = [Workspace("/p", n, "h", "", A, 0.0) for n in ("a", "b", "c", "d")]

    def answer(frames: bytes) -> list[Any]:
        t = _ssh_target()

        async def run_bytes(*args: Any, **kwargs: Any) -> bytes:
            return frames

        t.run_bytes = run_bytes
        return asyncio.run(unsaved_each(t, wss))

    got = answer(b"0 %d\n%s0 %d\n%s1 18\nsh: cd: no such d\n0 8\ngarbage\0" % (
        len(clean), clean, len(dirty), dirty))
    assert got[0].empty and got[1].untracked == ["new.txt"]
    assert got[2] == "sh: cd: no such d"
    assert got[3] == "the workspace's status could not be read"
    # A size past the end, or a header that is no header: no answer, for it and the rest.
    assert answer(b"0 999999\nx") == ["no answer"] * 4
    assert answer(b"0 %d\n%szz 1\nx" % (len(clean), clean))[1:] == ["no answer"] * 3
