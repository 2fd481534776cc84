"""Stopping environments, and the persistent sessions that refuse it (ending an environment
ends the agents its tmux sessions keep alive). The docker calls of a stop that do not
depend on each other run at the same time, and the heavier modules are imported where they
are needed.
"""

from __future__ import annotations

from devenv import state
from devenv.engine import docker
from devenv.envs import identity
from devenv.envs.known import LABELS, EnvInfo, brief, connected, instance, is_running, ours
from devenv.envs.quickstop import MAX_STOP_TIME, idle, top_names
from devenv.errors import ConflictError, DevenvError

TYPE_CHECKING = False
if TYPE_CHECKING:
    import sqlite3
    from typing import Any

    from devenv.envs import sessions as tmux


def exec_in(env: EnvInfo, argv: list[str], timeout: float = 30,
            this: str | None = None) -> str:
    """Run ``argv`` in the running ``env`` behind the installation guard; return stdout."""
    from devenv.envs import index

    target = index.Target(env.container, index.workspace_of(env.path), this or instance())
    docker_argv = index.exec_argv(target, argv, tty=False)
    return docker.docker(docker_argv[1:], timeout=timeout).stdout  # [1:]: the wrapper adds it


def sessions(env: EnvInfo, this: str | None = None) -> list[tmux.Session]:
    """The persistent (tmux) sessions in the running ``env``."""
    from devenv.envs import sessions as tmux

    return tmux.parse_sessions(exec_in(env, tmux.list_argv(), this=this))


def _busy(env: EnvInfo, this: str, top: str | None) -> str:
    """``NAME (session, ...)`` when the running ``env`` has persistent sessions, else "".

    ``top`` is what ``docker top -o pid,comm`` listed in it (``None``: it did not answer). A
    tmux server is a process of its own, so a container that runs no more than its init,
    supervisor and sshd has no session; only one running more is asked (``tmux
    list-sessions`` over ``docker exec``)."""
    if top is not None and idle(top_names(top)):
        return ""
    try:
        found = sessions(env, this)
    except DevenvError:
        return ""  # stopping already, say: nothing to protect
    return f"{env.name} ({', '.join(s.name for s in found)})" if found else ""


def _top(cname: str) -> str | None:
    """``docker top`` of a container (``None`` if it does not answer: not running, gone)."""
    try:
        return docker.docker(["top", cname, "-o", "pid,comm"], timeout=30).stdout
    except DevenvError:
        return None


def _refuse(envs: list[EnvInfo], this: str, doing: str, tops: dict[str, str | None]) -> None:
    found = [b for b in docker.concurrently(
        *(lambda e=e: _busy(e, this, tops.get(e.container)) for e in envs)) if b]
    if found:
        raise ConflictError(f"{doing} would end running sessions: {'; '.join(found)}",
                            "end them first (devenv sessions NAME --kill SESSION), or add "
                            "--force")


def refuse_to_end_sessions(names: list[str], doing: str) -> None:
    """A :class:`ConflictError` when any of the running ``names`` has persistent sessions:
    stopping an environment ends them, and with them the agents they keep alive."""
    this = instance()
    wanted = set(names)
    envs = [e for e in map(brief, ours(this)) if e.name in wanted and e.status in (
        "running", "paused", "restarting")]
    if envs:
        tops = docker.concurrently(*(lambda e=e: _top(e.container) for e in envs))
        _refuse(envs, this, doing, {e.container: t for e, t in zip(envs, tops, strict=True)})


