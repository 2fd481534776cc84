"""One contract, four runtimes: local, worktree, SSH (a throwaway sshd container) and a
devenv environment. Every test runs against each of them (the ``target`` fixture)."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devenv.runtime import InvalidArgument, PathError
from tests.integration.runtime_fixtures import (  # noqa: F401 - fixtures
    Target,
    aio,
    environment,
    sshd,
    target,
)

SLOW = settings(max_examples=25, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])


def gone(target: Target, aio: Any, pid: str, wait: float = 3.0) -> bool:
    """Whether process ``pid`` ended (a zombie awaiting its reaper counts as ended)."""
    give_up = time.monotonic() + wait
    while True:
        state = aio(target.runtime.exec(["ps", "-o", "stat=", "-p", pid])).stdout.strip()
        if not state or state.startswith(b"Z"):
            return True
        if time.monotonic() > give_up:
            return False
        time.sleep(0.1)


def test_exit_codes_including_255(target: Target, aio: Any) -> None:
    rt = target.runtime
    for code in (0, 1, 42, 255):
        result = aio(rt.exec(f"exit {code}"))
        assert result.exit_code == code, (target.kind, code, result)
        assert not result.timed_out and not result.aborted
    assert aio(rt.exec(["false"])).exit_code == 1


def test_stdout_stderr_and_streaming(target: Target, aio: Any) -> None:
    rt = target.runtime
    result = aio(rt.exec("echo out; echo err >&2; printf 'no newline'"))
    assert result.stdout == b"out\nno newline"
    assert result.stderr == b"err\n"
    seen: list[tuple[float, bytes]] = []
    start = time.monotonic()

    def sink(chunk: bytes) -> None:
        seen.append((time.monotonic() - start, chunk))

    result = aio(rt.exec("echo first; sleep 1; echo second", on_stdout=sink))
    assert result.exit_code == 0 and result.stdout == b""
    assert b"".join(c for _, c in seen) == b"first\nsecond\n"
    first_at = next(t for t, c in seen if b"first" in c)
    assert first_at < result.duration - 0.5, seen  # streamed, not delivered at the end


def test_stdin_bytes_and_stream(target: Target, aio: Any) -> None:
    rt = target.runtime
    data = bytes(range(256)) * 1000
    result = aio(rt.exec(["sh", "-c", "cat | sha256sum"], stdin=data))
    assert result.stdout.split()[0].decode() == hashlib.sha256(data).hexdigest()

    async def chunks() -> AsyncIterator[bytes]:
        for i in range(5):
            yield f"line {i}\n".encode()
            await asyncio.sleep(0.01)

    assert aio(rt.exec(["cat"], stdin=chunks())).stdout == b"".join(
        f"line {i}\n".encode() for i in range(5))


def test_env_defaults_cwd_and_validation(target: Target, aio: Any) -> None:
    rt = target.runtime
    out = aio(rt.exec('printf "%s|%s|%s|%s|%s" "$TERM" "$PAGER" "$GIT_TERMINAL_PROMPT" '
                      '"$CI" "$MINE"', env={"MINE": "it's \"quoted\" $HOME"})).stdout
    assert out == b"dumb|cat|0|true|it's \"quoted\" $HOME"
    assert aio(rt.exec("pwd", cwd=target.scratch)).stdout.decode().strip() == target.scratch
    with pytest.raises(PathError, match="no such directory"):
        aio(rt.exec("pwd", cwd=target.path("missing")))
    for bad in ("1X", "A-B", "A B", ""):
        with pytest.raises(InvalidArgument):
            aio(rt.exec("true", env={bad: "x"}))
    with pytest.raises(InvalidArgument):
        aio(rt.exec([]))


@SLOW
@given(argv=st.lists(st.text(st.characters(exclude_characters="\x00",
                                           exclude_categories=("Cs",)), max_size=20),
                     min_size=1, max_size=6))
def test_argv_round_trips_exactly(target: Target, aio: Any, argv: list[str]) -> None:
    result = aio(target.runtime.exec(["printf", "%s\\0", *argv]))
    assert result.exit_code == 0
    assert result.stdout.split(b"\0")[:-1] == [a.encode() for a in argv]


@SLOW
@given(name=st.text(st.characters(exclude_characters="\x00/",
                                  exclude_categories=("Cs",)), min_size=1, max_size=30)
       .filter(lambda n: n not in (".", "..") and len(n.encode()) < 200))
def test_paths_round_trip_exactly(target: Target, aio: Any, name: str) -> None:
    rt = target.runtime
    path = target.path(name)
    aio(rt.write_file(path, name.encode()))
    assert aio(rt.read_bytes(path)) == name.encode()
    assert name in [e.name for e in aio(rt.list_dir(target.scratch))]
    assert aio(rt.stat(path)).size == len(name.encode())
    aio(rt.remove(path))
    assert name not in [e.name for e in aio(rt.list_dir(target.scratch))]


def test_binary_and_100_mib_files(target: Target, aio: Any) -> None:
    rt = target.runtime
    binary = bytes(range(256)) * 4 + b"\r\n\x00\x1fDVN"
    aio(rt.write_file(target.path("bin"), binary))
    assert aio(rt.read_bytes(target.path("bin"))) == binary
    big = os.urandom(1 << 20) * 100
    aio(rt.write_file(target.path("big"), big))
    digest = hashlib.sha256()
    size = 0

    async def read() -> None:
        nonlocal size
        async for chunk in rt.read_file(target.path("big")):
            digest.update(chunk)
            size += len(chunk)

    aio(read())
    assert size == len(big) and digest.digest() == hashlib.sha256(big).digest()
    assert aio(rt.stat(target.path("big"))).size == len(big)
    aio(rt.remove(target.path("big")))


def test_write_file_keeps_mode_and_follows_symlinks(target: Target, aio: Any) -> None:
    rt = target.runtime
    real, link = target.path("real.sh"), target.path("link.sh")
    aio(rt.write_file(real, b"v1"))
    aio(rt.exec(["chmod", "750", real]))
    aio(rt.exec(["ln", "-sfn", "real.sh", link]))
    aio(rt.write_file(link, b"v2"))
    assert aio(rt.read_bytes(real)) == b"v2"
    assert aio(rt.stat(real)).mode == 0o750
    assert aio(rt.stat(link, follow=False)).kind == "symlink"
    umask = int(aio(rt.exec("umask")).stdout.strip(), 8)
    aio(rt.write_file(target.path("new"), b"n"))
    assert aio(rt.stat(target.path("new"))).mode == 0o666 & ~umask
    aio(rt.write_file(target.path("deep/er/file"), b"p"))
    assert aio(rt.read_bytes(target.path("deep/er/file"))) == b"p"
    with pytest.raises(PathError, match="parent directory does not exist"):
        aio(rt.write_file(target.path("nope/file"), b"p", parents=False))
    with pytest.raises(PathError, match="is a directory"):
        aio(rt.write_file(target.scratch, b"x"))
    leftovers = [e.name for e in aio(rt.list_dir(target.scratch)) if "devenv-tmp" in e.name]
    assert leftovers == []


def test_stat_list_remove_ensure_resolve(target: Target, aio: Any) -> None:
    rt = target.runtime
    d = target.path("tree")
    aio(rt.ensure_dir(d + "/a/b"))
    aio(rt.ensure_dir(d + "/a/b"))  # idempotent
    aio(rt.write_file(d + "/f", b"12345"))
    st_ = aio(rt.stat(d + "/f"))
    assert (st_.size, st_.kind) == (5, "file") and abs(st_.mtime - time.time()) < 120
    assert aio(rt.stat(d)).is_dir
    entries = {e.name: e for e in aio(rt.list_dir(d))}
    assert entries["a"].kind == "dir" and entries["f"].kind == "file"
    with pytest.raises(PathError, match="not a directory"):
        aio(rt.ensure_dir(d + "/f"))
    with pytest.raises(PathError, match="recursive=True"):
        aio(rt.remove(d + "/a"))
    with pytest.raises(PathError, match="no such file"):
        aio(rt.remove(d + "/missing"))
    aio(rt.remove(d + "/missing", missing_ok=True))
    with pytest.raises(PathError, match=r"(?i)no such file"):
        aio(rt.read_bytes(d + "/missing"))
    with pytest.raises(PathError, match="is a directory"):
        aio(rt.read_bytes(d))
    aio(rt.remove(d + "/a", recursive=True))
    assert [e.name for e in aio(rt.list_dir(d))] == ["f"]
    home = aio(rt.exec('printf %s "$HOME"')).stdout.decode()
    assert aio(rt.resolve_path("~")) == home
    assert aio(rt.resolve_path("~/x/../y")) == f"{home}/y"
    assert aio(rt.resolve_path(d + "/./f")) == d + "/f"
    aio(rt.write_file("~/.devenv-contract-probe", b"home"))
    assert aio(rt.exec(["cat", f"{home}/.devenv-contract-probe"])).stdout == b"home"
    aio(rt.remove("~/.devenv-contract-probe"))


def test_timeout_kills_the_process_group(target: Target, aio: Any) -> None:
    rt = target.runtime
    marker = target.path("child.pid")
    start = time.monotonic()
    result = aio(rt.exec(f"sleep 60 & echo $! > {marker}; sleep 60", timeout=1))
    assert result.timed_out and result.exit_code is None
    assert time.monotonic() - start < 5
    pid = aio(rt.read_bytes(marker)).decode().strip()
    assert gone(target, aio, pid)  # the background child died too


def test_cancel_aborts_and_kills(target: Target, aio: Any) -> None:
    rt = target.runtime
    marker = target.path("cancel.pid")

    async def run() -> Any:
        event = asyncio.Event()
        task = asyncio.ensure_future(rt.exec(f"echo $$ > {marker}; exec sleep 60",
                                             cancel=event))
        await asyncio.sleep(1)
        event.set()
        return await task

    start = time.monotonic()
    result = aio(run())
    assert result.aborted and not result.timed_out and time.monotonic() - start < 5
    pid = aio(rt.read_bytes(marker)).decode().strip()
    assert gone(target, aio, pid)


def test_background_processes(target: Target, aio: Any) -> None:
    rt = target.runtime
    info = aio(rt.spawn("printf 'caf\\303\\251 '; echo ready; sleep 60", cwd=target.scratch))
    assert info.pid > 0
    time.sleep(0.5)
    out, offset = aio(rt.read_output(info.id))
    assert out == "café ready\n".encode() and offset == len(out)
    part, offset2 = aio(rt.read_output(info.id, 4))  # splits the two-byte é: bytes exact
    assert part == out[4:] and offset2 == offset
    listed = {b.id: b for b in aio(rt.background())}
    assert listed[info.id].running
    assert aio(rt.terminate(info.id)) == 143
    assert not {b.id: b for b in aio(rt.background())}[info.id].running
    done = aio(rt.spawn(["sh", "-c", "echo bye; exit 7"]))
    time.sleep(0.5)
    finished = {b.id: b for b in aio(rt.background())}[done.id]
    assert finished.exit_code == 7 and not finished.running
    assert aio(rt.read_output(done.id)) == (b"bye\n", 4)
    assert aio(rt.terminate(done.id)) == 7  # already ended: its own code


def test_background_survives_the_caller(target: Target, aio: Any) -> None:
    rt = target.runtime
    info = aio(rt.spawn(["sh", "-c", "sleep 2; echo late"]))
    time.sleep(3)
    assert aio(rt.read_output(info.id))[0] == b"late\n"


def test_fifty_concurrent_execs(target: Target, aio: Any) -> None:
    rt = target.runtime

    async def many() -> list[Any]:
        return await asyncio.gather(*[rt.exec(["sh", "-c", f"echo {i}; exit {i % 3}"])
                                      for i in range(50)])

    results = aio(many())
    assert [r.stdout for r in results] == [f"{i}\n".encode() for i in range(50)]
    assert [r.exit_code for r in results] == [i % 3 for i in range(50)]


def test_pty_and_login_shell(target: Target, aio: Any) -> None:
    rt = target.runtime
    result = aio(rt.exec("tty; echo $TERM", pty=True, env={"TERM": "xterm"}))
    assert result.exit_code == 0
    assert b"/dev/pts/" in result.stdout and b"xterm" in result.stdout
    assert aio(rt.exec("tty")).exit_code != 0  # no PTY unless asked
    home = target.path("home")  # HOME of its own: the target's real profile stays
    aio(rt.write_file(home + "/.profile", b"export DEVENV_LOGIN_PROBE=yes\n"))
    for shell in (True, False):
        out = aio(rt.exec('printf %s "${DEVENV_LOGIN_PROBE:-no}"', login=shell,
                          env={"HOME": home})).stdout
        assert out == (b"yes" if shell else b"no")


def test_interactive_pty_session(target: Target, aio: Any) -> None:
    rt = target.runtime

    async def session() -> tuple[bytes, int | None]:
        term = await rt.pty(cwd=target.scratch, cols=100, rows=30, env={"MINE": "x y"})
        seen = b""

        async def until(needle: bytes) -> None:
            nonlocal seen
            while needle not in seen:
                chunk = await asyncio.wait_for(term.read(), 10)
                assert chunk, seen
                seen += chunk

        await term.write(b"stty size; pwd; echo \"[$MINE]\"; echo $TERM\n")
        await until(b"xterm-256color")
        term.resize(120, 40)
        # Over SSH the new size travels as a message of its own: ask until it is there.
        for _ in range(50):
            if b"40 120" in seen:
                break
            await term.write(b"stty size\n")
            await asyncio.sleep(0.1)
            with contextlib.suppress(TimeoutError):
                seen += await asyncio.wait_for(term.read(), 0.5)
        await until(b"40 120")
        await term.write(b"exit 3\n")
        code = await asyncio.wait_for(term.wait(), 10)
        await term.close()
        return seen, code

    seen, code = aio(session())
    assert b"30 100" in seen and target.scratch.encode() in seen and b"[x y]" in seen
    assert code == 3


def test_a_slow_consumer_gets_every_byte(target: Target, aio: Any) -> None:
    rt = target.runtime
    data = os.urandom(4 << 20)
    aio(rt.write_file(target.path("slow"), data))

    async def read_slowly() -> bytes:
        got = bytearray()
        async for chunk in rt.read_file(target.path("slow")):
            got += chunk
            await asyncio.sleep(0.02)
        return bytes(got)

    assert aio(read_slowly()) == data
    seen = bytearray()

    async def slow_sink(chunk: bytes) -> None:
        seen.extend(chunk)
        await asyncio.sleep(0.02)

    result = aio(rt.exec(["cat", target.path("slow")], on_stdout=slow_sink))
    assert result.exit_code == 0 and bytes(seen) == data


def test_pty_commands_read_eof_and_big_input(target: Target, aio: Any) -> None:
    rt = target.runtime
    start = time.monotonic()
    result = aio(rt.exec("cat", pty=True, timeout=20))  # no stdin: EOF at once
    assert result.exit_code == 0 and not result.timed_out and time.monotonic() - start < 10
    result = aio(rt.exec("cat", pty=True, stdin=b"hello\npartial", timeout=20))
    assert result.exit_code == 0 and b"hello" in result.stdout and b"partial" in result.stdout

    async def big_write() -> int | None:
        term = await rt.pty(["sh", "-c", f"cat > {target.path('typed')}"])

        async def drain() -> None:  # the echo: a terminal that is not read stops taking input
            while await term.read():
                pass

        reader = asyncio.ensure_future(drain())
        await asyncio.wait_for(term.write((b"x" * 99 + b"\n") * 2000), 30)  # 200 KB
        await term.write(b"\x04")
        code = await asyncio.wait_for(term.wait(), 30)
        await asyncio.wait_for(reader, 10)
        await term.close()
        return code

    assert aio(big_write()) == 0
    assert aio(rt.stat(target.path("typed"))).size == 200_000
