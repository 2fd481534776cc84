"""A thin wrapper over the ``docker`` CLI: JSON formats in, classified errors out.

Shelling out (rather than the Docker SDK) keeps start-up fast and inherits docker contexts,
``DOCKER_HOST``, rootless and podman set-ups. Docker's exit codes are ambiguous (1 for almost
everything), so failures are classified from stderr.
"""

from __future__ import annotations

import contextlib
import json

from devenv import proc
from devenv.errors import CommandError, ConflictError, DevenvError, EngineUnavailable

TYPE_CHECKING = False
if TYPE_CHECKING:
    import re
    from collections.abc import Callable, Mapping, Sequence
    from typing import Any

DOCKER = "docker"

# Only the docker CLI's own error lines are classified: a command's output (a build step, an
# exec) may say "connection refused" about something else entirely. The patterns are compiled
# on the first failure (``re`` costs start-up time every command would pay).
_PATTERNS = {
    "own_line": r"^(docker: )?(Error|error during connect|Cannot connect|"
                r"permission denied|Conflict)",
    "permission": r"permission denied while trying to connect to the Docker daemon",
    "engine_down": r"Cannot connect to the Docker daemon|error during connect|"
                   r"Is the docker daemon running",
    "no_such": r"No such (container|object|image|volume|network)|network \S+ not found",
    "port_taken": r"port is already allocated|address already in use",
    "name_taken": r"is already in use by container|Conflict\. The container name",
    "network_exists": r"network with name \S+ already exists",
    "network_in_use": r"has active endpoints",
    "no_address_pool": r"could not find an available, non-overlapping IPv\d address pool",
}
_compiled: dict[str, re.Pattern[str]] = {}


def _pattern(name: str) -> re.Pattern[str]:
    if not _compiled:
        import re

        _compiled.update({k: re.compile(v, re.IGNORECASE) for k, v in _PATTERNS.items()})
    return _compiled[name]


class PortTaken(ConflictError):
    """Docker could not publish the port: something else holds it."""


class NameTaken(ConflictError):
    """A container with this name already exists (another devenv may have just started it)."""


class NoSuchObject(DevenvError):
    """The container, image, volume or network does not exist."""


class NetworkExists(ConflictError):
    """A network with this name already exists (another devenv may have just made it)."""


class NetworkInUse(ConflictError):
    """The network still has containers attached."""


def classify(error: CommandError) -> DevenvError:
    """Turn a failed docker call into the error it really is."""
    own = _pattern("own_line")
    err = "\n".join(line for line in error.stderr.splitlines() if own.match(line.strip()))
    if _pattern("permission").search(err):
        return EngineUnavailable(
            "permission denied talking to the Docker engine",
            "add your user to the 'docker' group and log in again, or use rootless Docker",
        )
    if _pattern("engine_down").search(err):
        return EngineUnavailable(
            "the Docker engine is not answering",
            "start it (scripts/engine.sh does, on Debian as root), or check DOCKER_HOST / "
            "'docker context'",
        )
    if _pattern("port_taken").search(err):
        return PortTaken(f"docker could not publish the port: {_last_line(err)}")
    if _pattern("name_taken").search(err):
        return NameTaken(_last_line(err))
    if _pattern("network_exists").search(err):
        return NetworkExists(_last_line(err))
    if _pattern("network_in_use").search(err):
        return NetworkInUse(_last_line(err))
    if _pattern("no_address_pool").search(err):
        return DevenvError(
            "the Docker engine has no free address range for another network "
            "(each environment has its own)",
            "stop environments you do not need, remove unused networks ('devenv gc', "
            "'docker network prune'), or give the engine more ranges: "
            "default-address-pools in /etc/docker/daemon.json, e.g. "
            '[{"base": "10.210.0.0/16", "size": 24}]')
    if _pattern("no_such").search(err):
        return NoSuchObject(_last_line(err))
    return error


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "no error output"


def docker(args: Sequence[str], *, timeout: float = 60, input: str | None = None,
           capture: bool = True) -> proc.Result:
    """Run ``docker ARGS``; raise a classified :class:`DevenvError` on failure."""
    try:
        return proc.run([DOCKER, *args], timeout=timeout, input=input, capture=capture)
    except CommandError as e:
        raise classify(e) from None


