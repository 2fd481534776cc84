"""``devenv logs PATH|NAME``: the output of the environment's lifecycle hooks."""

from __future__ import annotations

import sys

from devenv.envs import hooks, known
from devenv.errors import safe_text


def run(target: str) -> int:
    (name,) = known.resolve_names([target], say=True)
    log = hooks.log_path(name)
    if not log.exists():
        print(f"devenv: {name} has no hook output yet (no post_create/post_start ran)",
              file=sys.stderr)
        return 0
    text = log.read_text(errors="replace")
    if sys.stdout.isatty():
        # What the container printed, shown, not obeyed: no terminal escape sequences.
        text = safe_text(text, keep="\n\t")
    sys.stdout.write(text)
    return 0
