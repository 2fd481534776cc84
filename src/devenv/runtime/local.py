"""Runtimes on this machine: :class:`LocalRuntime` (a directory) and
:class:`WorktreeRuntime` (a git worktree of a repository, created on first use).

Commands run as ``sh -c`` children in their own session; files are handled natively
(atomic writes: temp file in the same directory, fsync, rename, directory fsync)."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import re
import shutil
import stat as stat_mod
from collections.abc import AsyncIterator, Callable, Mapping

from devenv.runtime import child, process, script
from devenv.runtime.base import Command, Data, ShellRuntime, pty_script
from devenv.runtime.dirs import RuntimeDirs
from devenv.runtime.errors import InvalidArgument, PathError, RuntimeFailure
from devenv.runtime.locks import async_locked
from devenv.runtime.parse import kind_of
from devenv.runtime.private import private_dir
from devenv.runtime.process import Execution
from devenv.runtime.pty import PtySession, open_session
from devenv.runtime.types import BackgroundInfo, DirEntry, FileStat

CHUNK = 1 << 20


class LocalRuntime(ShellRuntime):
    """Commands and files in ``root`` on this machine (no isolation)."""

    root: str

    def __init__(self, root: str | os.PathLike[str] = ".", *,
                 dirs: RuntimeDirs | None = None) -> None:
        self.root = os.path.abspath(os.path.expanduser(os.fspath(root)))
        self.label = f"local:{self.root}"
        self.dirs = dirs or RuntimeDirs.default()
        self.bg_dir = self.dirs.background_dir

    async def _ready(self) -> None:
        return None

    # -- background processes: the output base is verified here first ----------------------

    def _private_bg(self) -> None:
        """Create the background-output base 0700 and verify it (ours, closed, no link)
        before every use: the script's ``mkdir -p``/``chmod`` would take a directory or link
        another user prepared, and with it the output we read back."""
        private_dir(self.bg_dir)

    async def spawn(self, command: Command, *, cwd: str | None = None,
                    env: Mapping[str, str] | None = None,
                    login: bool = False) -> BackgroundInfo:
        self._private_bg()
        return await super().spawn(command, cwd=cwd, env=env, login=login)

    async def read_output(self, bg_id: str, offset: int = 0) -> tuple[bytes, int]:
        self._private_bg()
        return await super().read_output(bg_id, offset)

    async def terminate(self, bg_id: str) -> int:
        self._private_bg()
        return await super().terminate(bg_id)

    async def background(self) -> list[BackgroundInfo]:
        self._private_bg()
        return await super().background()

    def _path(self, path: str) -> str:
        if not path or "\x00" in path:
            raise InvalidArgument(f"invalid path {path!r}")
        return os.path.normpath(os.path.join(self.root, os.path.expanduser(path)))

    async def _launch(self, command: Command, *, cwd: str | None, env: dict[str, str],
                      timeout: float | None, login: bool, pty: bool, deadline: float | None,
                      pipe_stdin: bool, probe: bool) -> tuple[Execution, Callable[[], None]]:
        await self._ready()
        where = self._path(cwd) if cwd is not None else self.root
        if not os.path.isdir(where):
            raise PathError(f"{cwd}: no such directory (on {self.label})",
                            "create it first (ensure_dir) or pass another cwd")
        tools = await self.tools() if login else None
        argv = script.command_argv(command, login=login, bash=tools is not None and tools.bash)
        script.check_env(env)
        plan = process.Plan(argv, env={**os.environ, **env}, cwd=where, pty=pty,
                            transport=self.label)
        execution = await process.start(plan, deadline=deadline, pipe_stdin=pipe_stdin)
        return execution, _nothing

    async def _pty(self, command: Command | None, *, cwd: str | None, env: dict[str, str],
                   cols: int, rows: int) -> PtySession:
        await self._ready()
        where = self._path(cwd) if cwd is not None else self.root
        if not os.path.isdir(where):
            raise PathError(f"{cwd}: no such directory (on {self.label})")
        argv = ["sh", "-c", pty_script(command, None, {})]
        return await open_session(argv, env={**os.environ, **env}, cwd=where, cols=cols,
                                  rows=rows, on_close=_nothing)

    # -- files, natively ----------------------------------------------------------------

    async def read_file(self, path: str) -> AsyncIterator[bytes]:
        await self._ready()
        full = self._path(path)
        try:
            f = open(full, "rb")  # noqa: SIM115 - closed below, across yields
        except IsADirectoryError:
            raise PathError(f"{path}: is a directory (on {self.label})") from None
        except OSError as e:
            raise PathError(f"{path}: {e.strerror} (on {self.label})") from None
        with f:
            if stat_mod.S_ISDIR(os.fstat(f.fileno()).st_mode):
                raise PathError(f"{path}: is a directory (on {self.label})")
            while chunk := f.read(CHUNK):
                yield chunk

    async def write_file(self, path: str, data: Data, *, parents: bool = True,
                         size: int | None = None) -> None:
        await self._ready()
        full = self._path(path)
        if isinstance(data, bytes | bytearray | memoryview):
            await asyncio.to_thread(_write_all, full, bytes(data), parents, self.label, path)
            return
        # A stream goes to the temp file as it comes (never all in memory).
        out = _AtomicFile(full, parents=parents, label=self.label, shown=path)
        try:
            async for chunk in data:
                out.write(chunk)
        except BaseException:
            out.abort()
            raise
        await asyncio.to_thread(out.commit, size)

    async def stat(self, path: str, *, follow: bool = True) -> FileStat:
        await self._ready()
        try:
            st = os.stat(self._path(path), follow_symlinks=follow)
        except OSError as e:
            raise PathError(f"{path}: {e.strerror} (on {self.label})") from None
        return FileStat(st.st_size, st.st_mtime, stat_mod.S_IMODE(st.st_mode),
                        kind_of(st.st_mode))

    async def ensure_dir(self, path: str) -> None:
        await self._ready()
        full = self._path(path)
        try:
            os.makedirs(full, exist_ok=True)
        except FileExistsError:
            raise PathError(f"{path}: is not a directory (on {self.label})") from None
        except OSError as e:
            raise PathError(f"{path}: {e.strerror} (on {self.label})") from None

    async def list_dir(self, path: str) -> list[DirEntry]:
        await self._ready()
        entries = []
        try:
            with os.scandir(self._path(path)) as it:
                for e in it:
                    st = e.stat(follow_symlinks=False)
                    entries.append(DirEntry(e.name, kind_of(st.st_mode), st.st_size))
        except OSError as e:
            raise PathError(f"{path}: {e.strerror} (on {self.label})") from None
        return sorted(entries, key=lambda e: e.name)

    async def remove(self, path: str, *, recursive: bool = False,
                     missing_ok: bool = False) -> None:
        await self._ready()
        full = self._path(path)
        if not os.path.lexists(full):
            if missing_ok:
                return
            raise PathError(f"{path}: {script.FILE_ERRORS[script.NOT_FOUND]} (on {self.label})")
        if os.path.isdir(full) and not os.path.islink(full):
            if not recursive:
                raise PathError(f"{path}: {script.FILE_ERRORS[script.NOT_EMPTY]} "
                                f"(on {self.label})")
            await asyncio.to_thread(shutil.rmtree, full)
            return
        os.unlink(full)

    async def resolve_path(self, path: str) -> str:
        await self._ready()
        return self._path(path)


def _nothing() -> None:
    return None


def _umask() -> int:
    with contextlib.suppress(OSError, ValueError), open("/proc/self/status") as f:
        for line in f:
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    return 0o022


def _dead_temps(directory: str, base: str, tag: str) -> None:
    """Remove temp files left by writers on this machine (``tag``) that died (the pid in the
    name is gone); another machine's or container's writers (another tag, pid namespace)
    are never touched."""
    prefix = f".{base}.devenv-tmp-{tag}-"
    try:
        names = os.listdir(directory)
    except OSError:
        return
    for name in names:
        if not name.startswith(prefix):
            continue
        pid = name[len(prefix):].split("-", 1)[0]
        if not pid.isdecimal():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            with contextlib.suppress(OSError):
                os.unlink(os.path.join(directory, name))
        except PermissionError:
            continue


class _AtomicFile:
    """A temp file beside ``full``'s real target (symlinks followed) that :meth:`commit`
    fsyncs, gives the old file's mode (new files: 0666 & ~umask) and renames into place.
    Every failure is a :class:`PathError` and leaves no temp file."""

    def __init__(self, full: str, *, parents: bool, label: str, shown: str) -> None:
        self.where = f"{shown}: {{}} (on {label})"
        self.target = os.path.realpath(full)
        if os.path.isdir(self.target):
            raise PathError(self.where.format("is a directory"))
        self.directory, base = os.path.split(self.target)
        try:
            if parents:
                os.makedirs(self.directory, exist_ok=True)
            elif not os.path.isdir(self.directory):
                raise PathError(self.where.format(script.FILE_ERRORS[script.NO_PARENT]))
            tag = script.node_tag(os.uname().nodename)
            _dead_temps(self.directory, base, tag)
            try:
                self.mode = stat_mod.S_IMODE(os.stat(self.target).st_mode)
            except FileNotFoundError:
                self.mode = 0o666 & ~_umask()
            self.tmp = os.path.join(self.directory, f".{base}.devenv-tmp-{tag}-{os.getpid()}-"
                                                    f"{os.urandom(4).hex()}")
            self.fd = os.open(self.tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except OSError as e:
            raise PathError(self.where.format(e.strerror)) from None
        self.size = 0

    def write(self, chunk: bytes) -> None:
        try:
            view = memoryview(chunk)
            while view:
                view = view[os.write(self.fd, view):]
        except OSError as e:
            self.abort()
            raise PathError(self.where.format(e.strerror)) from None
        self.size += len(chunk)

    def commit(self, size: int | None = None) -> None:
        if size is not None and size != self.size:
            self.abort()
            raise PathError(self.where.format(script.FILE_ERRORS[script.SHORT_WRITE]))
        try:
            os.fsync(self.fd)
            os.fchmod(self.fd, self.mode)
            os.close(self.fd)
            self.fd = -1
            os.replace(self.tmp, self.target)
            dfd = os.open(self.directory, os.O_RDONLY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)
        except OSError as e:
            self.abort()
            raise PathError(self.where.format(e.strerror)) from None

    def abort(self) -> None:
        if self.fd >= 0:
            with contextlib.suppress(OSError):
                os.close(self.fd)
            self.fd = -1
        with contextlib.suppress(OSError):
            os.unlink(self.tmp)


def _write_all(full: str, data: bytes, parents: bool, label: str, shown: str) -> None:
    out = _AtomicFile(full, parents=parents, label=label, shown=shown)
    out.write(data)
    out.commit()


# --- git worktrees ------------------------------------------------------------------------

WORKTREE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}\Z")


class WorktreeRuntime(LocalRuntime):
    """A git worktree of ``repo`` named ``name`` (branch ``branch``, default ``name``), at
    ``<base_dir>/<repo name>-<hash>/<name>``; created from the repository's HEAD on first
    use, reused afterwards. Deleting worktrees is the workspace commands' job."""

    def __init__(self, repo: str | os.PathLike[str], name: str, *,
                 base_dir: str | os.PathLike[str] | None = None,
                 branch: str | None = None, dirs: RuntimeDirs | None = None) -> None:
        if not WORKTREE_NAME.match(name) or ".." in name or name.endswith(".lock"):
            raise InvalidArgument(f"invalid worktree name {name!r}",
                                  "use letters, digits, '.', '_' and '-'")
        self.repo = os.path.abspath(os.path.expanduser(os.fspath(repo)))
        dirs = dirs or RuntimeDirs.default()
        base = os.fspath(base_dir) if base_dir else dirs.worktree_dir
        digest = hashlib.sha256(self.repo.encode()).hexdigest()[:8]
        path = os.path.join(base, f"{os.path.basename(self.repo) or 'repo'}-{digest}", name)
        super().__init__(path, dirs=dirs)
        self.label = f"worktree:{name}"
        self.name = name
        self.branch = branch or name
        self._created = False
        self._lock = asyncio.Lock()

    async def _ready(self) -> None:
        if self._created:
            return
        # One creator per process (asyncio lock) and across processes (file lock).
        key = hashlib.sha256(self.root.encode()).hexdigest()[:16]
        async with self._lock, async_locked(self.dirs.lock_dir, f"worktree-{key}",
                                            timeout=180,
                                            what=f"creating worktree {self.name}"):
            if not self._created:
                await self._create()
                self._created = True

    async def _git(self, *args: str) -> tuple[int, str]:
        proc = await child.spawn(["git", "-C", self.repo, *args], stderr=child.STDOUT,
                                 env={**os.environ, "GIT_TERMINAL_PROMPT": "0"})
        try:
            out, _ = await asyncio.wait_for(proc.communicate(), 120)
        except TimeoutError:
            await child.end(proc)
            raise RuntimeFailure(f"git {args[0]} in {self.repo} took over 120s") from None
        assert proc.returncode is not None  # noqa: S101
        return proc.returncode, out.decode("utf-8", "replace").strip()

    async def _create(self) -> None:
        rc, top = await self._git("rev-parse", "--show-toplevel")
        if rc != 0:
            raise PathError(f"{self.repo} is not a git repository: {top.splitlines()[-1:]}")
        rc, listing = await self._git("worktree", "list", "--porcelain")
        # git prints real paths: compare real paths (a base dir behind a symlink, /tmp on
        # macOS).
        known = {os.path.realpath(line[len("worktree "):]) for line in listing.splitlines()
                 if line.startswith("worktree ")}
        if os.path.realpath(self.root) in known and os.path.isdir(self.root):
            return
        if os.path.lexists(self.root):
            raise PathError(f"{self.root} exists but is not a worktree of {self.repo}",
                            "move it away; devenv never overwrites it")
        os.makedirs(os.path.dirname(self.root), exist_ok=True)
        rc, _ = await self._git("rev-parse", "--verify", "--quiet",
                                f"refs/heads/{self.branch}")
        args = (["worktree", "add", self.root, self.branch] if rc == 0 else
                ["worktree", "add", "-b", self.branch, self.root, "HEAD"])
        rc, out = await self._git(*args)
        if rc != 0:
            raise RuntimeFailure(f"git worktree add {self.root} failed: "
                                f"{out.splitlines()[-1] if out else rc}")
