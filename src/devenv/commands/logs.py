"""``devenv logs PATH|NAME``: the output of the environment's lifecycle hooks."""

from __future__ import annotations

import sys

from devenv.envs import hooks, manage


def run(target: str) -> int:
    (name,) = manage.resolve_names([target])
    log = hooks.log_path(name)
    if not log.exists():
        print(f"devenv: {name} has no hook output yet (no post_create/post_start ran)",
              file=sys.stderr)
        return 0
    sys.stdout.write(log.read_text(errors="replace"))
    return 0
