"""The index of running environments, for the attach/exec fast path (:mod:`.reach`): which
environment runs for a project (:func:`lookup`: one small file read, one local connect), how
to enter it (:class:`Target`, :func:`exec_argv`) and the stamp that says its config did not
change since it started (:func:`config_stamp`).

This module is imported on every ``devenv exec`` and ``devenv .``, so it imports only
``os`` and the C-level ``_socket`` (``socket`` would pull in ``enum`` and friends)
-- see ``tests/unit/test_imports.py``. Anything unusual returns ``None`` and the caller takes
the full path (``envs.start``), which validates, starts and reports errors properly.
"""

from __future__ import annotations

import _socket
import os

from devenv import paths
from devenv.envs import root
from devenv.errors import EXIT_PRE_CHILD
from devenv.runtime import private

CONTAINER_PREFIX = "devenv-"


INDEX_HEADER = "instance\t"
PROJECT_HEADER = "project\t"  # one line per project devenv knows, running or not
CONTROL_HEADER = "control\t"  # second line: the ControlMaster socket directory
# Runs first in every exec: the container must carry this installation's instance id, so a
# same-named container of another devenv on a shared engine is never entered (exit 125).
GUARD = ('[ "${DEVENV_INSTANCE:-}" = "$1" ] || { echo "devenv: $HOSTNAME belongs to another '
         f'devenv installation; not entering it" >&2; exit {EXIT_PRE_CHILD}; }}; shift; '
         'exec "$@"')


class Target:
    """Enough to ``docker exec`` (or ssh) into a running environment of this installation."""

    __slots__ = ("chosen", "container", "container_id", "control", "instance", "name", "port",
                 "workspace")

    def __init__(self, container: str, workspace: str, instance: str, *, name: str = "",
                 port: int = 0, control: str = "", container_id: str = "",
                 chosen: str = "") -> None:
        self.container = container
        self.workspace = workspace
        self.instance = instance
        self.name = name
        self.port = port
        self.control = control  # the environment's ControlMaster socket ("" if unknown)
        self.container_id = container_id  # the full id the index lists ("" if unknown)
        # The note to print when PATH resolved to a project other than PATH (devenv.envs.root).
        self.chosen = chosen


def workspace_of(path: str) -> str:
    """Where the project at absolute ``path`` is mounted inside its container."""
    return "/workspace/" + (os.path.basename(path) or "root")


def within(workspace: str, inner: str) -> str:
    """The directory ``inner`` (relative, from :func:`devenv.envs.root.inside`) of the
    project mounted at ``workspace``."""
    return f"{workspace}/{inner}" if inner else workspace


