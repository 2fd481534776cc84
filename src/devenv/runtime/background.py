"""Background processes on any runtime, as POSIX shell scripts run through its ``exec``.

Each process gets a directory ``<bg_dir>/<id>/`` (the base is 0700) holding ``command``,
``pid``, ``started``, ``output.log`` (stdout and stderr) and, once it ended, ``exit_code``.
It runs in its own session and process group (``setsid``; a target without it leaves the
process in the caller's group, and terminating reaches it by pid only), detached from the
connection, so it outlives the call that started it; terminating it sends TERM to the group,
waits 2 s, then KILL (exit code 143 or 137). Finished runs older
than :data:`KEEP_DAYS` days are removed whenever a new one starts.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Mapping, Sequence

from devenv.runtime import wire
from devenv.runtime.errors import InvalidArgument
from devenv.runtime.script import Tools, command_words, exports, quote_path
from devenv.runtime.types import BackgroundInfo

KEEP_DAYS = 3
TERM_GRACE = 2


def new_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(3)


def check_id(bg_id: str) -> str:
    if not bg_id or not all(c.isalnum() or c == "-" for c in bg_id):
        raise InvalidArgument(f"invalid background process id {bg_id!r}",
                              "use an id that spawn or list returned")
    return bg_id


def describe(command: str | Sequence[str]) -> str:
    """How a background command is shown (spawn's result and the listing agree)."""
    return command if isinstance(command, str) else wire.join(list(command))


def spawn(bg_dir: str, bg_id: str, command: str | Sequence[str], *, cwd: str | None,
          env: Mapping[str, str], login: bool, tools: Tools) -> str:
    """Prints the new process's pid."""
    base = quote_path(bg_dir)
    code = command_words(command, login=login, bash=tools.bash)
    cd = f"cd -- {quote_path(cwd)} || exit 125; " if cwd else ""
    inner = ('sh -c "$2" </dev/null; rc=$?; '
             'echo "$rc" > "$1/exit_code.tmp" && mv -f "$1/exit_code.tmp" "$1/exit_code"')
    # Without setsid the process stays in the caller's group (dash has no job control
    # without a terminal); terminate then reaches its shell by pid only.
    detach = "setsid " if tools.setsid else ""
    return (
        f"b={base}; mkdir -p -- \"$b\" && chmod 700 -- \"$b\" || exit 1; "
        f'd="$b"/{bg_id}; mkdir -- "$d" || exit 1; '
        f"for x in \"$b\"/*/exit_code; do [ -f \"$x\" ] || continue; "
        f"[ -n \"$(find \"$x\" -mtime +{KEEP_DAYS} 2>/dev/null)\" ] "
        "&& rm -rf -- \"${x%/exit_code}\"; "
        "done; "
        f"{cd}{exports(env)}"
        f"printf '%s\\n' {wire.quote(describe(command))} > \"$d/command\"; "
        'date +%s > "$d/started"; : > "$d/output.log"; '
        f"{detach}sh -c {wire.quote(inner)} devenv-bg \"$d\" {wire.quote(code)} "
        '</dev/null >"$d/output.log" 2>&1 & '
        'echo $! > "$d/pid"; echo $!'
    )


def read_output(bg_dir: str, bg_id: str, offset: int) -> str:
    d = f"{quote_path(bg_dir)}/{check_id(bg_id)}"
    return f'[ -d {d} ] || exit 3; exec tail -c +{int(offset) + 1} -- {d}/output.log'


def terminate(bg_dir: str, bg_id: str) -> str:
    """Prints the exit code."""
    d = f"{quote_path(bg_dir)}/{check_id(bg_id)}"
    steps = TERM_GRACE * 10
    return (
        f'd={d}; [ -d "$d" ] || exit 3; '
        'if [ -f "$d/exit_code" ]; then cat "$d/exit_code"; exit 0; fi; '
        'p=$(cat "$d/pid"); '
        'kill -TERM -"$p" 2>/dev/null || kill -TERM "$p" 2>/dev/null; i=0; '
        f'while {{ kill -0 -"$p" 2>/dev/null || kill -0 "$p" 2>/dev/null; }} '
        f'&& [ $i -lt {steps} ]; do sleep 0.1; i=$((i+1)); done; '
        'if kill -0 -"$p" 2>/dev/null || kill -0 "$p" 2>/dev/null; then '
        'kill -KILL -"$p" 2>/dev/null || kill -KILL "$p" 2>/dev/null; c=137; else c=143; fi; '
        '[ -f "$d/exit_code" ] || echo "$c" > "$d/exit_code"; cat "$d/exit_code"'
    )


def listing(bg_dir: str) -> str:
    """NUL-separated records: id, pid, started, exit code ('' while none), alive (1/0),
    command, tab-separated."""
    return (
        f"b={quote_path(bg_dir)}; [ -d \"$b\" ] || exit 0; for d in \"$b\"/*/; do "
        '[ -f "$d/pid" ] || continue; d=${d%/}; p=$(cat "$d/pid"); '
        'c=$(cat "$d/exit_code" 2>/dev/null); s=$(cat "$d/started" 2>/dev/null); '
        'a=0; kill -0 "$p" 2>/dev/null && a=1; '
        "printf '%s\\t%s\\t%s\\t%s\\t%s\\t%s\\000' \"${d##*/}\" \"$p\" \"$s\" \"$c\" \"$a\" "
        '"$(cat "$d/command" 2>/dev/null)"; done'
    )


def parse_listing(data: bytes, bg_dir: str) -> list[BackgroundInfo]:
    out = []
    for record in data.split(b"\0"):
        fields = record.decode("utf-8", "replace").split("\t", 5)
        if len(fields) != 6 or not fields[1].isdecimal():
            continue
        bg_id, pid, started, code, alive, command = fields
        try:  # damaged files (a disk that filled up) must not break the listing
            exit_code = int(code) if code.strip() else None
            info = BackgroundInfo(bg_id, int(pid), f"{bg_dir.rstrip('/')}/{bg_id}", command,
                                  float(started) if started.strip() else 0.0, exit_code,
                                  alive=alive == "1")
        except ValueError:
            continue
        out.append(info)
    return sorted(out, key=lambda i: i.id)
