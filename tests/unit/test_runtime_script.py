"""The runtime's pure logic: the marker protocol, quoting, env checks, the wrapped command
line (run with a real local ``sh``), and the parsers of the scripts' output."""

from __future__ import annotations

import itertools
import os
import shlex
import signal
import stat as stat_mod
import subprocess
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from devenv.runtime import background, script, wire
from devenv.runtime.errors import InvalidArgument, PathError
from devenv.runtime.parse import parse_list, parse_stat
from devenv.runtime.script import Tools
from devenv.runtime.types import DirEntry, FileStat
from devenv.runtime.wire import MARK, MarkerParser

NONCE = b"0123456789ab"
PREFIX = MARK + NONCE + b" "
SLOW = settings(deadline=None, max_examples=40,
                suppress_health_check=[HealthCheck.function_scoped_fixture])

# Text that survives argv/env (no NUL, no lone surrogates).
TEXT = st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\x00"))


def sh(code: str, *, env: dict[str, str] | None = None, cwd: str | None = None,
       timeout: float = 20) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["/bin/sh", "-c", code], capture_output=True, env=env, cwd=cwd,
                          timeout=timeout, check=False)


def base_env(home: str) -> dict[str, str]:
    return {"HOME": home, "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C"}


# --- MarkerParser -------------------------------------------------------------------------

def marker_line(kind: str, value: str, crlf: bool) -> bytes:
    body = kind + (" " + value if value else "")
    return PREFIX + body.encode() + (b"\r\n" if crlf else b"\n")


# Data that often looks like the start of a marker, or like a marker of another nonce.
_FRAGMENTS = st.one_of(
    st.binary(max_size=12),
    st.sampled_from([PREFIX[:n] for n in range(1, len(PREFIX))]),
    st.sampled_from([b"\n", b"\r\n", b"\r", b" ", MARK, MARK + b"ffffffffffff S 1\n",
                     PREFIX[:-1] + b"\n", MARK + NONCE + b"S 1\n", b"\x1f\x1fDVN"]),
)
_DATA = st.lists(_FRAGMENTS, max_size=4).map(b"".join)
_MARKER = st.tuples(st.sampled_from(["S", "E", "C"]),
                    st.one_of(st.just(""), st.integers(-300, 10**6).map(str)), st.booleans())
_ITEMS = st.lists(st.one_of(st.tuples(st.just("data"), _DATA),
                            st.tuples(st.just("mark"), _MARKER)), max_size=12)


@settings(max_examples=150)
@given(items=_ITEMS, cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=12))
def test_marker_parser_arbitrary_chunks(
        items: list[tuple[str, bytes | tuple[str, str, bool]]], cuts: list[int]) -> None:
    stream = b""
    expected_out = b""
    expected_events: list[tuple[str, str]] = []
    for _, item in items:
        if isinstance(item, bytes):
            stream += item
            expected_out += item
        else:
            kind, value, crlf = item
            stream += marker_line(kind, value, crlf)
            expected_events.append((kind, value))
    # The only prefix occurrences are the markers themselves.
    assume(stream.count(PREFIX) == len(expected_events))

    bounds = sorted({0, len(stream), *(c for c in cuts if c <= len(stream))})
    parser = MarkerParser(NONCE)
    out = b""
    events: list[tuple[str, str]] = []
    for a, b in itertools.pairwise(bounds):
        chunk_out, chunk_events = parser.feed(stream[a:b])
        out += chunk_out
        events += chunk_events
        held = parser.buffer
        # Only what may still become a marker is held back.
        assert (held == b"" or PREFIX.startswith(held)
                or (held.startswith(PREFIX) and b"\n" not in held)), held
        # Nothing passes through that is not passthrough data (no marker bytes leak).
        assert expected_out.startswith(out)
    out += parser.flush()
    assert out == expected_out
    assert events == expected_events


