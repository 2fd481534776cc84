"""``devenv list`` (no options) quickly: the instance id from the index, one ``docker ps``
call, a table. Like the exec fast path (:mod:`devenv.envs.index`), it imports only ``os`` and
C modules (``select``, ``_json``; ``datetime`` for environments up for an hour
or more): ``subprocess``, ``json`` and argparse would cost more than the ``docker ps`` call.

What ``docker ps`` says is read as hostile: every value comes JSON-quoted and is decoded by
the C half of :mod:`json`. Anything unusual returns ``None`` and the caller takes the full
path (:mod:`devenv.commands.listing`), which inspects the containers, reports errors
properly and prints the same table: no index, docker failing or slow, a line that is not what
was asked for, a container whose age or image ``docker ps`` does not tell exactly.

The age shown is Docker's own up to an hour ("Up 5 seconds" is exact); beyond that it is
counted from the container's creation (to the second; ``docker run`` starts what it created
at once), checked against Docker's words, and never near a boundary of what is shown.
"""

from __future__ import annotations

from devenv import paths

TYPE_CHECKING = False
if TYPE_CHECKING:
    from datetime import datetime, timedelta

# devenv.envs.identity's labels (importing it costs ``re``; a unit test keeps them equal).
LABEL_NAME = "devenv.name"
LABEL_PATH = "devenv.path"
LABEL_PORT = "devenv.port"
LABEL_INSTANCE = "devenv.instance"
INDEX_HEADER = "instance\t"  # devenv.envs.index.INDEX_HEADER
PS_TIMEOUT = 30.0
HEADER = ("NAME", "PROJECT", "PORT", "STATUS", "STARTED", "IMAGE")
# Creation to start, at most: ages nearer than this to a boundary of what is shown ask for
# the start time (the full path).
START_MARGIN = 10
_FIELDS = ("ID", "Names", "Image", "State", "Status", "CreatedAt")
_LABELS = (LABEL_NAME, LABEL_PATH, LABEL_PORT)


def run() -> int | None:
    """Print the table of running environments; ``None`` when the full path must do it."""
    instance = _instance()
    if instance is None:
        return None
    out = _ps(instance)
    if out is None:
        return None
    rows: list[tuple[str, ...]] = []
    now: datetime | None = None
    for line in out.splitlines():
        values = _strings(line)
        if values is None or len(values) != len(_FIELDS) + len(_LABELS):
            return None
        _, names, image, status, words, created, name, path, port = values
        if status not in ("running", "paused", "restarting"):
            continue  # inspect's State.Running: what the full path lists
        own = [n for n in names.split(",") if "/" not in n]
        if len(own) != 1 or image.startswith("sha256:"):  # ps gave the image's id
            return None
        age = _short_age(words)
        if age is None:
            if now is None:
                from datetime import UTC, datetime

                now = datetime.now(UTC)
            age = _long_age(words, created, now)
            if age is None:
                return None
        if not name or image == "<no image>":
            return None  # the full path words these as inspect has them
        shown_port = str(int(port)) if port.isdecimal() and int(port) else "-"  # as int()
        rows.append((name, path, shown_port, status, age + " ago", image))
    if not rows:
        print("no environments running")
        return 0
    _print_table([HEADER, *sorted(rows, key=lambda row: row[0])])
    return 0


def _instance() -> str | None:
    """This installation's instance id, as the index (derived from the state database by
    :func:`devenv.envs.registry.refresh_files`) records it."""
    try:
        with open(paths.index_file(), encoding="utf-8") as f:
            first = f.readline().rstrip("\n")
    except (OSError, ValueError):
        return None
    instance = first.removeprefix(INDEX_HEADER)
    if instance == first or not instance.isalnum() or not instance.isascii():
        return None
    return instance


def _ps(instance: str) -> str | None:
    """``docker ps``'s output, or ``None`` when it failed or took too long."""
    fields = [*(f"{{{{json .{f}}}}}" for f in _FIELDS),
              *(f'{{{{json (.Label "{key}")}}}}' for key in _LABELS)]
    # Without -a: the running ones (paused and restarting too), what the full path lists.
    argv = ["docker", "ps", "--no-trunc", "--filter", f"label={LABEL_INSTANCE}={instance}",
            "--format", "[" + ",".join(fields) + "]"]
    from devenv import proc

    started = proc.start_capture(argv)
    if started is None:
        return None
    import _json  # noqa: F401 - for _strings; imported while docker answers

    code, out = proc.collect(started, PS_TIMEOUT)
    if code != 0:
        return None
    try:
        return out.decode()
    except UnicodeDecodeError:
        return None


