"""``devenv stop PATH|NAME`` (one environment, no options) quickly: the index names the
running environment and its container id, its processes show it runs nothing but its
init, supervisor and sshd (so no session to protect), and ``docker stop`` of that id. Like
:mod:`devenv.envs.quicklist` it imports neither ``sqlite3`` nor ``subprocess``; the
command's start-up and its checks would otherwise cost about as much as the stop.

Where the engine is this machine's, the kernel's list of the container's processes (its
cgroup's ``cgroup.procs``, and each one's ``/proc/PID/comm``) stands in for ``docker
top``. The container id comes from devenv's own index (written by
:func:`devenv.envs.registry.refresh_files` from ``docker ps`` of this installation's
containers), so the container stopped is exactly the one this installation started: an id
is never reused, whoever holds the name ``devenv-NAME`` now. Anything else -- no index
entry, any other process (a session, which the full path asks tmux about), a
docker call that fails or takes too long -- returns ``None`` and the full path
(:mod:`devenv.envs.stopping`) does the whole job and reports errors. What is left after the
stop (the network) is tidied by the same detached process (:mod:`devenv.envs.tidy`).
"""

from __future__ import annotations

import os
import sys
import time

from devenv import paths, proc
from devenv.envs import index

# The longest stop_time (config) / stop --time (devenv.config has it too): docker stop's
# own wait, and the bound of the docker call that stops an idle environment (its
# supervisor ends it at once).
MAX_STOP_TIME = 600
TOP_TIMEOUT = 30.0
REMOVE_WAIT = 10.0  # for Docker to remove the stopped container
# Docker's init, devenv's supervisor (the image's devenv-init) and sshd (its listener, and
# connections without a session, such as an idle ControlMaster's): a container running
# anything else may have sessions.
IDLE_NAMES = frozenset({"docker-init", "devenv-init", "sshd"})


def run(target: str) -> int | None:
    """Stop the running environment ``target`` names; ``None`` when the full path must."""
    found = index.lookup(target, probe=False)
    if found is None or not _is_id(found.container_id):
        return None
    if os.path.exists(paths.workspaces_marker(found.name)):
        return None  # its workspaces are snapshotted first (devenv.workspaces.guard)
    names = processes(found.container_id)
    if names is None or not idle(names):
        return None
    # Docker removes the stopped container (--rm) just after 'docker stop' returns: its
    # destroy event says when, so that the name is free and no container is left when this
    # returns. Asked for while the stop runs (--since replays it if it came first).
    removed = proc.start_capture(["docker", "events", "--since", str(int(time.time()) - 60),
                                  "--filter", f"container={found.container_id}",
                                  "--filter", "event=destroy", "--format", "{{.Action}}"])
    # No -t: the container's own stop timeout (docker run --stop-timeout, from stop_time).
    stopping = proc.start_capture(["docker", "stop", found.container_id])
    from devenv import lockfile  # noqa: F401 - imported while docker stops it
    from devenv.envs import tidy

    if stopping is None or proc.collect(stopping, MAX_STOP_TIME + 30)[0] != 0:
        if removed is not None:
            proc.first_line(removed, 0)
        return None  # the full path tries again and says what went wrong
    if removed is not None:
        proc.first_line(removed, REMOVE_WAIT)  # else the tidying removes it
    if found.chosen:  # the project TARGET is in
        print(found.chosen, file=sys.stderr)
    _drop_from_index(found.name, found.container_id)
    tidy.later(found.instance, [(found.container_id, found.name)])
    print(f"stopped {found.name}")
    return 0


def idle(names: list[str]) -> bool:
    """Whether a container running processes of these names has nothing to protect."""
    return bool(names) and all(n in IDLE_NAMES for n in names)


def processes(container_id: str) -> list[str] | None:
    """The names (``comm``) of the running container's processes: from its cgroup when the
    engine is this machine's (the kernel lists them, and nothing in the container can leave
    its cgroup; a container id is unique, so a cgroup of that id here is that container),
    else ``docker top``; ``None`` when neither answers (not running, gone)."""
    for path in _CGROUP_PROCS:
        try:
            with open(path.format(id=container_id), "rb") as f:
                pids = f.read().split()
        except OSError:
            continue
        names = []
        for pid in pids:
            try:
                with open(b"%s/%s/comm" % (_PROC, pid), "rb") as f:
                    names.append(f.read().rstrip(b"\n").decode("utf-8", "replace"))
            except OSError:
                continue  # it has just ended
        return names
    started = proc.start_capture(["docker", "top", container_id, "-o", "pid,comm"])
    if started is None:
        return None
    code, out = proc.collect(started, TOP_TIMEOUT)
    return top_names(out.decode("utf-8", "replace")) if code == 0 else None


def top_names(out: str) -> list[str]:
    """The process names ``docker top ID -o pid,comm`` listed (under its header; docker
    needs the pid column)."""
    rows = (line.split(None, 1) for line in out.splitlines()[1:])
    return [row[1].strip() for row in rows if len(row) == 2]


# Where Docker puts a container's cgroup: cgroup v1 (its pids hierarchy) and v2, with the
# cgroupfs and the systemd driver (rootless engines put it elsewhere: docker top answers).
_PROC = b"/proc"
_CGROUP_PROCS = ("/sys/fs/cgroup/pids/docker/{id}/cgroup.procs",
                 "/sys/fs/cgroup/pids/system.slice/docker-{id}.scope/cgroup.procs",
                 "/sys/fs/cgroup/docker/{id}/cgroup.procs",
                 "/sys/fs/cgroup/system.slice/docker-{id}.scope/cgroup.procs")


def _is_id(value: str) -> bool:
    return len(value) == 64 and all(c in "0123456789abcdef" for c in value)


def _drop_from_index(name: str, container_id: str) -> None:
    """Rewrite the index without the stopped environment's line, under the lock
    :func:`devenv.envs.registry.refresh_files` writes it in."""
    from pathlib import Path

    from devenv.lockfile import atomic_write, locked

    with locked("derived-files", timeout=60, what="writing the index"):
        try:
            with open(paths.index_file(), encoding="utf-8") as f:
                lines = f.read().split("\n")
        except (OSError, ValueError):
            return
        kept = [line for line in lines if line.split("\t")[1:2] != [name]
                or not line.endswith("\t" + container_id)]
        if len(kept) != len(lines):
            atomic_write(Path(paths.index_file()), "\n".join(kept), 0o644)

