"""Values the runtimes hand back, and the errors they raise."""

from __future__ import annotations

from dataclasses import dataclass

from devenv.errors import DevenvError

# Reserved exit codes in :class:`ExecResult` (a command's own codes are 0-255).
EXIT_TIMEOUT = -998
EXIT_ABORTED = -997


@dataclass
class ExecResult:
    """How a command ended.

    ``exit_code`` is the command's own code (0-255; 255 included: transport failures raise
    :class:`TransportError` instead), ``None`` when it was killed. ``signal`` is the signal
    that ended it when the runtime knows it (local runs; a remote shell reports a killed
    command as 128+N, like every shell). ``stdout``/``stderr`` hold the output when no
    callback consumed it.
    """

    exit_code: int | None
    duration: float
    signal: int | None = None
    timed_out: bool = False
    aborted: bool = False
    stdout: bytes = b""
    stderr: bytes = b""

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.timed_out and not self.aborted


@dataclass(frozen=True)
class FileStat:
    """``kind`` is ``file``, ``dir``, ``symlink`` (only from ``list_dir`` / ``follow=False``)
    or ``other``; ``mode`` holds the permission bits; ``mtime`` is in seconds."""

    size: int
    mtime: float
    mode: int
    kind: str

    @property
    def is_dir(self) -> bool:
        return self.kind == "dir"


@dataclass(frozen=True)
class DirEntry:
    name: str
    kind: str  # file, dir, symlink, other
    size: int | None = None


@dataclass
class BackgroundInfo:
    """A background process: where its output goes and whether it ended."""

    id: str
    pid: int
    output_dir: str
    command: str
    started: float
    exit_code: int | None = None
    alive: bool = False

    @property
    def running(self) -> bool:
        """Still running (its process is there and it wrote no exit code)."""
        return self.alive and self.exit_code is None


class RuntimeError_(DevenvError):
    """A runtime operation failed."""


class TransportError(RuntimeError_):
    """The target could not be reached, or the connection died: the command's outcome is
    unknown (``started``: whether it was known to have started). ``retry_safe``: it surely
    did not start, so running it again cannot run it twice."""

    def __init__(self, message: str, hint: str | None = None, *, started: bool = False,
                 retry_safe: bool = False) -> None:
        super().__init__(message, hint)
        self.started = started
        self.retry_safe = retry_safe


class PathError(RuntimeError_):
    """A file operation failed on the target (missing file, a directory where a file was
    expected, permission denied); the message names the path."""


class InvalidArgument(RuntimeError_):
    """Bad input to a runtime call (an env name, an empty command)."""

    exit_code = 2