def _strings(line: str) -> list[str] | None:
    """A JSON array of strings (what the format above prints), else ``None``."""
    from _json import scanstring

    if not line.startswith("[") or not line.endswith("]"):
        return None
    values: list[str] = []
    pos = 1
    try:
        while line[pos] == '"':
            value, pos = scanstring(line, pos + 1, True)
            values.append(value)
            if line[pos] != "," or line[pos + 1] != '"':
                break
            pos += 1
    except (ValueError, IndexError):
        return None
    return values if pos == len(line) - 1 else None


def _short_age(words: str) -> str | None:
    """``devenv list``'s age for Docker's running status up to an hour ("Up 5 seconds",
    "Up About a minute (Paused)"), which counts the same way; ``None`` beyond."""
    words = _up(words) or ""
    if words == "Less than a second":
        return "0 seconds"
    if words == "About a minute":
        return "1 minute"
    count, _, unit = words.partition(" ")
    if count.isdecimal() and count.isascii() and unit in ("second", "seconds", "minutes"):
        return words
    return None


def _up(status: str) -> str | None:
    """The duration in Docker's "Up 5 minutes", "Up 2 hours (healthy)"; ``None`` for any
    other status."""
    if not status.startswith("Up "):
        return None
    words = status[3:]
    cut = words.find(" (")
    return words[:cut] if cut >= 0 and words.endswith(")") else words


def _long_age(status: str, created: str, now: datetime) -> str | None:
    """The age from the creation time when Docker words it as the status does and it is
    not near a boundary of what is shown; else ``None``."""
    from datetime import timedelta

    words = _up(status)
    start = _created(created)
    if words is None or start is None:
        return None
    if docker_words(now - start) != words:
        return None  # restarted since, or at a boundary of Docker's rounding
    shown = human_age(now - start)
    if human_age(now - start - timedelta(seconds=START_MARGIN)) != shown:
        return None
    return shown


def _created(words: str) -> datetime | None:
    """Go's ``time.Time.String()`` of a whole second: "2006-01-02 15:04:05 -0700 MST"."""
    from datetime import datetime, timedelta

    try:
        day, clock, offset = words.split(" ")[:3]
        if len(offset) != 5 or offset[0] not in "+-" or not offset[1:].isdecimal():
            return None
        shift = timedelta(hours=int(offset[1:3]), minutes=int(offset[3:5]))
        return datetime.fromisoformat(f"{day}T{clock}+00:00") - (
            -shift if offset[0] == "-" else shift)
    except ValueError:
        return None


def human_age(delta: timedelta) -> str:
    """How ``devenv list`` words an age: whole seconds, minutes, hours or days."""
    seconds = max(0, int(delta.total_seconds()))
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{seconds} second{'s' if seconds != 1 else ''}"


def docker_words(delta: timedelta) -> str:
    """How Docker words a duration in ``docker ps``'s status: ``HumanDuration`` of
    github.com/docker/go-units."""
    total = delta.total_seconds()
    seconds = int(total)
    if seconds < 1:
        return "Less than a second"
    if seconds < 60:
        return "1 second" if seconds == 1 else f"{seconds} seconds"
    minutes = int(total / 60)
    if minutes < 60:
        return "About a minute" if minutes == 1 else f"{minutes} minutes"
    hours = _go_round(total / 3600)
    if hours == 1:
        return "About an hour"
    if hours < 48:
        return f"{hours} hours"
    if hours < 24 * 7 * 2:
        return f"{hours // 24} days"
    if hours < 24 * 30 * 2:
        return f"{hours // 24 // 7} weeks"
    if hours < 24 * 365 * 2:
        return f"{hours // 24 // 30} months"
    return f"{int(total / 3600) // 24 // 365} years"


def _go_round(value: float) -> int:
    """Go's ``math.Round``: half away from zero (Python's ``round`` goes to even)."""
    return int(value + 0.5) if value >= 0 else -int(-value + 0.5)


def _print_table(rows: list[tuple[str, ...]]) -> None:
    """:func:`devenv.table.print_table` (which imports ``collections.abc``; a unit test keeps
    the two equal)."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        print("  ".join([*cells, row[-1]]))