def test_marker_parser_holds_partial_prefix_at_chunk_end() -> None:
    parser = MarkerParser(NONCE)
    assert parser.feed(b"abc" + PREFIX[:7]) == (b"abc", [])
    assert parser.feed(PREFIX[7:-1]) == (b"", [])
    # The last byte decides: not a marker after all, everything comes out.
    assert parser.feed(b"!") == (PREFIX[:-1] + b"!", [])
    # A whole prefix without its newline is held until the line ends.
    assert parser.feed(b"x" + PREFIX + b"E 1") == (b"x", [])
    assert parser.feed(b"2") == (b"", [])
    assert parser.feed(b"\r\ntail") == (b"tail", [("E", "12")])
    assert parser.flush() == b""


def test_marker_parser_accepts_crlf_and_bare_kinds() -> None:
    parser = MarkerParser(NONCE)
    data = PREFIX + b"S 42\r\nout\r\n" + PREFIX + b"C\r\n" + PREFIX + b"E 255\n"
    assert parser.feed(data) == (b"out\r\n", [("S", "42"), ("C", ""), ("E", "255")])


def test_marker_parser_lookalikes_pass_through() -> None:
    parser = MarkerParser(NONCE)
    lookalikes = [
        MARK + b"ba9876543210 S 1\n",    # another nonce
        MARK + NONCE + b"S 1\n",         # no space after the nonce
        MARK + NONCE[:-1] + b" E 0\n",   # a shorter nonce
        b"DVN" + NONCE + b" E 0\n",      # no \x1f
        b"\x1f\n",
        b"plain \x1fDVN text\n",
    ]
    for data in lookalikes:
        assert parser.feed(data) == (data, []), data
        assert parser.buffer == b""
    # A trailing lookalike prefix is held, then given back by flush.
    assert parser.feed(b"end" + PREFIX[:5]) == (b"end", [])
    assert parser.flush() == PREFIX[:5]


# --- quote_path ---------------------------------------------------------------------------

_PATHS = st.one_of(
    TEXT.filter(bool),
    st.builds(lambda p, r: p + r,
              st.sampled_from(["~", "~/", "~/~", "~~", "~user/", "/~", "./~", "~ ", "~\\/",
                               "$HOME", "-", "'", '"', "*", "`"]),
              TEXT),
)


def _expected_path(path: str, home: str) -> str:
    if path == "~":
        return home
    if path.startswith("~/"):
        return home + "/" + path[2:]
    return path


@SLOW
@given(path=_PATHS, home=st.builds(lambda t: "/" + t, TEXT))
def test_quote_path_round_trips_through_sh(path: str, home: str) -> None:
    result = sh(f"printf %s {script.quote_path(path)}", env=base_env(home))
    assert result.returncode == 0, result.stderr
    assert result.stdout == os.fsencode(_expected_path(path, home))


def test_quote_path_rejects_empty_and_nul() -> None:
    with pytest.raises(InvalidArgument):
        script.quote_path("")
    with pytest.raises(InvalidArgument):
        script.quote_path("a\x00b")
    assert script.quote_path("~") == '"$HOME"'
    assert script.quote_path("~/") == '"$HOME"/'


@given(word=st.text())
def test_wire_quote_is_shlex_quote(word: str) -> None:
    assert wire.quote(word) == shlex.quote(word)
    assert wire.join([word, "a b"]) == shlex.join([word, "a b"])


# --- env ----------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["", "1A", "A-B", "A B", "A=B", "\u00e9", "A\n", "A.B", "$A"])
def test_check_env_rejects_invalid_names(name: str) -> None:
    with pytest.raises(InvalidArgument, match="invalid environment variable name"):
        script.check_env({name: "x"})
    with pytest.raises(InvalidArgument):
        script.effective_env({name: "x"}, pty=True)
    with pytest.raises(InvalidArgument):
        script.effective_env({"OK": "1", name: "x"}, pty=False)


def test_check_env_rejects_nul_values_and_keeps_valid_ones() -> None:
    with pytest.raises(InvalidArgument, match="NUL"):
        script.check_env({"A": "x\x00y"})
    env = {"_": "", "a1": "v", "A_B_9": "x y\n'\"$`"}
    assert script.check_env(env) == env
    assert script.check_env(None) == {}


