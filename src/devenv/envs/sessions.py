"""Persistent sessions: tmux inside the environment, reached over SSH.

``devenv PATH --session NAME`` attaches to (or creates) the tmux session NAME, so a long agent
run survives a closed terminal or a dropped connection. The attach goes through ssh, not
``docker exec``: when a ``docker exec -it`` client dies, Docker keeps the process inside
attached to a pseudo-terminal nobody reads (moby#9098), so tmux would list the session as
attached forever; sshd hangs up the terminal and tmux detaches the session.

Every remote command string is built here with :func:`shlex.quote`, once.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass

from devenv.errors import EXIT_CONFLICT, EXIT_PRE_CHILD, UsageError

# tmux refuses ':' and '.' in names; keeping to this set also keeps them shell-safe.
SESSION_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
MISSING = ('command -v tmux >/dev/null 2>&1 || { echo "devenv: tmux is not installed in '
           f'this environment" >&2; exit {EXIT_PRE_CHILD}; }}')
# One line per session; the start command comes last because it may hold tabs.
FIELDS = ("session_name", "session_attached", "session_created", "session_windows",
          "pane_current_command", "session_path", "pane_start_command")
# container.WORKSPACES, where an environment's workspaces are (docs/workspaces.md); not
# imported: sessions stay clear of the Docker wrapper.
WORKSPACES = "/workspaces/"
LIST_FORMAT = "\t".join("#{" + f + "}" for f in FIELDS)
# A one-word command goes through this, so that tmux runs it as a program like every other
# command (tmux would hand a single word to the shell); the listing shows just the word.
ONE_WORD = ("sh", "-c", 'exec "$0"')
# Terminals the image has no terminfo for (new emulators) still get a working tmux.
TERMINFO = 'infocmp "$TERM" >/dev/null 2>&1 || export TERM=xterm-256color'


def check_name(name: str) -> str:
    """``name`` if it is a usable session name, else a :class:`UsageError`."""
    if not SESSION_NAME.match(name):
        raise UsageError(f"invalid session name {name!r}",
                         "use 1 to 64 letters, digits, '_' and '-'")
    return name


def _target(session: str) -> str:
    return shlex.quote("=" + session)  # '=': exactly this session, never a prefix match


def attach_script(workspace: str, session: str, command: list[str], *, tty: bool,
                  project: str) -> str:
    """The remote shell command that attaches to ``session``, creating it in ``workspace``
    (running ``command``, else a login shell) when it does not exist.

    Without a terminal it only makes sure the session runs, detached, and says how to attach;
    a command given for a session that already runs is not run, and the script exits 4."""
    check_name(session)
    argv = [*ONE_WORD, *command] if len(command) == 1 else command
    # tmux reads a word ending in ";" as a command separator; "\\;" keeps it a literal ";".
    argv = [w[:-1] + "\\;" if w.endswith(";") else w for w in argv]
    # "--" ends tmux's options; several words are run directly, as an argument vector.
    tail = f"-s {shlex.quote(session)}" + (" -- " + shlex.join(argv) if argv else "")
    exists = f"tmux has-session -t {_target(session)} 2>/dev/null"
    steps = [f"cd {shlex.quote(workspace)} || exit 125", MISSING]
    if tty:
        if command:
            note = shlex.quote(f"devenv: session {session} is already running; attaching "
                               "(the command was not run)")
            steps.append(f"if {exists}; then echo {note} >&2; fi")
        steps += [TERMINFO, f"exec tmux new-session -A {tail}"]  # -A: attach if it exists
        return "; ".join(steps)
    attach = f"devenv {shlex.quote(project)} --session {session}"
    running = shlex.quote(f"devenv: session {session} is already running"
                          + ("; the command was not run" if command else "")
                          + f"; attach: {attach}")
    started = shlex.quote(f"devenv: session {session} started, detached; attach: {attach}")
    code = EXIT_CONFLICT if command else 0
    # Two starts at once: the one whose new-session loses finds the session running.
    steps.append(f"if {exists}; then echo {running} >&2; exit {code}; fi")
    # A command that ends at once can take the tmux server down with it before new-session
    # hears back; it did start.
    ended = shlex.quote(f"devenv: session {session} started, and its command has already "
                        "ended")
    steps.append(f"if out=$(tmux new-session -d {tail} 2>&1); then echo {started} >&2; "
                 f"elif {exists}; then echo {running} >&2; exit {code}; "
                 'else case "$out" in *"server exited"*|*"no server running"*) '
                 f"echo {ended} >&2 ;; "
                 '*) echo "devenv: tmux: $out" >&2; exit 125 ;; esac; fi')
    return "; ".join(steps)


def list_argv() -> list[str]:
    """Argument vector listing the sessions; prints nothing when there are none (no tmux
    server runs yet)."""
    return ["sh", "-c", 'tmux list-sessions -F "$1" 2>/dev/null || true', "devenv-sessions",
            LIST_FORMAT]


def kill_argv(session: str) -> list[str]:
    return ["tmux", "kill-session", "-t", "=" + check_name(session)]


@dataclass(frozen=True)
class Session:
    """One tmux session as ``devenv sessions`` shows it."""

    name: str
    clients: int  # attached clients; 0 = detached
    created: int  # Unix time
    windows: int
    running: str  # the foreground command of the active pane now
    command: str  # what the session was started with ("" = a login shell)
    workspace: str = ""  # the workspace it was started in ("" = the project directory)

    @property
    def state(self) -> str:
        return "detached" if self.clients == 0 else "attached"


def parse_sessions(text: str) -> list[Session]:
    """Parse the output of :func:`list_argv`; lines that do not fit are skipped."""
    rows = []
    for line in text.splitlines():
        parts = line.split("\t", len(FIELDS) - 1)
        if len(parts) != len(FIELDS) or not all(p.isdecimal() for p in parts[1:4]):
            continue
        rows.append(Session(name=parts[0], clients=int(parts[1]), created=int(parts[2]),
                            windows=int(parts[3]), running=parts[4],
                            workspace=_workspace(parts[5]), command=_unquote(parts[6])))
    return sorted(rows, key=lambda s: s.name)


def _workspace(path: str) -> str:
    name = path[len(WORKSPACES):] if path.startswith(WORKSPACES) else ""
    return name.split("/")[0]


def _unquote(command: str) -> str:
    """tmux shows a start command with its own quoting; show :data:`ONE_WORD` commands as
    the word that was typed."""
    try:
        words = shlex.split(command)
    except ValueError:
        return command
    if len(words) == 4 and tuple(words[:3]) == ONE_WORD:
        return words[3][:-2] + ";" if words[3].endswith("\\;") else words[3]
    return command