def ping() -> str:
    """The engine's version; raises :class:`EngineUnavailable` when it does not answer."""
    try:
        out = docker(["version", "--format", "{{.Server.Version}}"], timeout=20).stdout
    except CommandError as e:
        raise EngineUnavailable(
            f"the Docker engine is not answering: {_last_line(e.stderr)}",
            "start it (scripts/engine.sh does, on Debian as root)") from None
    return out.strip()


def inspect(kind: str, names: Sequence[str]) -> list[dict[str, Any]]:
    """``docker KIND inspect`` for each of ``names``; missing ones are left out."""
    if not names:
        return []
    try:
        out = docker([kind, "inspect", *names], timeout=30).stdout
    except NoSuchObject:
        # One or more are missing; inspect them one by one so the others still count.
        if len(names) == 1:
            return []
        found: list[dict[str, Any]] = []
        for name in names:
            found.extend(inspect(kind, [name]))
        return found
    data: list[dict[str, Any]] = json.loads(out or "[]")
    return data


def container(name: str) -> dict[str, Any] | None:
    return _one("container", name)


def image(ref: str) -> dict[str, Any] | None:
    return _one("image", ref)


def _one(kind: str, ref: str) -> dict[str, Any] | None:
    found = inspect(kind, [ref])
    return found[0] if found else None


def _labelled(kind: str, listing: list[str], labels: Mapping[str, str]) -> list[dict[str, Any]]:
    """Every object ``listing`` (``ps -a``, ``network ls``) shows with all of ``labels``,
    fully inspected."""
    filters = [arg for key, value in labels.items() for arg in ("--filter", f"label={key}={value}")]
    ids = docker([*listing, "-q", "--no-trunc", *filters], timeout=30).stdout.split()
    return inspect(kind, ids)


def containers(labels: Mapping[str, str]) -> list[dict[str, Any]]:
    """Every container (running or not) carrying all of ``labels``, fully inspected."""
    return _labelled("container", ["ps", "-a"], labels)


def listed(labels: Mapping[str, str], keys: Sequence[str], *,
           names: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """Every container (running or not) carrying all of ``labels`` (and, given ``names``,
    named one of them), as one ``docker ps`` call tells it (no inspect): per container its
    ``Id``, ``Name``, ``Image`` (what it was started from, or its image id ``sha256:...``
    when that name now means another image), ``State`` (inspect's ``State.Status``),
    ``Status`` (docker's words: "Up 5 minutes"), ``CreatedAt`` (docker's words:
    "2006-01-02 15:04:05 -0700 MST") and ``Labels``: those of ``keys`` it carries with a
    value."""
    filters = [arg for k, v in labels.items() for arg in ("--filter", f"label={k}={v}")]
    if names is not None:
        # Docker's name filter is a regular expression; a name no container can have
        # (Docker allows [a-zA-Z0-9][a-zA-Z0-9_.-]*) matches nothing.
        valid = [n for n in names if n[:1].isalnum() and n.isascii()
                 and n.replace("_", "").replace(".", "").replace("-", "").isalnum()]
        if not valid:
            return []
        filters += [arg for n in valid
                    for arg in ("--filter", "name=^/?" + n.replace(".", "\\.") + "$")]
    # One JSON array a line: every value JSON-quoted, whatever a label holds.
    fields = [*(f"{{{{json .{f}}}}}" for f in ("ID", "Names", "Image", "State", "Status",
                                                "CreatedAt")),
              *(f'{{{{json (.Label "{key}")}}}}' for key in keys)]
    out = docker(["ps", "-a", "--no-trunc", *filters, "--format", "[" + ",".join(fields) + "]"],
                 timeout=30).stdout
    found = []
    for line in out.splitlines():
        try:
            values = json.loads(line)
        except ValueError:
            values = None
        if not isinstance(values, list) or len(values) != len(fields) or not all(
                isinstance(v, str) for v in values):
            raise DevenvError(f"docker ps printed an unexpected line: {line[:200]!r}")
        cid, its_names, image, status, words, created = values[:6]
        # Legacy links add "other/alias" names; the container's own name has no "/".
        name = next((n for n in its_names.split(",") if "/" not in n), its_names)
        if names is not None and name not in names:
            continue  # the filter is a pattern: only exact names count
        found.append({"Id": cid, "Name": name, "Image": image, "State": status,
                      "Status": words, "CreatedAt": created,
                      "Labels": {k: v for k, v in zip(keys, values[6:], strict=True) if v}})
    return found


def concurrently(*calls: Callable[[], Any]) -> list[Any]:
    """Run ``calls`` (docker calls, as a rule: each waits on its own process) at the same
    time; return their results in order once all are done, or raise the first one's
    exception (in order) once all are done."""
    return started(*calls)()


def started(*calls: Callable[[], Any]) -> Callable[[], list[Any]]:
    """Start ``calls`` in threads of their own; the function returned waits for them all and
    returns their results in order, or raises the first one's exception (in order). The
    caller does other work meanwhile (Python work runs while docker processes are waited
    for)."""
    import threading

    results: list[Any] = [None] * len(calls)
    errors: list[BaseException | None] = [None] * len(calls)

    def run(i: int) -> None:
        try:
            results[i] = calls[i]()
        except BaseException as e:  # noqa: BLE001 - handed to the caller
            errors[i] = e

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(len(calls))]
    for thread in threads:
        thread.start()

    def wait() -> list[Any]:
        for thread in threads:
            thread.join()
        for error in errors:
            if error is not None:
                raise error
        return results

    return wait


