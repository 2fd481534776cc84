"""The errors the runtime library raises. They carry a one-line ``message`` and an optional
``hint``; the library gives them no exit codes (devenv's CLI maps them, in its ``errors``
module). This module imports nothing: the directory checks on ``devenv exec``'s fast path use
it without loading the library."""

from __future__ import annotations


class RuntimeFailure(Exception):
    """A runtime operation failed.

    :param message: what went wrong, one line.
    :param hint: what to do about it, one line, or ``None``.
    """

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class TransportError(RuntimeFailure):
    """The target could not be reached, or the connection died: the command's outcome is
    unknown (``started``: whether it was known to have started). ``retry_safe``: it surely
    did not start, so running it again cannot run it twice."""

    def __init__(self, message: str, hint: str | None = None, *, started: bool = False,
                 retry_safe: bool = False) -> None:
        super().__init__(message, hint)
        self.started = started
        self.retry_safe = retry_safe


class PathError(RuntimeFailure):
    """A file operation failed on the target (missing file, a directory where a file was
    expected, permission denied); the message names the path."""


class UnsafeDirectory(PathError):
    """A directory the library keeps private things in (sockets, locks, output) is not
    private: another user owns it or can write to it, or it is a link."""


class InvalidArgument(RuntimeFailure):
    """Bad input to a runtime call (an env name, an empty command, a host)."""


class LockTimeout(RuntimeFailure):
    """A cross-process lock was held by someone else for longer than the caller's bound."""
