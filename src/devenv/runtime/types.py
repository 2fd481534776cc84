"""Values the runtimes hand back (their errors are in :mod:`.errors`)."""

from __future__ import annotations

from dataclasses import dataclass


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
