"""Running a project's init hook in a new workspace (docs/security.md, "The workspace init
hook").

The hook runs as an executable on the workspace's target, through the runtime library (any
:class:`devenv.runtime.Runtime`: this machine, an SSH host, an environment). The bytes to
run come from the caller -- the very bytes whose trust it checked
(:mod:`devenv.workspaces.trust`) -- and are written into a private directory on the target
(``mktemp -d``: 0700) and run from there, so the project's file is never read again: an
agent that edits it after the check changes nothing that runs. A shebang is honoured; a file
without one runs as a ``sh`` script, as shells run such files.

A hook that fails, or runs past its timeout, is a result for the caller to report, never an
exception (the workspace stays usable); a target that cannot be reached raises.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import math
import os
import secrets
import stat
import sys
import time
from dataclasses import dataclass

from devenv.config_checks import DEFAULT_INIT_TIMEOUT
from devenv.errors import DevenvError, safe_text

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pathlib import Path
    from typing import BinaryIO

    from devenv.runtime import Runtime

# Seconds a hook may run: the default of the init_timeout setting (Config.init_timeout).
INIT_TIMEOUT = float(DEFAULT_INIT_TIMEOUT)
# Putting the hook in place and removing it again: each one quick command on the target.
SETUP_TIMEOUT = 60.0
CLEANUP_TIMEOUT = 30.0
_PREFIX = "devenv-init-"

# $1: a random token of this run, in the directory's name, so that a run cancelled before it
# learnt the name can still find its directory. The directory is printed first (for the
# cleanup if a later step fails), then the size that arrived: a hook cut short by a broken
# stream must never run (a prefix of a script can do what the whole would not).
_PLACE = (
    'd=$(mktemp -d "${TMPDIR:-/tmp}/' + _PREFIX + '$1.XXXXXXXX") || exit 90\n'
    'printf "%s\\n" "$d"\n'
    "umask 077\n"
    'cat > "$d/init" || exit 91\n'
    'chmod 700 "$d/init" || exit 92\n'
    'wc -c < "$d/init" | tr -d " \\t"\n'
)
_PLACE_FAILED = {90: "mktemp -d failed", 91: "writing the hook failed",
                 92: "chmod failed"}
# Run by a shell's exec: a file without a shebang then runs as a sh script (ENOEXEC), on
# every target alike (a local execve alone would refuse it). Its stderr joins its stdout:
# one stream keeps the order in which the hook wrote its lines (two pipes would not).
_RUN = 'exec "$1" 2>&1'


@dataclass(frozen=True)
class HookResult:
    """How the hook ended: its exit code (128+N when a signal N ended it by itself, as
    shells say it; ``None`` when its timeout killed it), whether its timeout killed it, and
    how long it ran (seconds)."""

    exit_code: int | None
    timed_out: bool
    duration: float

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.timed_out


class HookError(DevenvError):
    """The hook could not be put in place on the target (nothing of it ran)."""


async def run_init(rt: Runtime, workdir: str, content: bytes, *, env: dict[str, str],
                   timeout: float = INIT_TIMEOUT, log_path: str | Path,
                   out: BinaryIO | None = None) -> HookResult:
    """Run ``content`` (the trusted bytes of ``.devenv/init``) as an executable on ``rt``,
    in ``workdir``, with ``env`` added to the target's environment (the caller's
    ``DEVENV_WORKSPACE``, ``DEVENV_PROJECT``, ``DEVENV_TARGET``).

    Its output (stdout and stderr, as they arrive) goes to ``out`` (default: this process's
    stderr) and is appended to ``log_path``, a file on this machine created 0600 in a
    private directory the caller made. After ``timeout`` seconds the hook's whole process
    group is killed on the target; so it is when the awaiting task is cancelled (Ctrl-C),
    and the cancellation then goes on. The private directory on the target is removed
    afterwards in every case. A non-zero exit is a result, never an exception; transport
    failures (:class:`devenv.runtime.TransportError`) and a hook that could not be put in
    place (:class:`HookError`) raise."""
    if not (math.isfinite(timeout) and timeout > 0):
        raise ValueError(f"timeout must be a positive number of seconds, not {timeout!r}")
    sink = _Output(out if out is not None else sys.stderr.buffer, log_path)
    token = secrets.token_hex(8)
    directory: str | None = None
    ended = ""
    try:
        sink.note(f"devenv init: {time.strftime('%Y-%m-%d %H:%M:%S')} on {rt.label} in "
                  f"{workdir} ({len(content)} bytes, sha256 "
                  f"{hashlib.sha256(content).hexdigest()})")
        directory = await _place(rt, content, token)
        result = await rt.exec(["sh", "-c", _RUN, "devenv-init", f"{directory}/init"],
                               cwd=workdir, env=env, timeout=timeout, on_stdout=sink.write,
                               on_stderr=sink.write)
        code = result.exit_code
        if code is None and result.signal is not None and not result.timed_out:
            code = 128 + result.signal  # killed by a signal of its own: as shells say it
        done = HookResult(code, result.timed_out, result.duration)
        ended = (f"timed out after {timeout:g} s: killed" if done.timed_out else
                 f"exit {done.exit_code} after {done.duration:.1f} s")
        return done
    except asyncio.CancelledError:
        ended = "cancelled: killed"
        raise
    except BaseException as e:
        ended = "failed: " + (getattr(e, "message", None) or repr(e))
        raise
    finally:
        try:
            await _remove(rt, directory, token, sink)
        finally:  # a second Ctrl-C during the removal still closes the log
            sink.note(f"devenv init: {ended}")
            sink.close()


async def _place(rt: Runtime, content: bytes, token: str) -> str:
    """Write ``content`` into a new private directory on ``rt`` (as its ``init``, 0700)
    through one command's stdin; the directory."""
    result = await rt.exec(["sh", "-c", _PLACE, "devenv-place", token], stdin=content,
                           timeout=SETUP_TIMEOUT)
    if result.timed_out:
        raise HookError(f"could not put the init hook on {rt.label}: no answer within "
                        f"{SETUP_TIMEOUT:g} s", "check that the target is not hung")
    lines = result.stdout.decode("utf-8", "surrogateescape").split("\n")
    if result.exit_code is None:
        why = "the command was killed"
    elif result.exit_code != 0:
        why = _PLACE_FAILED.get(result.exit_code, f"exit {result.exit_code}")
    elif len(lines) != 3 or lines[1] != str(len(content)):
        arrived = lines[1] if len(lines) > 1 and lines[1] else "no size"
        why = f"{arrived} of {len(content)} bytes arrived"
    else:
        return lines[0]
    tail = result.stderr.decode("utf-8", "replace").strip().splitlines()[-1:]
    raise HookError(safe_text(f"could not put the init hook on {rt.label}: {why}"
                              + (f": {tail[0]}" if tail else "")),
                    "check the target's temporary directory ($TMPDIR, else /tmp): space, "
                    "permissions")


