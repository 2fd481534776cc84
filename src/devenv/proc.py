"""devenv's synchronous way to start processes (the runtime library's asyncio one is
:mod:`devenv.runtime.child`): :func:`run` and :func:`stream` (captured, bounded),
:func:`spawn` (light, for the exec fast path) and :func:`exec_replace` (hand-over).

Rules: argv is a list (never a shell); every call has an explicit timeout; environment
overrides use ``None`` to delete a variable; with ``DEVENV_DEBUG=1`` each command is logged to
stderr with secrets redacted; a timeout escalates SIGINT -> SIGTERM -> SIGKILL, as the
runtime library does (:mod:`devenv.runtime.child`).

:func:`exec_replace` is on the attach/exec fast path, so this module imports nothing beyond
``os`` and ``sys`` at load time; ``subprocess`` and ``shlex`` come in when first needed.
"""

from __future__ import annotations

import os
import sys

from devenv.errors import CommandError, DevenvError, EngineUnavailable, signal_exit

TYPE_CHECKING = False
if TYPE_CHECKING:
    import subprocess
    from collections.abc import Callable, Mapping, Sequence
    from typing import NoReturn

_SECRET_MARKERS = ("PASSWORD", "TOKEN", "SECRET", "KEY=")



class Result:
    """A finished process: its argv, exit code and captured output."""

    __slots__ = ("argv", "returncode", "stderr", "stdout")

    def __init__(self, argv: list[str], returncode: int, stdout: str, stderr: str) -> None:
        self.argv = argv
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr


def debug_enabled() -> bool:
    return os.environ.get("DEVENV_DEBUG", "") not in ("", "0")


def redact(argv: Sequence[str]) -> str:
    """The command line for logs, with anything that looks like a secret hidden."""
    import shlex

    shown = []
    for arg in argv:
        secret = any(marker in arg.upper() for marker in _SECRET_MARKERS) and "=" in arg
        shown.append(arg.split("=", 1)[0] + "=***" if secret else arg)
    return shlex.join(shown)


def _log(argv: Sequence[str]) -> None:
    if debug_enabled():
        print(f"devenv: + {redact(argv)}", file=sys.stderr, flush=True)


def _merged_env(env: Mapping[str, str | None] | None) -> dict[str, str] | None:
    if env is None:
        return None
    merged = dict(os.environ)
    for key, value in env.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


def _missing(argv: Sequence[str]) -> DevenvError:
    if argv[0] == "docker":
        return EngineUnavailable(
            "the docker CLI is not installed (no 'docker' on PATH)",
            "install Docker, or run scripts/engine.sh as root on Debian",
        )
    return DevenvError(f"'{argv[0]}' is not installed (not found on PATH)",
                       f"install {argv[0]} and try again")


def spawn(argv: list[str], *, stdout: int | None = None, stderr: int | None = None,
          quiet: bool = False, detach: bool = False) -> int:
    """Start ``argv`` with ``posix_spawn`` (no ``subprocess`` import: the fast paths); its
    pid, for the caller to wait for. ``stdout``/``stderr``: descriptors for them (else ours);
    ``quiet``: what is not given is ``/dev/null``, stdin too. Descriptors Python opened are
    not inherited (PEP 446): the child gets only these three. ``detach`` starts it in a
    session of its own (no terminal: a hang-up or Ctrl-C there does not reach it), for a
    child nobody waits for."""
    null = os.open(os.devnull, os.O_RDWR) if quiet else None
    actions = [(os.POSIX_SPAWN_DUP2, source, target)
               for target, source in ((0, null), (1, stdout if stdout is not None else null),
                                      (2, stderr if stderr is not None else null))
               if source is not None]
    try:
        return os.posix_spawnp(argv[0], argv, os.environ, file_actions=actions,
                               setsid=detach)
    finally:
        if null is not None:
            os.close(null)


def start_capture(argv: list[str]) -> tuple[int, int] | None:
    """Start ``argv`` light (:func:`spawn`; stdin empty, stderr discarded) for
    :func:`collect`: its pid and the read end of its stdout, or ``None`` if it could not
    start. The caller may do other work (imports) meanwhile."""
    _log(argv)
    read, write = os.pipe()
    try:
        pid = spawn(argv, stdout=write, quiet=True)
    except OSError:
        os.close(read)
        return None
    finally:
        os.close(write)
    return pid, read


def first_line(started: tuple[int, int], timeout: float) -> bytes | None:
    """The first line a :func:`start_capture` writes (``None``: none within ``timeout``, or
    it ended first); the process is ended then, by the one escalation."""
    import select
    import time

    pid, read = started
    data = b""
    deadline = time.monotonic() + timeout
    try:
        while b"\n" not in data:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([read], [], [], left)[0]:
                break
            chunk = os.read(read, 4096)
            if not chunk:
                break
            data += chunk
    finally:
        os.close(read)
        end_pid(pid)
    return data.split(b"\n", 1)[0] if b"\n" in data else None


def collect(started: tuple[int, int], timeout: float) -> tuple[int | None, bytes]:
    """The exit code (``None``: it was ended at ``timeout``, by the one escalation) and
    the stdout of a :func:`start_capture`."""
    import select
    import time

    pid, read = started
    chunks = []
    deadline = time.monotonic() + timeout
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([read], [], [], left)[0]:
                end_pid(pid)
                return None, b""
            chunk = os.read(read, 65536)
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(read)
    # Its output ended; it may not have (a child that closed stdout): bounded too.
    code = wait_pid(pid, max(deadline - time.monotonic(), 0.0))
    if code is None:
        end_pid(pid)
    return code, b"".join(chunks)