def stop(names: list[str], *, force: bool = False, doing: str = "stopping",
         conn: sqlite3.Connection | None = None, tidy: bool = False,
         grace: float | None = None) -> list[tuple[str, bool]]:
    """Stop the named environments (in parallel); return (name, was_running) pairs.
    Each gets ``grace`` seconds (``None``: its own stop timeout, from ``stop_time``) to end
    its sessions' processes before Docker kills what is left (docs/architecture.md, the
    supervisor).
    Refuses (stopping nothing) while any of them has persistent sessions, unless ``force``.
    Their networks, and those this installation left behind, go too (:mod:`.tidy`): in a
    detached process once this returns, or before it returns with ``tidy`` (the caller
    reuses the name or the volume at once).

    Docker calls that do not wait on each other's answers run at the same time: the
    containers and their processes are listed at once (and with ``tidy`` this
    installation's networks while the containers stop); devenv's files are written while
    the rest is tidied."""
    from devenv.envs import tidy as tidying

    conn, close = connected(conn)
    try:
        this = state.instance_id(conn)
        cnames = [identity.container_name(n) for n in names]
        looking = docker.started(
            lambda: {r["Name"]: r for r in docker.listed({}, LABELS, names=cnames)},
            *([] if force else [lambda c=c: _top(c) for c in cnames]))
        from devenv.envs import registry  # imported while docker answers

        found, *tops = looking()
        if not force:
            # The sessions of the running ones of ours (the others are left to the checks
            # of each stop, as ever).
            ours = [brief(r) for r in found.values()
                    if r["Labels"].get(identity.LABEL_INSTANCE) == this and is_running(r)]
            _refuse(ours, this, doing, dict(zip(cnames, tops, strict=True)))
        # With tidy, the networks are needed once the containers stopped: listed meanwhile.
        listing = docker.started(*([lambda: _networks(this)] if tidy else []))
        try:
            outcomes = docker.concurrently(*(
                lambda n=n: _attempt(n, found.get(identity.container_name(n)), this, grace)
                for n in names))
        finally:
            listed = listing()
        stopped = [(i, n) for n, ((i, _), error) in zip(names, outcomes, strict=True)
                   if error is None]
        # --rm removes them asynchronously: no container is left when this returns (and an
        # immediate 'up' finds the name free).
        docker.concurrently(*(lambda i=i: tidying.await_removal(i) for i, _ in stopped if i))
        if not tidy:
            tidying.later(this, stopped)
        tidied = docker.started(*([lambda: tidying.now(this, stopped, listed[0])] if tidy
                                  else []))
        try:
            # Stopped environments leave the fast-path index (the others stay as listed).
            registry.refresh_files(conn, stopped=[n for _, n in stopped])
        finally:
            tidied()
    finally:
        if close:
            conn.close()
    for _, error in outcomes:
        if error is not None:
            raise error
    return [(n, was_running) for n, ((_, was_running), _) in zip(names, outcomes, strict=True)]


def _networks(this: str) -> list[dict[str, Any]] | None:
    """Every network of this installation, fully inspected; ``None`` if docker failed
    (each stop then looks for its network by name)."""
    try:
        return docker.networks({identity.LABEL_INSTANCE: this})
    except DevenvError:
        return None


def _attempt(name: str, found: dict[str, Any] | None, this: str, grace: float | None
             ) -> tuple[tuple[str, bool], BaseException | None]:
    """:func:`_stop_container`, its exception returned (raised once all stops are done)."""
    try:
        return _stop_container(name, found, this, grace), None
    except BaseException as e:  # noqa: BLE001 - raised by the caller
        return ("", False), e


def _stop_container(name: str, found: dict[str, Any] | None, instance: str,
                    grace: float | None = None) -> tuple[str, bool]:
    """Stop the container ``found`` (``devenv-NAME`` as ``docker ps`` listed it, ``None``:
    there is none); return its id ("" when there was nothing to stop) and whether it ran."""
    cname = identity.container_name(name)
    if found is None:
        return "", False
    if found["Labels"].get(identity.LABEL_INSTANCE) != instance:
        raise DevenvError(f"{cname} belongs to another devenv installation; not stopping it")
    was_running = is_running(found)
    try:
        limit = [] if grace is None else ["-t", str(round(grace))]
        docker.docker(["stop", *limit, found["Id"]],
                      timeout=(MAX_STOP_TIME if grace is None else grace) + 30)
    except docker.NoSuchObject:
        return "", was_running
    return str(found["Id"]), was_running
