"""One deadline for everything a call does before its command starts (``exec --timeout``).

``devenv exec --timeout 5`` promises an answer within 5 s, whatever devenv must do first: wait
for the state database or a lock another devenv holds, ask Docker, start the environment.
:func:`within` sets that deadline for the block; every bounded wait devenv makes (the state
database's busy timeout, file locks, child processes, waiting for sshd) asks :func:`bound` for
its timeout, which is never past the deadline. A failure after the deadline passed is reported
as "the command did not start within N s", with what devenv was waiting for, and exit 125.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from devenv.errors import EXIT_PRE_CHILD, DevenvError

_deadline: ContextVar[float | None] = ContextVar("devenv_deadline", default=None)


class NotStarted(DevenvError):
    """The deadline passed before the command started."""

    exit_code = EXIT_PRE_CHILD


def bound(timeout: float) -> float:
    """``timeout``, shortened to what is left of the current deadline (at least a moment,
    so the wait itself reports what it was waiting for)."""
    end = _deadline.get()
    if end is None:
        return timeout
    return max(0.05, min(timeout, end - time.monotonic()))


def remaining() -> float | None:
    """Seconds left before the deadline (``None`` without one)."""
    end = _deadline.get()
    return None if end is None else end - time.monotonic()


def passed() -> bool:
    end = _deadline.get()
    return end is not None and time.monotonic() >= end - 0.01


@contextmanager
def within(seconds: float | None, what: str = "the command") -> Iterator[None]:
    """Everything in the block must be done within ``seconds`` (``None``: no deadline)."""
    if seconds is None:
        yield
        return
    outer = _deadline.get()
    end = time.monotonic() + seconds
    token = _deadline.set(end if outer is None else min(outer, end))
    try:
        yield
    except DevenvError as e:
        if not passed() or isinstance(e, NotStarted):
            raise
        raise NotStarted(f"{what} did not start within {seconds:g}s: {e.message}",
                         "try again when that is resolved, or give a longer --timeout"
                         ) from None
    finally:
        _deadline.reset(token)
