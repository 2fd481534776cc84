"""Lifecycle hooks: ``post_create`` once per environment creation, ``post_start`` once per
start; both as the container user, in the project directory, after sshd answers, and never
on a mere attach. Output streams to the terminal and into the environment's hook log
(``devenv logs PATH``).

"Creation" is the environment's, not Docker's: every start makes a new ``--rm`` container.
``hooks.json`` in the environment's state records which hooks were claimed: the creation's
``post_create`` and, for the current container (by id), its ``post_start``. A hook is
claimed under a lock just before it runs, so it runs at most once, also when several
``devenv up`` race; a start whose ``devenv up`` was killed before a hook was claimed leaves
it due, and the next ``devenv up`` or attach runs it (containers carry :data:`LABEL_TRACKED`,
so an older container is never mistaken for a fresh start). A hook that was claimed and then
interrupted is not run again: ``devenv up --recreate`` runs the hooks anew. Only the project
directory and the home and workspaces volumes persist between starts; what a hook writes
elsewhere in the container does not.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

from devenv import proc
from devenv.config import Config
from devenv.engine import docker
from devenv.errors import DevenvError
from devenv.lockfile import atomic_write, locked
from devenv.paths import ensure_private_dir, env_dir

HOOK_TIMEOUT = 3600.0
LOCK_TIMEOUT = 60.0
LABEL_TRACKED = "devenv.hooks"  # value "1": this container's start hooks are tracked by id


def log_path(name: str) -> Path:
    return env_dir(name) / "logs" / "hooks.log"


def _state_file(name: str) -> Path:
    return env_dir(name) / "hooks.json"


def _load(name: str) -> dict[str, Any]:
    try:
        data = json.loads(_state_file(name).read_text())
    except (OSError, ValueError):
        data = {}
    if not isinstance(data, dict):
        data = {}
    if "creation" not in data and (env_dir(name) / "post_create.done").exists():
        data["creation"] = "done"  # recorded by an earlier devenv
    return data


def _save(name: str, data: dict[str, Any]) -> None:
    ensure_private_dir(env_dir(name))
    atomic_write(_state_file(name), json.dumps(data, sort_keys=True) + "\n", 0o600)


def forget_creation(name: str) -> None:
    """The next start is a creation again (``--recreate``): ``post_create`` runs anew."""
    with locked(f"hooks-{name}", timeout=LOCK_TIMEOUT, what=f"{name}'s hook records"):
        data = _load(name)
        data.pop("creation", None)
        (env_dir(name) / "post_create.done").unlink(missing_ok=True)
        if env_dir(name).exists():
            _save(name, data)


def _claim(name: str, container_id: str, hook: str) -> bool:
    """Record that ``hook`` runs now for this container's start; ``False`` if it was
    claimed already (by this start's ``devenv up``, or another one racing it)."""
    with locked(f"hooks-{name}", timeout=LOCK_TIMEOUT, what=f"{name}'s hook records"):
        data = _load(name)
        start = data.get("start")
        if not isinstance(start, dict) or start.get("container") != container_id:
            start = {"container": container_id}
        if hook == "post_create":
            if data.get("creation") is not None:
                return False
            data["creation"] = "claimed"
        else:
            if start.get(hook) is not None:
                return False
            start[hook] = "claimed"
        data["start"] = start
        _save(name, data)
        return True


def _done(name: str, hook: str) -> None:
    with locked(f"hooks-{name}", timeout=LOCK_TIMEOUT, what=f"{name}'s hook records"):
        data = _load(name)
        if hook == "post_create":
            data["creation"] = "done"
        elif isinstance(data.get("start"), dict):
            data["start"][hook] = "done"
        _save(name, data)


def run_due_hooks(name: str, container_id: str, container: str, workspace: str,
                  cfg: Config) -> None:
    """Run the hooks due for the container's current start and not yet claimed."""
    if _claim(name, container_id, "post_create"):
        try:
            if cfg.post_create is not None:
                _run("post_create", cfg.post_create, name, container, workspace)
        except BaseException:
            _claim(name, container_id, "post_start")  # this start's post_start is skipped
            raise
        _done(name, "post_create")
    if _claim(name, container_id, "post_start"):
        if cfg.post_start is not None:
            _run("post_start", cfg.post_start, name, container, workspace)
        _done(name, "post_start")


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