async def _remove(rt: Runtime, directory: str | None, token: str, sink: _Output) -> None:
    """Remove this run's directory on ``rt``: by name when it is known, else (a run cut
    short before it learnt the name) whatever ``mktemp`` made from this run's token."""
    try:
        if directory is not None and f"/{_PREFIX}{token}." in directory:
            await rt.remove(directory, recursive=True, missing_ok=True)
        else:
            await rt.exec(["sh", "-c", 'rm -rf -- "${TMPDIR:-/tmp}/' + _PREFIX + '$1".*',
                           "devenv-clean", token], timeout=CLEANUP_TIMEOUT)
    except Exception as e:  # noqa: BLE001 - the run's own outcome (or error) comes first
        where = directory or f"{_PREFIX}{token}.*"
        sink.note(f"devenv: could not remove the init hook's directory {where} on "
                  f"{rt.label}: {getattr(e, 'message', e)}", show=True)


class _Output:
    """Where the hook's output goes: the caller's stream, as it comes, and the log file."""

    def __init__(self, out: BinaryIO, log_path: str | Path) -> None:
        self.out: BinaryIO | None = out
        self.log = _open_log(os.fspath(log_path))
        self.log_ok = True

    def write(self, chunk: bytes) -> None:
        # Neither a terminal that went away nor a full disk stops the hook: what can still
        # be written is.
        if self.out is not None:
            try:
                self.out.write(chunk)
                self.out.flush()
            except (OSError, ValueError):
                self.out = None
        self._log(chunk)

    def _log(self, data: bytes) -> None:
        if self.log_ok:
            try:
                _write_all(self.log, data)
            except OSError:
                self.log_ok = False

    def note(self, line: str, *, show: bool = False) -> None:
        """A line of devenv's own in the log (and on ``out`` with ``show``)."""
        data = f"=== {safe_text(line)}\n".encode()
        self._log(data)
        if show and self.out is not None:
            with contextlib.suppress(OSError, ValueError):
                self.out.write(data[4:])
                self.out.flush()

    def close(self) -> None:
        os.close(self.log)


def _open_log(path: str) -> int:
    """``path`` opened for appending, created 0600 (never through a link; an existing
    file of ours is made 0600)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW
                     | os.O_CLOEXEC | os.O_NONBLOCK, 0o600)
    except OSError as e:
        raise HookError(f"cannot open the init hook's log {safe_text(path)}: {e.strerror}",
                        "pass a log file path in a private directory of yours") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise HookError(f"{safe_text(path)} is not a regular file",
                            "pass a log file path in a private directory")
        if st.st_mode & 0o077 and st.st_uid == os.getuid():
            os.fchmod(fd, 0o600)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
