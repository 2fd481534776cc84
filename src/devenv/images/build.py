"""Building one image: content digests, the build call itself, its log and its errors."""

from __future__ import annotations

import hashlib
import re
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

from devenv import proc
from devenv.engine import docker
from devenv.errors import ConfigError, DevenvError
from devenv.paths import ensure_private_dir, log_dir

BUILD_TIMEOUT = 1800
LABEL_IMAGE = "devenv.image"
LABEL_SOURCE = "devenv.source"


def digest(parts: Mapping[str, bytes]) -> str:
    """A short, stable hash of named byte strings (order-independent)."""
    h = hashlib.sha256()
    for key in sorted(parts):
        h.update(key.encode() + b"\0" + hashlib.sha256(parts[key]).digest())
    return h.hexdigest()[:16]


def safe(tag: str) -> str:
    """A tag as a file or lock name."""
    return tag.replace(":", "_").replace("/", "_")


_REMOTE = re.compile(r"^(?:[a-z][a-z0-9+.-]*://|git@)", re.IGNORECASE)


def refuse_remote_add(text: bytes, where: str) -> None:
    """``ADD <url>`` is fetched by the Docker engine itself, from the host's network (its
    localhost, cloud metadata): a Dockerfile the agent can write must not do that."""
    joined = re.sub(r"\\\r?\n", " ", text.decode("utf-8", "replace"))
    for line in joined.splitlines():
        words = line.split()
        if words and words[0].upper() == "ADD" and any(_REMOTE.match(w) for w in words[1:]):
            raise ConfigError(f"{where}: ADD of a URL is not allowed: Docker would fetch it "
                              "from the host's own network",
                              "download it in a RUN step (it runs in the build container)")


def existing(tags: list[str]) -> set[str]:
    """Which of ``tags`` the engine has (one call)."""
    if not tags:
        return set()
    out = docker.docker(["image", "ls", "--format", "{{.Repository}}:{{.Tag}}",
                         "--filter", "label=devenv=true"], timeout=60).stdout
    have = set(out.split())
    return {tag for tag in tags if tag in have}


def build(context: Path | Mapping[str, bytes], tag: str, *, args: Mapping[str, str],
          labels: Mapping[str, str], what: str, no_cache: bool = False,
          dockerfile: Path | str | None = None, failure: str | None = None,
          modes: Mapping[str, int] | None = None) -> float:
    """Build ``tag``; return the seconds it took. ``context`` is a directory or the files
    of one (written to a temporary directory of devenv's, with ``modes``; a ``str``
    ``dockerfile`` names one of them). ``failure``, when given, is the error message should
    the build fail (the usual one quotes the build's last line).
    """
    if isinstance(context, Mapping):
        with tempfile.TemporaryDirectory(prefix="devenv-build-") as tmp:
            for name, data in context.items():
                target = Path(tmp) / name
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(data)
                if modes and name in modes:
                    target.chmod(modes[name] & 0o755)
            file = Path(tmp) / dockerfile if isinstance(dockerfile, str) else dockerfile
            return build(Path(tmp), tag, args=args, labels=labels, what=what,
                         no_cache=no_cache, dockerfile=file, failure=failure)
    log = ensure_private_dir(log_dir()) / f"build-{safe(tag)}.log"
    print(f"devenv: building {what} (log: {log})", file=sys.stderr, flush=True)
    # --force-rm: a failed step leaves no intermediate container behind (legacy builder).
    argv = ["build", "--force-rm", "-t", tag, "--label", "devenv=true"]
    if no_cache:
        argv.append("--no-cache")
    if dockerfile is not None:
        argv += ["-f", str(dockerfile)]
    for key, value in labels.items():
        argv += ["--label", f"{key}={value}"]
    for key, value in args.items():
        argv += ["--build-arg", f"{key}={value}"]
    argv.append(str(context))
    start = time.monotonic()
    # Not docker.docker(): a build's output is the build's, and a step that prints, say,
    # "Connection refused" must not be mistaken for the engine being down.
    result = proc.run([docker.DOCKER, *argv], timeout=BUILD_TIMEOUT, check=False)
    log.write_text(result.stdout + result.stderr)
    if result.returncode != 0:
        docker.ping()  # raises EngineUnavailable if that is what really happened
        raise DevenvError(failure or f"building {what} failed: "
                          f"{_last(result.stderr or result.stdout)}",
                          f"read the build log: {log}")
    return time.monotonic() - start


def _last(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "no output"
