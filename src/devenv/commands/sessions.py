"""``devenv sessions [PATH|NAME] [--json] [--kill SESSION]``: the persistent tmux sessions
of an environment."""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from datetime import timedelta

from devenv.envs import known, stopping
from devenv.envs import sessions as tmux
from devenv.errors import NotFoundError
from devenv.table import print_table


def _running(target: str) -> tuple[str, known.EnvInfo | None]:
    (name,) = known.resolve_names([target], say=True)  # unknown: an error naming close matches
    return name, next((e for e in known.list_envs() if e.name == name), None)


def run(target: str, *, as_json: bool = False, kill: str | None = None) -> int:
    if kill is not None:
        tmux.check_name(kill)
    name, env = _running(target)
    if env is None:
        if kill is not None:
            raise NotFoundError(f"no session {kill!r}: {name} is not running",
                                "sessions end when their environment stops")
        print("[]" if as_json else f"no sessions: {name} is not running")
        return 0
    rows = stopping.sessions(env)
    if kill is not None:
        if kill not in {r.name for r in rows}:
            names = ", ".join(r.name for r in rows) or "none"
            raise NotFoundError(f"no session {kill!r} in {env.name}", f"sessions: {names}")
        stopping.exec_in(env, tmux.kill_argv(kill))
        print(f"ended session {kill} in {env.name}")
        return 0
    if as_json:
        print(json.dumps([asdict(r) | {"state": r.state} for r in rows], indent=2))
    elif not rows:
        print(f"no sessions in {env.name} (start one: devenv PATH --session NAME)")
    else:
        _table(rows)
    return 0


def _table(rows: list[tmux.Session]) -> None:
    now = time.time()
    table = [("SESSION", "STATE", "CREATED", "WORKSPACE", "RUNNING", "COMMAND")]
    for r in rows:
        state = r.state if r.clients < 2 else f"attached ({r.clients})"
        age = known.human_age(timedelta(seconds=now - r.created)) + " ago"
        table.append((r.name, state, age, r.workspace or "-", r.running,
                      r.command or "(login shell)"))
    print_table(table)