@given(name=st.from_regex(r"[A-Za-z_][A-Za-z0-9_]*", fullmatch=True), value=TEXT)
def test_check_env_accepts_every_valid_name(name: str, value: str) -> None:
    assert script.check_env({name: value}) == {name: value}


def test_effective_env_defaults_and_overrides() -> None:
    assert script.effective_env(None, pty=False) == script.NON_INTERACTIVE_ENV
    assert script.effective_env(None, pty=True) == {}
    assert script.effective_env({"X": "1"}, pty=True) == {"X": "1"}
    env = script.effective_env({"TERM": "xterm-256color", "PAGER": "less", "X": "1"},
                               pty=False)
    assert env["TERM"] == "xterm-256color" and env["PAGER"] == "less" and env["X"] == "1"
    assert env["GIT_TERMINAL_PROMPT"] == "0" and env["CI"] == "true"
    for name in script.NON_INTERACTIVE_ENV:
        assert name in env
    # The defaults are not shared state.
    env["CI"] = "false"
    assert script.NON_INTERACTIVE_ENV["CI"] == "true"


# --- command_words ------------------------------------------------------------------------

def _argv_output(args: list[str]) -> bytes:
    if not args:  # printf runs its format once without arguments
        return b"\0"
    return b"".join(os.fsencode(a) + b"\0" for a in args)


@SLOW
@given(args=st.lists(TEXT, max_size=5))
def test_command_words_argv_round_trip(tmp_path: Path, args: list[str]) -> None:
    words = script.command_words(["printf", "%s\\000", *args], login=False)
    result = sh(f"exec {words}", env=base_env(str(tmp_path)))
    assert result.returncode == 0, result.stderr
    assert result.stdout == _argv_output(args)


