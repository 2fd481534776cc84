"""``devenv stop PATH|NAME`` (one environment, no options) quickly: the index names the
running environment and its container id, its process count shows it runs no more than
its init and sshd (so no session to protect), and ``docker stop`` of that id. Like
:mod:`devenv.envs.quicklist` it imports neither ``sqlite3`` nor ``subprocess``; the
command's start-up and its checks would otherwise cost about as much as the stop.

Where the engine is this machine's, the kernel's count of the container's processes (its
cgroup's ``pids.current``) stands in for ``docker top``. The container id comes from
devenv's own index (written by
:func:`devenv.envs.registry.refresh_files` from ``docker ps`` of this installation's
containers), so the container stopped is exactly the one this installation started: an id
is never reused, whoever holds the name ``devenv-NAME`` now. Anything else -- no index
entry, a process more than init and sshd (a session, which the full path asks tmux about), a
docker call that fails or takes too long -- returns ``None`` and the full path
(:mod:`devenv.envs.stopping`) does the whole job and reports errors. What is left after the
stop (the network) is tidied by the same detached process (:mod:`devenv.envs.tidy`).
"""

from __future__ import annotations

import sys
import time

from devenv import paths, proc
from devenv.envs import index

STOP_GRACE = 5  # seconds docker stop waits before it kills (the full path uses it too)
TOP_TIMEOUT = 30.0
REMOVE_WAIT = 10.0  # for Docker to remove the stopped container
# init (docker's --init) and sshd: a container running more may have sessions.
IDLE_PROCESSES = 2


def run(target: str) -> int | None:
    """Stop the running environment ``target`` names; ``None`` when the full path must."""
    found = index.lookup(target, probe=False)
    if found is None or not _is_id(found.container_id):
        return None
    tasks = _tasks(found.container_id)
    if tasks is None or tasks > IDLE_PROCESSES:
        return None
    # Docker removes the stopped container (--rm) just after 'docker stop' returns: its
    # destroy event says when, so that the name is free and no container is left when this
    # returns. Asked for while the stop runs (--since replays it if it came first).
    removed = proc.start_capture(["docker", "events", "--since", str(int(time.time()) - 60),
                                  "--filter", f"container={found.container_id}",
                                  "--filter", "event=destroy", "--format", "{{.Action}}"])
    stopping = proc.start_capture(["docker", "stop", "-t", str(STOP_GRACE),
                                   found.container_id])
    from devenv import lockfile  # noqa: F401 - imported while docker stops it
    from devenv.envs import tidy

    if stopping is None or proc.collect(stopping, STOP_GRACE + 30)[0] != 0:
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


def _tasks(container_id: str) -> int | None:
    """How many processes (threads included) the running container has: its cgroup's
    ``pids.current`` when the engine is this machine's (the kernel counts them, and nothing
    in the container can leave its cgroup; a container id is unique, so a cgroup of that id
    here is that container), else ``docker top``; ``None`` when neither answers (not
    running, gone)."""
    for path in _CGROUP_PIDS:
        try:
            with open(path.format(id=container_id), "rb") as f:
                count = f.read().strip()
        except OSError:
            continue
        return int(count) if count.isdigit() else None
    started = proc.start_capture(["docker", "top", container_id])
    if started is None:
        return None
    code, out = proc.collect(started, TOP_TIMEOUT)
    processes = [line for line in out.decode("utf-8", "replace").splitlines()[1:]
                 if line.strip()]
    return len(processes) if code == 0 and processes else None


# Where Docker puts a container's pids cgroup: cgroup v1 and v2, with the cgroupfs and
# the systemd driver (rootless engines put it elsewhere: docker top answers for them).
_CGROUP_PIDS = ("/sys/fs/cgroup/pids/docker/{id}/pids.current",
                "/sys/fs/cgroup/pids/system.slice/docker-{id}.scope/pids.current",
                "/sys/fs/cgroup/docker/{id}/pids.current",
                "/sys/fs/cgroup/system.slice/docker-{id}.scope/pids.current")


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

