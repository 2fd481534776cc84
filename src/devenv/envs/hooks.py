"""Lifecycle hooks: ``post_create`` once per environment creation, ``post_start`` on every
start; both as the container user, in the project directory, after sshd answers, and never
on a mere attach. Output streams to the terminal and into the environment's hook log
(``devenv logs PATH``).

"Creation" is the environment's, not Docker's: every start makes a new ``--rm`` container,
so a marker in devenv's state records that ``post_create`` ran; ``devenv up --recreate`` and
``devenv rm`` clear it. Note that only the project directory and the home volume persist
between starts; what a hook writes elsewhere in the container does not.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from devenv import proc
from devenv.config import Config
from devenv.engine import docker
from devenv.errors import DevenvError
from devenv.paths import ensure_private_dir, env_dir

HOOK_TIMEOUT = 3600.0


def log_path(name: str) -> Path:
    return env_dir(name) / "logs" / "hooks.log"


def created_marker(name: str) -> Path:
    return env_dir(name) / "post_create.done"


def forget_creation(name: str) -> None:
    """The next start is a creation again (``--recreate``): ``post_create`` runs anew."""
    created_marker(name).unlink(missing_ok=True)


def run_start_hooks(name: str, container: str, workspace: str, cfg: Config) -> None:
    """Run the hooks due for a start that just happened."""
    marker = created_marker(name)
    if not marker.exists():
        if cfg.post_create is not None:
            _run("post_create", cfg.post_create, name, container, workspace)
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.write_text(time.strftime("%Y-%m-%dT%H:%M:%S%z\n"))
    if cfg.post_start is not None:
        _run("post_start", cfg.post_start, name, container, workspace)


def _run(hook: str, command: str | list[str], name: str, container: str,
         workspace: str) -> None:
    argv = ["bash", "-lc", command] if isinstance(command, str) else list(command)
    log = ensure_private_dir(log_path(name).parent) / "hooks.log"
    print(f"devenv: running {hook} (log: {log})", file=sys.stderr, flush=True)
    with open(log, "a", encoding="utf-8") as out:
        out.write(f"== {hook} {time.strftime('%Y-%m-%d %H:%M:%S')}: {command!r}\n")

        def sink(line: str) -> None:
            sys.stderr.write(line)
            sys.stderr.flush()
            out.write(line)
            out.flush()

        code = proc.stream([docker.DOCKER, "exec", "-w", workspace, "-e", f"DEVENV_HOOK={hook}",
                            container, *argv], timeout=HOOK_TIMEOUT, sink=sink)
        out.write(f"== {hook} exit {code}\n")
    if code != 0:
        raise DevenvError(f"{hook} failed (exit {code}); its output is in {log}",
                          "the environment is left running: attach with 'devenv PATH' to "
                          "debug, then 'devenv up --recreate PATH' to run the hooks again")
