"""``devenv stop PATH|NAME...`` and ``devenv stop --all``."""

from __future__ import annotations

from devenv.envs import manage
from devenv.errors import UsageError


def run(targets: list[str], *, all_: bool = False, force: bool = False) -> int:
    if all_ and targets:
        raise UsageError("give either PATH|NAME arguments or --all, not both")
    if not all_ and not targets:
        raise UsageError("nothing to stop", "name an environment (PATH or NAME) or use --all")
    names = [r.name for r in manage.list_envs()] if all_ else manage.resolve_names(targets)
    for name, was_running in manage.stop(names, force=force):
        print(f"stopped {name}" if was_running else f"{name} was not running")
    return 0
