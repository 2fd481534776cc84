"""The attach/exec fast path: one small file read, one local connect, then ``execvp``.

This module is imported on every ``devenv exec`` and ``devenv .``, so it imports only
``os`` and the C-level ``_socket`` (``socket`` would pull in ``enum`` and friends)
-- see ``tests/unit/test_imports.py``. Anything unusual returns ``None`` and the caller takes
the full path (``envs.start``), which validates, starts and reports errors properly.
"""

from __future__ import annotations

import _socket
import os

from devenv import paths
from devenv.errors import EXIT_PRE_CHILD
from devenv.runtime import dirs

CONTAINER_PREFIX = "devenv-"


INDEX_HEADER = "instance\t"
CONTROL_HEADER = "control\t"  # second line: the ControlMaster socket directory
# Runs first in every exec: the container must carry this installation's instance id, so a
# same-named container of another devenv on a shared engine is never entered (exit 125).
GUARD = ('[ "${DEVENV_INSTANCE:-}" = "$1" ] || { echo "devenv: $HOSTNAME belongs to another '
         f'devenv installation; not entering it" >&2; exit {EXIT_PRE_CHILD}; }}; shift; '
         'exec "$@"')


class Target:
    """Enough to ``docker exec`` (or ssh) into a running environment of this installation."""

    __slots__ = ("container", "control", "instance", "name", "port", "workspace")

    def __init__(self, container: str, workspace: str, instance: str, *, name: str = "",
                 port: int = 0, control: str = "") -> None:
        self.container = container
        self.workspace = workspace
        self.instance = instance
        self.name = name
        self.port = port
        self.control = control  # the environment's ControlMaster socket ("" if unknown)


def workspace_of(path: str) -> str:
    """Where the project at absolute ``path`` is mounted inside its container."""
    return "/workspace/" + (os.path.basename(path) or "root")


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
    """Modification times of the files a project's config comes from: the user file, the
    project file and ``.devenv/Dockerfile``, and which file ``.git/config`` is. Cheap enough
    for every exec; a change sends the exec through the full path, which reports config
    drift (and a host-side rewrite of ``.git/config``: see :func:`git_config_id`)."""
    stamps = []
    for path in (paths.config_file_str(), os.path.join(project_dir, ".devenv", "devenv.toml"),
                 os.path.join(project_dir, ".devenv", "Dockerfile")):
        try:
            stamps.append(str(os.stat(path).st_mtime_ns))
        except OSError:
            stamps.append("0")
    stamps.append(git_config_id(project_dir))
    return ",".join(stamps)


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


def lookup(raw_path: str, *, probe: bool = True) -> Target | None:
    """The running environment of the project at ``raw_path`` (or, when no such directory
    exists, of the environment named ``raw_path``), if the index lists it and its port
    answers.

    The index is derived from the state database by
    :func:`devenv.envs.registry.refresh_files`: an ``instance<TAB>id`` line, then one
    ``path<TAB>name<TAB>port<TAB>config-stamp`` line per running environment (paths never
    hold control characters). Reading it costs a file read instead of importing ``sqlite3``.
    An SSH greeting on the port is taken as "still running"; :data:`GUARD` catches the
    rare case where it is not ours. A changed config stamp means "look closer" (drift), so
    it misses too.
    ``probe=False`` skips the port check (the caller checks liveness its own way).

    The second line, ``control<TAB>dir``, is where the environments' ControlMaster sockets
    are (``dir/e<port>``). A socket there gets our commands, their input and output, so the
    directory and its base must pass :func:`devenv.runtime.dirs.dir_problem` (two ``lstat`` calls);
    otherwise this returns ``None`` and the full path reports the problem.
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
    # A name is looked up only when no such directory exists (a path never means a name).
    name = None if os.path.isdir(real) else raw_path.removeprefix(CONTAINER_PREFIX)
    for line in lines[1:]:
        fields = line.split("\t")
        if len(fields) != 4 or (fields[0] != real and fields[1] != name):
            continue
        if (fields[2].isdecimal() and fields[3] == config_stamp(fields[0])
                and (not probe or ssh_answers(int(fields[2])))):
            if control and (dirs.dir_problem(control) is not None or dirs.dir_problem(
                    os.path.dirname(control), shared=True) is not None):
                return None
            port = int(fields[2])
            return Target(CONTAINER_PREFIX + fields[1], workspace_of(fields[0]),
                          lines[0][len(INDEX_HEADER):], name=fields[1], port=port,
                          control=paths.env_control_socket(control, port) if control else "")
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