def wait_pid(pid: int, timeout: float | None = None) -> int | None:
    """Exit code of the :func:`spawn` child ``pid`` (128+N for a signal); ``None`` if it
    still runs at ``timeout``."""
    import select

    waited, step = 0.0, 0.001  # a signalled child is usually gone within a millisecond
    while True:
        done, status = os.waitpid(pid, 0 if timeout is None else os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else \
                signal_exit(os.WTERMSIG(status))
        if timeout is not None and waited >= timeout:
            return None
        select.select([], [], [], step)
        waited += step
        step = min(step * 2, 0.02)


def end_pid(pid: int) -> int:
    """End the :func:`spawn` child ``pid`` by the one escalation
    (:data:`devenv.runtime.wire.ESCALATION`, KILL last); its exit code."""
    from devenv.runtime.wire import ESCALATION

    for sig, wait in ESCALATION:
        try:  # noqa: SIM105 - contextlib costs an import on the exec path
            os.kill(pid, sig)
        except ProcessLookupError:
            pass
        rc = wait_pid(pid, wait)
        if rc is not None:
            return rc
    os.kill(pid, 9)  # SIGKILL
    rc = wait_pid(pid)
    return rc if rc is not None else signal_exit(9)


def _stop(proc: subprocess.Popen[str]) -> None:
    """End ``proc`` by the one escalation (:data:`devenv.runtime.wire.ESCALATION`: INT,
    TERM, each with a bounded wait, then KILL)."""
    import subprocess

    from devenv.runtime.wire import ESCALATION

    for sig, wait in ESCALATION:
        proc.send_signal(sig)
        try:
            proc.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue
    proc.kill()
    proc.wait()


def run(
    argv: Sequence[str],
    *,
    timeout: float,
    env: Mapping[str, str | None] | None = None,
    input: str | None = None,
    check: bool = True,
    capture: bool = True,
    cwd: str | os.PathLike[str] | None = None,
) -> Result:
    """Run ``argv`` to completion and return its :class:`Result`.

    :param timeout: seconds before the child is interrupted and a :class:`DevenvError` raised.
    :param env: overrides on top of the current environment; ``None`` values delete.
    :param input: text for the child's stdin (otherwise stdin is ``/dev/null``).
    :param check: raise :class:`CommandError` on a non-zero exit.
    :param capture: capture stdout/stderr (otherwise they go to ours).
    """
    import subprocess

    from devenv import deadline

    timeout = deadline.bound(timeout)
    args = [str(a) for a in argv]
    _log(args)
    pipe = subprocess.PIPE if capture else None
    try:
        proc = subprocess.Popen(
            args,
            stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
            stdout=pipe,
            stderr=pipe,
            env=_merged_env(env),
            cwd=cwd,
            text=True,
            errors="replace",
        )
    except FileNotFoundError:
        raise _missing(args) from None
    try:
        out, err = proc.communicate(input, timeout=timeout)
    except subprocess.TimeoutExpired:
        _stop(proc)
        raise DevenvError(f"'{redact(args[:3])} ...' did not finish within {timeout:g}s",
                          "run with DEVENV_DEBUG=1 to see what it was doing") from None
    except BaseException:
        _stop(proc)
        raise
    result = Result(args, proc.returncode, out or "", err or "")
    if check and result.returncode != 0:
        raise CommandError(args, result.returncode, result.stderr)
    return result


def stream(argv: Sequence[str], *, timeout: float, sink: Callable[[str], None]) -> int:
    """Run ``argv`` with stdout and stderr merged, handing each line to ``sink`` as it
    comes; return the exit code. After ``timeout`` seconds the child is interrupted and a
    :class:`DevenvError` raised."""
    import subprocess
    import threading

    from devenv import deadline

    timeout = deadline.bound(timeout)
    args = [str(a) for a in argv]
    _log(args)
    try:
        proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, errors="replace")
    except FileNotFoundError:
        raise _missing(args) from None
    fired = threading.Event()

    def expire() -> None:
        fired.set()
        _stop(proc)

    timer = threading.Timer(timeout, expire)
    timer.start()
    try:
        assert proc.stdout is not None  # noqa: S101 - PIPE above guarantees it
        for line in proc.stdout:
            sink(line)
        code = proc.wait()
    except BaseException:
        _stop(proc)
        raise
    finally:
        timer.cancel()
    if fired.is_set():
        raise DevenvError(f"'{redact(args[:3])} ...' did not finish within {timeout:g}s")
    return code


def exec_replace(argv: Sequence[str], env: Mapping[str, str | None] | None = None) -> NoReturn:
    """Replace this process with ``argv`` (interactive hand-over; Python never proxies a TTY)."""
    args = [str(a) for a in argv]
    _log(args)
    sys.stdout.flush()
    sys.stderr.flush()
    merged = _merged_env(env)
    try:
        if merged is None:
            os.execvp(args[0], args)
        os.execvpe(args[0], args, merged)
    except FileNotFoundError:
        raise _missing(args) from None
