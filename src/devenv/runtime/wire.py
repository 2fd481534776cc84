"""Shell quoting and the exec marker protocol, with nothing heavier than builtins to import:
``devenv exec``'s SSH fast path uses it on every call (``shlex`` and ``re`` cost ~15 ms).

This is the one place remote command strings are quoted (docs/architecture.md); :func:`quote` is
``shlex.quote`` (same output).

The protocol: the target's shell prints ``\\x1fDVN<nonce> S <pgid>`` on stderr before the
command runs (``C`` instead when the working directory cannot be entered) and
``\\x1fDVN<nonce> E <exit code>`` after it; :class:`MarkerParser` takes them out of the
stream.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    import signal as _signal
else:  # the C module: ``signal`` would import ``enum``
    import _signal

# In devenv's environments: the container's whole environment as shell exports (written by
# devenv-init), which sshd's SetEnv cannot fully carry (values with newlines). Commands that
# devenv runs there over SSH read it first, so they get what docker exec would give them.
ENV_FILE = "/var/lib/devenv/sshd/environment"
ENV_PREAMBLE = f"[ -r {ENV_FILE} ] && . {ENV_FILE}; "

# How every child of devenv and of the library is ended (runtime/child.py, devenv.proc,
# devenv exec): each signal, then at most that many seconds for it to go; SIGKILL comes
# last.
ESCALATION = ((_signal.SIGINT, 0.3), (_signal.SIGTERM, 1.0))
SSH_FAILED = 255  # ssh's own exit code for its errors (a remote command may also exit 255)
MARK = b"\x1fDVN"
MARK_OCTAL = "\\037DVN"  # the same, for printf
_SAFE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_@%+=:,./-")


def ssh_argv(options: list[str] | tuple[str, ...], host: str,
             command: str | None = None) -> list[str]:
    """The one ``ssh`` command line: the options, then the host, then the remote command (one
    word: ssh joins its words with spaces for the remote shell, so the caller quotes). The
    host is one positional word after every option: nothing after it is read as one."""
    return ["ssh", *options, host, *([] if command is None else [command])]


def quote(word: str) -> str:
    """``word`` as one POSIX shell word (exactly what ``shlex.quote`` returns)."""
    if not word:
        return "''"
    if all(c in _SAFE for c in word):
        return word
    return "'" + word.replace("'", "'\"'\"'") + "'"


def join(argv: list[str]) -> str:
    return " ".join(quote(a) for a in argv)


def script(words: str, *, nonce: str, cd: str | None, exports: str = "",
           leader: str = '"$$"') -> str:
    """The POSIX sh script around one command (``words``): markers, ``cd`` (a quoted
    word), ``exports`` (``export K=V; `` statements)."""
    mark = MARK_OCTAL + nonce
    enter = ""
    if cd is not None:
        enter = f"cd -- {cd} 2>/dev/null || {{ printf '{mark} C\\n' >&2; exit 125; }}; "
    return (f"{enter}{exports}printf '{mark} S %s\\n' {leader} >&2; {words}; "
            f"rc=$?; printf '{mark} E %s\\n' \"$rc\" >&2; exit \"$rc\"")


def kill_group(pgid: int, grace: float = 1.0) -> str:
    """TERM the process group ``pgid``, then KILL it if still there after ``grace`` s.
    (``kill -SIG -PGID``: dash's kill takes no ``--``.)"""
    steps = max(1, round(grace / 0.1))
    return (f"kill -TERM -{pgid} 2>/dev/null; i=0; "
            f"while kill -0 -{pgid} 2>/dev/null && [ $i -lt {steps} ]; do "
            f"sleep 0.1; i=$((i+1)); done; kill -KILL -{pgid} 2>/dev/null; exit 0")


class MarkerParser:
    """Splits a stream into passthrough bytes and marker events ``(kind, value)``, and keeps
    what the markers said: :attr:`pgid` (the command started, in that process group),
    :attr:`code` (it ended so) and :attr:`bad_cwd` (its directory could not be entered).

    Marker lines may arrive split across reads; anything that could be the start of one is
    held back until it is decided. ``\\r`` before the newline (a PTY) is accepted. Values
    come from the target and are checked (a number is ASCII digits, or it is ignored).
    """

    def __init__(self, nonce: bytes) -> None:
        self.prefix = MARK + nonce + b" "
        self.buffer = b""
        self.pgid: int | None = None
        self.code: int | None = None
        self.bad_cwd = False

    def _note(self, kind: str, value: str) -> None:
        if kind == "S" and value.isascii() and value.isdecimal():
            self.pgid = int(value)
        elif kind == "E" and value.isascii() and value.removeprefix("-").isdecimal():
            self.code = int(value)
        elif kind == "C":
            self.bad_cwd = True

    def feed(self, chunk: bytes) -> tuple[bytes, list[tuple[str, str]]]:
        data = self.buffer + chunk if self.buffer else chunk
        self.buffer = b""
        out: list[bytes] = []
        events: list[tuple[str, str]] = []
        while data:
            at = data.find(self.prefix)
            if at < 0:
                keep = _partial_suffix(data, self.prefix)
                out.append(data[:len(data) - keep])
                self.buffer = data[len(data) - keep:]
                break
            out.append(data[:at])
            end = data.find(b"\n", at)
            if end < 0:
                self.buffer = data[at:]
                break
            body = data[at + len(self.prefix):end].rstrip(b"\r").decode("ascii", "replace")
            kind, _, value = body.partition(" ")
            self._note(kind, value)
            events.append((kind, value))
            data = data[end + 1:]
        return b"".join(out), events

    def flush(self) -> bytes:
        rest, self.buffer = self.buffer, b""
        return rest


# What a marked run came to. Decided once, here, for devenv exec's synchronous path and the
# library's asyncio one; each then says it its own way (an exit code and a message, or an
# ExecResult and an exception).
ENDED = "ended"  # the end marker: the command's own exit code
BAD_CWD = "bad-cwd"  # the working directory could not be entered; nothing ran
LOST = "lost"  # started, no end marker: the connection died while it ran
NOT_STARTED = "not-started"  # no marker and the transport failed: safe to run elsewhere
REFUSED = "refused"  # no marker, yet the transport ended normally: the shell did not run it


# What ssh says when the master is up but the server would not open one more session on it
# (sshd's MaxSessions, counting sessions it has not freed yet): not started, and the
# connection is fine -- another channel, or a short wait, does it.
SESSION_REFUSED = "Session open refused by peer"


def session_refused(stderr: str) -> bool:
    return SESSION_REFUSED in stderr


def outcome(marks: MarkerParser, rc: int | None) -> str:
    """The outcome of a run whose markers went through ``marks`` and whose transport
    (ssh, docker exec) exited with ``rc`` (``None`` or negative: killed)."""
    if marks.bad_cwd:
        return BAD_CWD
    if marks.code is not None:
        return ENDED
    if marks.pgid is not None:
        return LOST
    if rc is None or rc < 0 or rc == SSH_FAILED:
        return NOT_STARTED
    return REFUSED


def _partial_suffix(data: bytes, prefix: bytes) -> int:
    """Length of the longest suffix of ``data`` that is a proper prefix of ``prefix``."""
    for n in range(min(len(prefix) - 1, len(data)), 0, -1):
        if data.endswith(prefix[:n]):
            return n
    return 0
