"""Live processes, from /proc (zombies left out), for tests that check what a kill left."""

from __future__ import annotations

import os


def live(field: int, value: int) -> list[int]:
    """Live processes whose /proc/PID/stat field ``field`` (counted after the command
    name: 1 is the parent, 2 the process group) is ``value``."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z" and int(fields[field]) == value:
            found.append(int(entry))
    return found
