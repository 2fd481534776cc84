"""``devenv cp SRC DEST``: one file between this machine, environments and SSH hosts,
replaced atomically on the destination (:meth:`devenv.runtime.Runtime.write_file`)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import posixpath
from dataclasses import dataclass

from devenv.commands.execute import CLI_MAX_WAIT
from devenv.errors import UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from devenv.runtime import Runtime


@dataclass
class Endpoint:
    runtime: Runtime
    path: str
    shown: str


def _endpoint(spec: str) -> Endpoint:
    from devenv.runtime import LocalRuntime
    from devenv.ssh import health

    if not spec:
        raise UsageError("empty path", "devenv cp SRC DEST")
    head, colon, rest = spec.partition(":")
    if head.startswith("["):  # [v6-address]:path or user@[v6]:path
        close = spec.find("]:")
        head, colon, rest = (spec[:close + 1], ":", spec[close + 2:]) if close > 0 else \
            (spec, "", "")
    if not colon or "/" in head or spec.startswith(("~", ".")):
        return Endpoint(LocalRuntime(os.getcwd(), dirs=health.runtime_dirs()), spec, spec)
    if not rest:
        raise UsageError(f"{spec!r} names no file", f"write {head}:PATH")
    env = _environment(head)
    if env is not None:
        from devenv.envs import EnvRuntime, start

        start.ensure_running(env)
        return Endpoint(EnvRuntime(env, max_wait=CLI_MAX_WAIT), rest, spec)
    from devenv.runtime import SSHRuntime, SSHTarget

    return Endpoint(SSHRuntime(SSHTarget.from_cli(head), dirs=health.runtime_dirs(),
                               max_wait=CLI_MAX_WAIT), rest, spec)


def _environment(name: str) -> str | None:
    """The project path of the environment ``name`` (devenv-NAME too), if devenv knows it."""
    from devenv.envs.identity import CONTAINER_PREFIX
    from devenv.envs.known import known_project

    known = known_project(name.removeprefix(CONTAINER_PREFIX))
    return known.path if known is not None else None


def _refuse_local_link(target: str) -> None:
    """A local destination that is a link is refused: an agent may have planted it in the
    project to make the host's own ``devenv cp`` write elsewhere (docs/security.md)."""
    if os.path.islink(target):
        raise UsageError(f"{target} is a symbolic link; devenv cp does not write through "
                         "links on this machine", "remove the link, or give the path it "
                         f"points to ({os.readlink(target)})")


async def _copy(src: Endpoint, dest: Endpoint) -> str:
    from devenv.runtime import LocalRuntime, PathError

    s, d = src.runtime, dest.runtime
    try:
        info = await s.stat(src.path)
        if info.is_dir:
            raise UsageError(f"{src.shown} is a directory; devenv cp copies one file",
                             "copy directories with rsync (ssh devenv-NAME works with it)")
        target = dest.path
        with contextlib.suppress(PathError):  # no such file yet: it is the target itself
            if (await d.stat(target)).is_dir:
                target = posixpath.join(target, posixpath.basename(src.path.rstrip("/")))
        if isinstance(d, LocalRuntime):
            _refuse_local_link(target)
        await d.write_file(target, s.read_file(src.path), size=info.size, parents=False)
        return target
    finally:
        await s.close()
        await d.close()


def run(src: str, dest: str) -> int:
    asyncio.run(_copy(_endpoint(src), _endpoint(dest)))
    return 0