def running_labels(labels: Mapping[str, str], key: str, value: str
                   ) -> dict[str, tuple[str, str]]:
    """For every running container carrying all of ``labels``: its label ``key`` mapped to
    its label ``value`` and its full id (one ``docker ps`` call, no inspect)."""
    filters = [arg for k, v in labels.items() for arg in ("--filter", f"label={k}={v}")]
    fmt = f'{{{{.Label "{key}"}}}}\t{{{{.Label "{value}"}}}}\t{{{{.ID}}}}'
    out = docker(["ps", "--no-trunc", *filters, "--format", fmt], timeout=30).stdout
    rows = (line.split("\t") for line in out.splitlines())
    return {r[0].strip(): (r[1].strip(), r[2].strip()) for r in rows
            if len(r) == 3 and r[0].strip()}


def remove(name: str) -> None:
    """Force-remove a container; a missing one is fine."""
    with contextlib.suppress(NoSuchObject):
        docker(["rm", "-f", name], timeout=60)


def labels_of(obj: Mapping[str, Any]) -> dict[str, str]:
    config = obj.get("Config") or {}
    return dict(config.get("Labels") or {})


def is_running(obj: Mapping[str, Any]) -> bool:
    return bool((obj.get("State") or {}).get("Running"))


def volume_mount_arg(volume: str, target: str) -> str:
    """A ``--mount`` value for a named volume (names and targets are devenv's own)."""
    return f"type=volume,source={volume},target={target}"


def mount_arg(source: str, target: str, *, readonly: bool = False) -> str:
    """A ``--mount`` value that survives commas, quotes and colons in paths.

    Docker parses ``--mount`` as one CSV record, so every field is quoted and inner quotes
    doubled.
    """
    fields = ["type=bind", f"source={source}", f"target={target}"]
    if readonly:
        fields.append("readonly")
    return ",".join('"' + field.replace('"', '""') + '"' for field in fields)


def network(name: str) -> dict[str, Any] | None:
    """``docker network inspect NAME`` (``None`` when it does not exist)."""
    return _one("network", name)


def networks(labels: Mapping[str, str]) -> list[dict[str, Any]]:
    """Every network carrying all of ``labels``, fully inspected."""
    return _labelled("network", ["network", "ls"], labels)


def create_network(name: str, *, labels: Mapping[str, str], options: Mapping[str, str]) -> None:
    """``docker network create`` a bridge network; :class:`NetworkExists` if the name is
    taken."""
    args = ["network", "create", "--driver", "bridge"]
    for key, value in labels.items():
        args += ["--label", f"{key}={value}"]
    for key, value in options.items():
        args += ["--opt", f"{key}={value}"]
    docker([*args, name], timeout=60)


def remove_network(name: str) -> bool:
    """Remove a network; ``False`` if it did not exist. :class:`NetworkInUse` while a
    container is attached."""
    try:
        docker(["network", "rm", name], timeout=60)
    except NoSuchObject:
        return False
    return True