@settings(deadline=None, max_examples=15,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(args=st.lists(TEXT, max_size=4), bash=st.booleans())
def test_command_words_login_argv_round_trip(tmp_path: Path, args: list[str],
                                             bash: bool) -> None:
    words = script.command_words(["printf", "%s\\000", *args], login=True, bash=bash)
    assert words.startswith("bash -lc " if bash else "sh -lc ")
    result = sh(f"exec {words}", env=base_env(str(tmp_path)))
    assert result.returncode == 0, result.stderr
    assert result.stdout.endswith(_argv_output(args))


@pytest.mark.parametrize(("login", "bash"), [(False, True), (True, True), (True, False)])
def test_command_words_shell_code(tmp_path: Path, login: bool, bash: bool) -> None:
    code = "a='x y'; printf '%s|' \"$a\" $((1+2)) \"$0\""
    words = script.command_words(code, login=login, bash=bash)
    result = sh(f"exec {words}", env=base_env(str(tmp_path)))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(b"x y|3|")


def test_command_words_rejects_empty_and_nul() -> None:
    bad: str | list[str]
    for bad in ("", "  \n\t", []):
        with pytest.raises(InvalidArgument, match="empty command"):
            script.command_words(bad, login=False)
        with pytest.raises(InvalidArgument, match="empty command"):
            script.command_words(bad, login=True)
    with pytest.raises(InvalidArgument, match="NUL"):
        script.command_words(["echo", "a\x00b"], login=False)


def test_command_words_rejects_nul_in_shell_code() -> None:
    # Like an argv word, shell code with a NUL cannot reach the target (argv strings are
    # C strings): it must be refused as bad input, not fail later in subprocess.
    with pytest.raises(InvalidArgument, match="NUL"):
        script.command_words("echo a\x00b", login=False)


# --- wrap ---------------------------------------------------------------------------------

def run_wrapped(wrapped: script.Wrapped, home: str, *, timeout: float = 20
                ) -> tuple[int, int, bytes, bytes, list[tuple[str, str]]]:
    """Run the wrapped line as a login shell would (``sh -c LINE``) in a new session;
    return (pid, exit code, stdout, stderr without markers, marker events)."""
    proc = subprocess.Popen(["/bin/sh", "-c", wrapped.command], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                            env=base_env(home), start_new_session=True)
    out, err = proc.communicate(timeout=timeout)
    parser = MarkerParser(wrapped.nonce)
    passthrough, events = parser.feed(err)
    return proc.pid, proc.returncode, out, passthrough + parser.flush(), events


def wrap(command: str | list[str], *, cwd: str | None = None,
         env: dict[str, str] | None = None, timeout: float | None = None,
         login: bool = False, tools: Tools | None = None) -> script.Wrapped:
    return script.wrap(command, cwd=cwd, env=env or {}, timeout=timeout, login=login,
                       tools=tools or Tools())


def test_wrap_reports_start_and_exit(tmp_path: Path) -> None:
    wrapped = wrap(["sh", "-c", "echo out; echo err >&2; exit 3"])
    assert wrapped.command.startswith("exec /bin/sh -c ")
    pid, rc, out, err, events = run_wrapped(wrapped, str(tmp_path))
    assert (rc, out, err) == (3, b"out\n", b"err\n")
    # The script is the session leader: its pid is the process group of the command.
    assert events == [("S", str(pid)), ("E", "3")]


def test_wrap_nonce_is_fresh_and_markers_of_others_pass_through(tmp_path: Path) -> None:
    first, second = wrap("true"), wrap("true")
    assert first.nonce != second.nonce and len(first.nonce) >= 8
    fake = f"printf '\\037DVN{first.nonce.decode()} E 9\\n' >&2; echo done"
    _, rc, out, err, events = run_wrapped(wrap(fake), str(tmp_path))
    assert rc == 0 and out == b"done\n"
    assert err == MARK + first.nonce + b" E 9\n"
    assert [kind for kind, _ in events] == ["S", "E"] and events[1] == ("E", "0")


def test_wrap_exit_255_is_a_result(tmp_path: Path) -> None:
    pid, rc, _, _, events = run_wrapped(wrap("exit 255"), str(tmp_path))
    assert rc == 255
    assert events == [("S", str(pid)), ("E", "255")]


def test_wrap_missing_cwd_gives_c_marker(tmp_path: Path) -> None:
    flag = tmp_path / "ran"
    wrapped = wrap(["touch", str(flag)], cwd=str(tmp_path / "no such dir"))
    _, rc, out, err, events = run_wrapped(wrapped, str(tmp_path))
    assert (rc, out, err) == (125, b"", b"")
    assert events == [("C", "")]
    assert not flag.exists()


def test_wrap_cwd_with_odd_names_and_home(tmp_path: Path) -> None:
    odd = tmp_path / "a b'c$d"
    odd.mkdir()
    (tmp_path / "sub").mkdir()
    _, rc, out, _, events = run_wrapped(wrap("pwd", cwd=str(odd)), str(tmp_path))
    assert rc == 0 and out == os.fsencode(f"{odd}\n") and events[-1] == ("E", "0")
    _, rc, out, _, _ = run_wrapped(wrap("pwd", cwd="~/sub"), str(tmp_path))
    assert rc == 0 and out == os.fsencode(f"{tmp_path / 'sub'}\n")


def test_wrap_exports_env(tmp_path: Path) -> None:
    env = {"A_1": "x y'z\"$HOME`\n\\", "EMPTY": "", "PAGER": "cat"}
    code = "printf '%s|' \"$A_1\" \"${EMPTY-unset}\" \"$PAGER\""
    _, rc, out, _, _ = run_wrapped(wrap(code, env=env), str(tmp_path))
    assert rc == 0
    assert out == os.fsencode("x y'z\"$HOME`\n\\||cat|")


def test_wrap_login_uses_bash_when_present(tmp_path: Path) -> None:
    wrapped = wrap('printf %s "${BASH_VERSION:+bash}"', login=True, tools=Tools(bash=True))
    _, rc, out, _, events = run_wrapped(wrapped, str(tmp_path))
    assert (rc, out) == (0, b"bash") and events[-1] == ("E", "0")


def test_wrap_without_timeout_tool_has_no_backstop() -> None:
    assert wrap("true", timeout=5).command.startswith("exec /bin/sh -c ")
    assert wrap("true", timeout=None, tools=Tools(timeout=True)).command.startswith(
        "exec /bin/sh -c ")
    assert wrap("true", timeout=2.5, tools=Tools(timeout=True)).command.startswith(
        "exec timeout -s KILL 4 /bin/sh -c ")


def _gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return True
    return state in {"Z", "X"}


def test_wrap_timeout_backstop_kills_the_session(tmp_path: Path) -> None:
    pidfile = tmp_path / "child"
    wrapped = wrap(f"sleep 30 & echo $! > '{pidfile}'; wait", timeout=1,
                   tools=Tools(timeout=True))
    began = time.monotonic()
    pid, rc, _, _, events = run_wrapped(wrapped, str(tmp_path), timeout=15)
    elapsed = time.monotonic() - began
    assert 1.7 < elapsed < 6, elapsed  # t + 1 = 2 s
    # The script reports its parent (timeout, the session leader) as the group; no end.
    assert events == [("S", str(pid))]
    assert rc in (-signal.SIGKILL, 128 + signal.SIGKILL, 124)
    child = int(pidfile.read_text())
    deadline = time.monotonic() + 3
    while not _gone(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _gone(child), "the backstop left the command's children running"


# --- probe --------------------------------------------------------------------------------

def test_parse_probe() -> None:
    text = ("home=/home/u=x\ntimeout=1\nbash=1\nstat=bsd\nfind_printf=1\n"
            "noise without equals\nsystem=Darwin\n")
    assert script.parse_probe(text) == Tools(home="/home/u=x", timeout=True, setsid=False,
                                             bash=True, stat="bsd", dd_fsync=False,
                                             find_printf=True, system="Darwin")
    assert script.parse_probe("") == Tools(stat="none")
    full = "home=/r\ntimeout=1\nsetsid=1\nbash=1\nstat=gnu\nfind_printf=1\ndd_fsync=1\n"
    assert script.parse_probe(full + "system=Linux") == Tools(
        "/r", True, True, True, "gnu", True, True, "Linux")


def test_probe_script_on_this_machine(tmp_path: Path) -> None:
    home = str(tmp_path / "h o")
    result = sh(script.PROBE, env=base_env(home))
    assert result.returncode == 0, result.stderr
    tools = script.parse_probe(result.stdout.decode())
    assert tools.home == home
    assert tools.system == os.uname().sysname
    assert tools.stat == "gnu"  # this is a GNU/Linux test machine
    assert tools.timeout and tools.find_printf


# --- background listing -------------------------------------------------------------------

def test_parse_listing() -> None:
    data = (b"20240101-000000-bbbbbb\t42\t1700000000\t\t1\tsleep 10\0"
            b"20240101-000000-aaaaaa\t7\t1700000001\t0\t0\tprintf 'a\tb'\nsecond line\0"
            b"broken\trecord\0"
            b"x\tnotapid\t1\t\t1\tcmd\0"
            b"20240101-000000-cccccc\t9\t\t-1\t0\tcmd\0"
            b"\0")
    infos = background.parse_listing(data, "/bg/")
    assert [i.id for i in infos] == ["20240101-000000-aaaaaa", "20240101-000000-bbbbbb",
                                     "20240101-000000-cccccc"]
    a, b, c = infos
    assert (a.pid, a.started, a.exit_code, a.alive, a.running) == (7, 1700000001.0, 0, False,
                                                                   False)
    assert a.command == "printf 'a\tb'\nsecond line"
    assert a.output_dir == "/bg/20240101-000000-aaaaaa"
    assert (b.pid, b.exit_code, b.alive, b.running, b.command) == (42, None, True, True,
                                                                   "sleep 10")
    assert (c.started, c.exit_code) == (0.0, -1)
    assert background.parse_listing(b"", "/bg") == []


def test_listing_script_and_parser_together(tmp_path: Path) -> None:
    bg_dir = tmp_path / "bg dir"
    for bg_id, pid, code, command in (("2-b", os.getpid(), None, "still 'running'"),
                                      ("1-a", 999_999_999, "3", "a\tb")):
        d = bg_dir / bg_id
        d.mkdir(parents=True)
        (d / "pid").write_text(f"{pid}\n")
        (d / "started").write_text("1700000000\n")
        (d / "command").write_text(command + "\n")
        if code is not None:
            (d / "exit_code").write_text(code + "\n")
    (bg_dir / "no-pid").mkdir()
    result = sh(background.listing(str(bg_dir)), env=base_env(str(tmp_path)))
    assert result.returncode == 0, result.stderr
    infos = background.parse_listing(result.stdout, str(bg_dir))
    assert [(i.id, i.pid, i.exit_code, i.alive, i.command, i.started) for i in infos] == [
        ("1-a", 999_999_999, 3, False, "a\tb", 1700000000.0),
        ("2-b", os.getpid(), None, True, "still 'running'", 1700000000.0),
    ]
    # A missing base directory is an empty listing.
    result = sh(background.listing(str(tmp_path / "none")), env=base_env(str(tmp_path)))
    assert (result.returncode, result.stdout) == (0, b"")


def test_check_id() -> None:
    assert background.check_id("20240101-000000-abc") == "20240101-000000-abc"
    for bad in ("", "../x", "a b", "a/b", "a;b", "$(x)"):
        with pytest.raises(InvalidArgument):
            background.check_id(bad)


# --- stat and list parsing ----------------------------------------------------------------

@pytest.mark.parametrize(("text", "bsd", "expected"), [
    ("12 1700000000 81a4\n", False, FileStat(12, 1700000000.0, 0o644, "file")),
    ("4096 1 41ed", False, FileStat(4096, 1.0, 0o755, "dir")),
    ("7 2 a1ff", False, FileStat(7, 2.0, 0o777, "symlink")),
    ("0 3 89ed", False, FileStat(0, 3.0, 0o4755, "file")),
    ("0 4 11a4", False, FileStat(0, 4.0, 0o644, "other")),  # a fifo
    ("12 1700000000 100644\n", True, FileStat(12, 1700000000.0, 0o644, "file")),
    ("64 5 40755", True, FileStat(64, 5.0, 0o755, "dir")),
    ("5 6 120777", True, FileStat(5, 6.0, 0o777, "symlink")),
    ("0 7 41777", True, FileStat(0, 7.0, 0o1777, "dir")),
    ("0 8 20620", True, FileStat(0, 8.0, 0o620, "other")),  # a character device
])
def test_parse_stat(text: str, bsd: bool, expected: FileStat) -> None:
    assert parse_stat(text, bsd=bsd, path="p") == expected


@pytest.mark.parametrize(("text", "bsd"), [
    ("", False), ("1 2", False), ("1 2 3 4", False), ("1 2 zz", False), ("1 2 9", True),
    ("1 2 81a4", True), ("x 1 81a4", False), ("1 soon 81a4", False), ("1 2 100644x", True),
])
def test_parse_stat_rejects_unexpected_output(text: str, bsd: bool) -> None:
    with pytest.raises(PathError, match=r"some/path: unexpected stat output"):
        parse_stat(text, bsd=bsd, path="some/path")


def test_stat_script_and_parser_together(tmp_path: Path) -> None:
    f = tmp_path / "f i'le"
    f.write_bytes(b"12345")
    f.chmod(0o640)
    (tmp_path / "d").mkdir(mode=0o711)
    (tmp_path / "d").chmod(0o711)
    (tmp_path / "link").symlink_to(f)
    tools = Tools(stat="gnu")
    for name, follow, kind in (("f i'le", True, "file"), ("d", True, "dir"),
                               ("link", True, "file"), ("link", False, "symlink")):
        path = str(tmp_path / name)
        result = sh(script.stat(path, tools, follow=follow))
        assert result.returncode == 0, result.stderr
        got = parse_stat(result.stdout.decode(), bsd=False, path=path)
        st = os.stat(path, follow_symlinks=follow)
        assert got == FileStat(st.st_size, float(int(st.st_mtime)),
                               stat_mod.S_IMODE(st.st_mode), kind)


def test_parse_list() -> None:
    data = (b"f 5 b file\0d 4096 a dir\0l 3 link\0p 0 fifo\0f - with - dashes\0"
            b"s 0 sock\0f 1 \xff\xfe\0\0")
    assert parse_list(data) == sorted([
        DirEntry("b file", "file", 5), DirEntry("a dir", "dir", 4096),
        DirEntry("link", "symlink", 3), DirEntry("fifo", "other", 0),
        DirEntry("with - dashes", "file", None), DirEntry("sock", "other", 0),
        DirEntry(os.fsdecode(b"\xff\xfe"), "file", 1)], key=lambda e: e.name)
    assert parse_list(b"") == []


@pytest.mark.parametrize("find_printf", [True, False])
def test_list_dir_script_and_parser_together(tmp_path: Path, find_printf: bool) -> None:
    d = tmp_path / "the dir"
    d.mkdir()
    names = {"plain": b"abc", " lead space": b"", "-dash": b"x", ".hidden": b"hh",
             "..dots": b"", "new\nline": b"1", "tab\there": b"22"}
    for name, content in names.items():
        (d / name).write_bytes(content)
    os.close(os.open(os.path.join(os.fsencode(d), b"bad\xffname"), os.O_CREAT | os.O_WRONLY))
    (d / "sub").mkdir()
    (d / "dangling").symlink_to(tmp_path / "nowhere")
    os.mkfifo(d / "fifo")
    result = sh(script.list_dir(str(d), Tools(find_printf=find_printf)))
    assert result.returncode == 0, result.stderr
    entries = {e.name: e for e in parse_list(result.stdout)}
    assert sorted(entries) == sorted(os.listdir(d))
    assert entries["sub"].kind == "dir"
    assert entries["dangling"].kind == "symlink"
    assert entries["fifo"].kind == "other"
    for name, content in names.items():
        assert entries[name].kind == "file"
        assert entries[name].size == (len(content) if find_printf else None)
    assert entries[os.fsdecode(b"bad\xffname")].kind == "file"
    # Missing directory and a file where a directory is expected.
    assert sh(script.list_dir(str(tmp_path / "nope"), Tools())).returncode == script.NOT_FOUND
    assert sh(script.list_dir(str(d / "plain"), Tools())).returncode == script.NOT_DIR


# --- write_file on every userland variant the probe can report ------------------------------

WRITE_VARIANTS = [
    pytest.param(script.Tools(stat="gnu", perl=True, system="Linux", machine=os.uname().machine),
                 id="perl"),
    pytest.param(script.Tools(stat="gnu", dd_fsync=True, chmod_ref=True), id="gnu"),
    pytest.param(script.Tools(stat="gnu", dd_fsync=False, chmod_ref=False), id="no-dd-no-ref"),
    pytest.param(script.Tools(stat="gnu", dd_fsync=True, chmod_ref=False), id="stat-chmod"),
    pytest.param(script.Tools(stat="none", dd_fsync=False, chmod_ref=False), id="bare"),
]


def run_write(tmp_path: Path, target: str, data: bytes, tools: script.Tools, *,
              size: int | None = None, parents: bool = True) -> int:
    code = script.write_file(target, len(data) if size is None else size, tools,
                             parents=parents)
    return subprocess.run(["sh", "-c", code], input=data, cwd=tmp_path, check=False,
                          capture_output=True, timeout=30).returncode


@pytest.mark.parametrize("tools", WRITE_VARIANTS)
def test_write_script_variants(tmp_path: Path, tools: script.Tools) -> None:
    target = tmp_path / "f"
    target.write_bytes(b"old")
    target.chmod(0o751)
    assert run_write(tmp_path, str(target), b"new content", tools) == 0
    assert target.read_bytes() == b"new content"
    if tools.chmod_ref or tools.stat != "none":
        assert target.stat().st_mode & 0o777 == 0o751  # the old mode stays
    assert run_write(tmp_path, str(target), b"short", tools, size=99) == script.SHORT_WRITE
    assert target.read_bytes() == b"new content"
    fresh = tmp_path / "sub" / "new"
    assert run_write(tmp_path, "sub/new", b"n", tools) == 0  # relative, parents made
    assert fresh.read_bytes() == b"n"
    assert fresh.stat().st_mode & 0o777 == 0o666 & ~tools.umask
    assert run_write(tmp_path, "none/x", b"n", tools, parents=False) == script.NO_PARENT
    (tmp_path / "link").symlink_to("f")
    assert run_write(tmp_path, "link", b"via link", tools) == 0
    assert target.read_bytes() == b"via link" and (tmp_path / "link").is_symlink()
    assert [p.name for p in tmp_path.rglob("*devenv-tmp*")] == []
    # A dead writer's temp file of this machine goes; another machine's (or container's:
    # another pid namespace) stays, whatever its pid says here.
    tag = script.node_tag(tools.node)
    (tmp_path / f".f.devenv-tmp-{tag}-999999999-dead").write_bytes(b"x")
    (tmp_path / ".f.devenv-tmp-elsewhere-999999999-live").write_bytes(b"x")
    assert run_write(tmp_path, str(target), b"again", tools) == 0
    assert [p.name for p in tmp_path.rglob("*devenv-tmp*")] == [
        ".f.devenv-tmp-elsewhere-999999999-live"]


def test_concurrent_first_callers_share_one_tool_probe(tmp_path: Path) -> None:
    """A new runtime's first burst of calls runs the target probe once, not once per call;
    a failed probe is tried again by the next call."""
    import asyncio

    from devenv.runtime import LocalRuntime
    from devenv.runtime.errors import TransportError

    runtime = LocalRuntime(tmp_path)
    probes = 0
    real = runtime._probe

    async def counted() -> Tools:
        nonlocal probes
        probes += 1
        if probes == 1:
            await asyncio.sleep(0.1)  # everyone arrives while it runs
            raise TransportError("no answer")
        return await real()

    runtime._probe = counted  # type: ignore[method-assign]

    async def main() -> None:
        first = await asyncio.gather(*[runtime.tools() for _ in range(20)],
                                     return_exceptions=True)
        assert probes == 1 and all(isinstance(r, TransportError) for r in first)
        again = await asyncio.gather(*[runtime.tools() for _ in range(20)])
        assert probes == 2 and all(tools is again[0] for tools in again)

    asyncio.run(main())


def test_parse_list_refuses_a_garbled_record() -> None:
    """What a (hostile) target prints is read, not trusted: a record without its fields is
    a PathError naming it, never a traceback."""
    with pytest.raises(PathError, match="unexpected directory listing"):
        parse_list(b"f 12 ok\0garbage\0")


def test_a_short_deadline_does_not_shorten_the_shared_probe(tmp_path: Path) -> None:
    """The probe is shared: the first caller's short deadline bounds only its own wait,
    never the probe that later callers wait for (review finding)."""
    import asyncio
    import time

    from devenv.runtime import LocalRuntime
    from devenv.runtime.errors import TransportError

    runtime = LocalRuntime(tmp_path)
    real = runtime._probe

    async def slow() -> Tools:
        await asyncio.sleep(0.6)
        return await real()

    runtime._probe = slow  # type: ignore[method-assign]

    async def main() -> None:
        hurried, patient = await asyncio.gather(
            runtime.tools(deadline=time.monotonic() + 0.2), runtime.tools(),
            return_exceptions=True)
        assert isinstance(hurried, TransportError), hurried
        assert isinstance(patient, Tools), patient

    asyncio.run(main())


def test_hostile_marker_and_listing_values_are_no_tracebacks() -> None:
    """Values a target prints are checked: an end marker of '--5' and a listing kind that
    is not ASCII are ignored or unknown, never a ValueError or UnicodeDecodeError."""
    parser = MarkerParser(b"n")
    parser.feed(MARK + b"n E --5\n" + MARK + "n S 1\u00b2\n".encode())
    assert parser.code is None and parser.pgid is None
    assert parse_list(b"\xff 1 x\0") == [DirEntry("x", "other", 1)]

