"""``devenv build [PATH] [--no-cache]``: build the project's image chain, showing progress."""

from __future__ import annotations

import sys
import time

from devenv import config
from devenv.envs import chain, identity, registry
from devenv.envs import start as starting


def run(path: str, *, no_cache: bool = False) -> int:
    where = starting.locate(path)  # the project PATH is in
    where.say()
    project = identity.project_path(where.path)
    cfg = config.load(project.path)
    chain.check(project, cfg)
    name = registry.name_for(project, cfg.name)
    start = time.monotonic()
    if sys.stderr.isatty():
        from rich.console import Console  # lazily: only interactive builds pay for it

        console = Console(stderr=True)
        with console.status(f"building the image chain of {name}..."):
            tag = chain.image_for(project, name, cfg, no_cache=no_cache,
                                  report=lambda line: console.print(line, highlight=False))
    else:
        tag = chain.image_for(project, name, cfg, no_cache=no_cache,
                              report=lambda line: print(line, file=sys.stderr, flush=True))
    print(f"devenv: {name}: {tag} ready in {time.monotonic() - start:.1f}s", file=sys.stderr)
    print(tag)
    return 0
