"""devenv's error hierarchy and every exit code. Only ``cli.main`` turns errors into exit
codes (the runtime library's own errors, :mod:`devenv.runtime.errors`, too: see
:func:`exit_code_of`).

Exit codes (documented in the README):

=====  ====================================================================
0      success
1      an operation failed (docker refused, build failed, a wait timed out)
2      usage: bad arguments or bad input (path, port, name)
3      unexpected internal error; the traceback is in the log file named
4      conflict: name collision, port busy or reserved, already running elsewhere
5      not found: no such environment
6      engine unavailable: docker CLI missing or the Docker engine not answering
7      configuration error: a config file or tool recipe is invalid (message names the field)
124    ``devenv exec --timeout``: the command did not end in time, and was killed
125    ``devenv exec`` / attach: devenv failed before the command started
130    interrupted (Ctrl-C)
128+N  ``devenv exec``: interrupted by signal N (143: TERM), or the command was killed by it
255    ``devenv exec``: the connection died while the command ran
=====  ====================================================================
"""

from __future__ import annotations

from devenv.runtime.errors import InvalidArgument, RuntimeFailure, UnsafeDirectory

EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERNAL = 3
EXIT_CONFLICT = 4
EXIT_NOT_FOUND = 5
EXIT_ENGINE = 6
EXIT_CONFIG = 7
EXIT_TIMEOUT = 124  # as coreutils' timeout
EXIT_PRE_CHILD = 125
EXIT_INTERRUPTED = 130
EXIT_LOST = 255  # as ssh: the connection died while the command ran


def signal_exit(signum: int) -> int:
    """The exit code of a process ended by signal ``signum``, as shells report it."""
    return 128 + signum


def safe_text(text: str, keep: str = "") -> str:
    """``text`` safe to print on a terminal: control characters (newlines, escape sequences,
    possibly from what a container or a file said) appear escaped, never obeyed; ``keep``
    names the ones left as they are (``"\\n\\t"`` for a log)."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() or c in keep else repr(c)[1:-1] for c in text)


class DevenvError(Exception):
    """An expected failure: one line for the user, an optional hint, an exit code.

    :param message: what went wrong, one line.
    :param hint: what to do about it, one line, or ``None``.
    """

    exit_code = EXIT_FAILED

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


def exit_code_of(error: DevenvError | RuntimeFailure) -> int:
    """The exit code for an expected failure: devenv's own carry theirs; the runtime
    library's (which has no exit codes) give a usage error for bad input, else 1."""
    if isinstance(error, DevenvError):
        return error.exit_code
    if isinstance(error, UnsafeDirectory):  # as paths.private_dir's ConflictError
        return EXIT_CONFLICT
    return EXIT_USAGE if isinstance(error, InvalidArgument) else EXIT_FAILED


class UsageError(DevenvError):
    """Bad arguments or input: a path, port or name that cannot be used."""

    exit_code = EXIT_USAGE


class ConflictError(DevenvError):
    """Something else holds what was asked for (a name, a port)."""

    exit_code = EXIT_CONFLICT


class NotFoundError(DevenvError):
    """No environment matches."""

    exit_code = EXIT_NOT_FOUND


class EngineUnavailable(DevenvError):
    """The docker CLI is missing or the engine does not answer."""

    exit_code = EXIT_ENGINE


class ConfigError(DevenvError):
    """A config file is invalid; the message names the file and the field."""

    exit_code = EXIT_CONFIG


class CommandError(DevenvError):
    """A child process failed; carries its argv, exit code and the tail of its stderr."""

    def __init__(
        self, argv: list[str], returncode: int, stderr: str, hint: str | None = None
    ) -> None:
        tail = " ".join(stderr.strip().splitlines()[-3:]) or "no error output"
        super().__init__(f"{' '.join(argv[:2])} failed (exit {returncode}): {tail}", hint)
        self.argv = argv
        self.returncode = returncode
        self.stderr = stderr