def ssh_answers(port: int, timeout: float = 1.0) -> bool:
    """Whether an SSH server greets on 127.0.0.1:``port`` within ``timeout``: a bare
    connect is not enough (docker-proxy accepts for a paused or removed container, and
    another program may have taken the port of one removed behind devenv's back)."""
    sock = _socket.socket(_socket.AF_INET, _socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        sock.connect(("127.0.0.1", port))
        return sock.recv(4) == b"SSH-"
    except OSError:
        return False
    finally:
        sock.close()


def config_stamp(project_dir: str) -> str:
    """A digest of what a project's environment is made from, cheap enough for every exec:
    the modification times of the user file, of every file under ``.devenv/`` (the project
    file, its Dockerfile, its tool recipes; no link followed) and of a ``dockerfile``
    configured elsewhere, and which file ``.git/config`` is. A change sends the exec through
    the full path, which reports config drift (and a host-side rewrite of ``.git/config``:
    see :func:`git_config_id`)."""
    try:  # the C module: hashlib loads OpenSSL (4 ms, on every exec)
        from _blake2 import blake2b
    except ImportError:  # pragma: no cover - an interpreter without it
        from hashlib import blake2b

    stamps = [_mtime(paths.config_file_str())]
    devenv_dir = os.path.join(project_dir, paths.PROJECT_DIR)
    stamps += _tree(devenv_dir)
    configured = _configured_dockerfile(os.path.join(project_dir, paths.PROJECT_FILE))
    if configured:
        stamps.append(f"{configured}={_mtime(os.path.join(devenv_dir, configured))}")
    stamps.append(git_config_id(project_dir))
    return blake2b("\0".join(stamps).encode(), digest_size=10).hexdigest()


def _mtime(path: str) -> str:
    try:
        return str(os.stat(path, follow_symlinks=False).st_mtime_ns)
    except OSError:
        return "0"


_TREE_LIMIT = 512  # entries of .devenv/ looked at (a tree this big is not a config)
_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def _tree(root: str) -> list[str]:
    """``relative path=mtime`` of the entries under ``root`` (a container can write it:
    directories are opened without following a link, nothing else is opened, and at most
    :data:`_TREE_LIMIT` entries are looked at), sorted."""
    found: list[str] = []
    try:
        top = os.open(root, _DIR)
    except OSError as e:
        return [] if e.errno == 2 else [f"unreadable={e.errno}"]  # 2: ENOENT
    pending = [("", top)]
    try:
        while pending:
            rel, fd = pending.pop()
            try:
                with os.scandir(fd) as entries:
                    for entry in entries:
                        if len(found) >= _TREE_LIMIT:
                            return sorted(found)
                        name = f"{rel}/{entry.name}" if rel else entry.name
                        try:
                            st = entry.stat(follow_symlinks=False)
                            found.append(f"{name}={st.st_mtime_ns}")
                            if entry.is_dir(follow_symlinks=False):
                                pending.append((name, os.open(entry.name, _DIR, dir_fd=fd)))
                        except OSError:
                            continue
            finally:
                os.close(fd)
    finally:
        for _, fd in pending:
            os.close(fd)
    return sorted(found)


def _configured_dockerfile(project_file: str) -> str | None:
    """The ``dockerfile = "..."`` line of the project file, read without a TOML parser (the
    full path parses and checks it; this only says which file to watch). A container can
    write the file: it is opened without following a link and without blocking (a FIFO),
    and read only when it is a regular file, at most 64 KiB."""
    try:
        fd = os.open(project_file, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        if (os.fstat(fd).st_mode & 0o170000) != 0o100000:  # not a regular file
            return None
        text = os.read(fd, 1 << 16).decode("utf-8", "replace")
    except OSError:
        return None
    finally:
        os.close(fd)
    for line in text.splitlines():
        key, _, value = line.partition("=")
        if key.strip() == "dockerfile":
            value = value.strip().split("#", 1)[0].strip()
            if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
                return value[1:-1]
    return None


def git_config_id(project_dir: str) -> str:
    """The inode of the project's ``.git/config`` ("0" if none). The host's git replaces the
    file by rename, which lifts the read-only mount over it inside a running environment
    (docs/security.md): a changed id says so."""
    try:
        ino = str(os.lstat(os.path.join(project_dir, ".git", "config")).st_ino)
    except OSError:
        return "0"
    # A commondir appearing (it redirects the repository's config and hooks) counts too.
    return ino if not os.path.lexists(os.path.join(project_dir, ".git", "commondir")) \
        else ino + "+commondir"


def listed(instance: str) -> dict[str, tuple[str, str]] | None:
    """The environments the index lists as running (name -> config stamp and container id);
    ``None`` when there is no index of ``instance``'s."""
    try:
        with open(paths.index_file(), encoding="utf-8") as f:
            lines = f.read().split("\n")
    except (OSError, ValueError):
        return None
    if lines[0] != INDEX_HEADER + instance:
        return None
    rows = (line.split("\t") for line in lines[1:])
    return {fields[1]: (fields[3], fields[4]) for fields in rows if len(fields) == 5}


def lookup(raw_path: str, *, probe: bool = True) -> Target | None:
    """The running environment of the project at ``raw_path`` (or, when no such directory
    exists, of the environment named ``raw_path``), if the index lists it and its port
    answers.

    The index is derived from the state database by
    :func:`devenv.envs.registry.refresh_files`: an ``instance<TAB>id`` line, then one
    ``path<TAB>name<TAB>port<TAB>config-stamp<TAB>container-id`` line per running
    environment (paths never hold control characters). Reading it costs a file read instead
    of importing ``sqlite3``.
    An SSH greeting on the port is taken as "still running"; :data:`GUARD` catches the
    rare case where it is not ours. A changed config stamp means "look closer" (drift), so
    it misses too.
    ``probe=False`` skips the port check (the caller checks liveness its own way).

    The second line, ``control<TAB>dir``, is where the environments' ControlMaster sockets
    are (``dir/e<port>``). A socket there gets our commands, their input and output, so the
    directory and its base must pass :func:`devenv.runtime.private.dir_problem` (two
    ``lstat`` calls); otherwise this returns ``None`` and the full path reports the problem.
    """
    try:
        real = os.path.realpath(raw_path)  # fails when the current directory was deleted
        with open(paths.index_file(), encoding="utf-8") as f:
            lines = f.read().split("\n")
    except (OSError, ValueError):
        return None
    if not lines[0].startswith(INDEX_HEADER):
        return None
    control = ""
    if len(lines) > 1 and lines[1].startswith(CONTROL_HEADER):
        control = lines[1][len(CONTROL_HEADER):]
    if not raw_path:
        return None
    # A name is looked up only when no such directory exists (a path never means a name).
    name: str | None = raw_path.removeprefix(CONTAINER_PREFIX)
    inner = chosen = ""
    if os.path.isdir(real):
        name = None
        if root.walks(raw_path):  # the project it is in
            asked = real
            real, reason = root.find(asked, {line[len(PROJECT_HEADER):] for line in lines
                                             if line.startswith(PROJECT_HEADER)})
            inner, chosen = root.inside(real, asked), root.note(real, asked, reason)
    for line in lines[1:]:
        fields = line.split("\t")
        if len(fields) != 5 or (fields[0] != real and fields[1] != name):
            continue
        if (fields[2].isdecimal() and fields[3] == config_stamp(fields[0])
                and (not probe or ssh_answers(int(fields[2])))):
            if control and (private.dir_problem(control) is not None or private.dir_problem(
                    os.path.dirname(control), shared=True) is not None):
                return None
            port = int(fields[2])
            return Target(CONTAINER_PREFIX + fields[1], within(workspace_of(fields[0]), inner),
                          lines[0][len(INDEX_HEADER):], name=fields[1], port=port,
                          control=paths.env_control_socket(control, port) if control else "",
                          container_id=fields[4], chosen=chosen)
        return None
    return None


def exec_argv(target: Target, command: list[str], *, tty: bool) -> list[str]:
    """``docker exec`` argv that runs ``command`` in the project directory of ``target``."""
    argv = ["docker", "exec", "-i"]
    if tty:
        argv.append("-t")
        term = os.environ.get("TERM")
        if term:
            argv += ["-e", "TERM=" + term]
    return [*argv, "-w", target.workspace, target.container,
            "sh", "-c", GUARD, "devenv-guard", target.instance, *command]
