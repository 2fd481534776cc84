"""``devenv rm PATH|NAME... [--volumes]``: forget environments (never the project's files)."""

from __future__ import annotations

from devenv.envs import cleanup, known


def run(targets: list[str], *, volumes: bool = False, force: bool = False) -> int:
    names = known.resolve_names(targets, say=True)
    for line in cleanup.remove(names, volumes=volumes, force=force):
        print(f"removed {line}")
    if not volumes:
        print("kept the home volume(s); 'devenv rm --volumes' removes them too")
    return 0
