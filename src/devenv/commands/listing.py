"""``devenv list``: this installation's environments. (``devenv list`` without options
usually never gets here: :mod:`devenv.envs.quicklist` answers it.)"""

from __future__ import annotations

import json
from dataclasses import asdict

from devenv.envs import known
from devenv.table import print_table


def run(*, as_json: bool = False, include_stopped: bool = False) -> int:
    rows = known.list_envs(include_stopped=include_stopped)
    if as_json:
        print(json.dumps([asdict(r) | {"age": r.age()} for r in rows], indent=2))
        return 0
    if not rows:
        print("no environments running" if not include_stopped else "no environments")
        return 0
    table = [("NAME", "PROJECT", "PORT", "STATUS", "STARTED", "IMAGE")]
    table += [(r.name, r.path, str(r.port or "-"), r.status,
               r.age() + " ago" if r.age() != "-" else "-", r.image) for r in rows]
    print_table(table)
    return 0
