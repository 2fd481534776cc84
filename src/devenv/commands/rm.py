"""``devenv rm PATH|NAME... [--volumes] [--revoke-write]``: forget environments (the
project's files are untouched, but for the ACL entries a write grant added)."""

from __future__ import annotations

from devenv.envs import cleanup, known


def run(targets: list[str], *, volumes: bool = False, force: bool = False,
        revoke_write: bool = False) -> int:
    names = known.resolve_names(targets, say=True)
    from devenv.workspaces import guard

    # Forgotten, the workspaces volume is kept only until 'devenv gc' (or goes now with
    # --volumes): the workspaces are snapshotted first, or nothing is removed.
    # --force is about running sessions; with --volumes the workspaces go now, so their
    # snapshot must succeed (docker volume rm is the way to discard them unsaved).
    guard.snapshot_before(names, doing="removing", strict=volumes or not force)
    had = guard.env_workspaces(names) if volumes else []
    for line in cleanup.remove(names, volumes=volumes, force=force,
                               revoke_write=revoke_write):
        print(f"removed {line}")
    guard.forget(had)
    if not volumes:
        print("kept the home and workspaces volumes; 'devenv rm --volumes' removes them too")
    return 0
