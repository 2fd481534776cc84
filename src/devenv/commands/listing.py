"""``devenv list``: this installation's environments."""

from __future__ import annotations

import json
from dataclasses import asdict

from devenv.envs import manage


def run(*, as_json: bool = False, include_stopped: bool = False) -> int:
    rows = manage.list_envs(include_stopped=include_stopped)
    if as_json:
        print(json.dumps([asdict(r) | {"age": r.age()} for r in rows], indent=2))
        return 0
    if not rows:
        print("no environments running" if not include_stopped else "no environments")
        return 0
    table = [("NAME", "PROJECT", "PORT", "STATUS", "STARTED", "IMAGE")]
    table += [(r.name, r.path, str(r.port or "-"), r.status,
               r.age() + " ago" if r.age() != "-" else "-", r.image) for r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]) - 1)]
    for row in table:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        print("  ".join([*cells, row[-1]]))
    return 0
