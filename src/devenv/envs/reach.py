"""One way into an environment (docs/architecture.md): PATH or NAME is resolved once into a
:class:`~devenv.envs.index.Target`, then a command runs in it (its exit code comes back) or a
terminal attaches to it (devenv's process is replaced).

- :func:`find`: the environment if it runs now, from the index alone (no database, no
  docker call): the fast path ``cli`` tries before argparse.
- :func:`target`: the same, or the full path: the project resolved through devenv's state,
  the environment started if needed.
- :func:`run`: the warm SSH master, else ``docker exec`` (:mod:`devenv.envs.transport`);
  ``None`` when the container is gone (the caller starts it again).
- :func:`attach`: ``ssh -t`` hand-over on a terminal, ``docker exec -i`` without one
  (Python never proxies a terminal).

PATH or NAME: a name has no "/" and is no existing directory, as in :func:`find`; a PATH
means the project it is in (:mod:`devenv.envs.root`); names resolve through devenv's state
(:func:`devenv.envs.known.resolve_project`, which the runtime library's
:class:`~devenv.envs.env_runtime.EnvRuntime` uses too).
"""

from __future__ import annotations

import os
import sys

from devenv.envs import index, transport

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import NoReturn

    from devenv.envs.start import Env


def find(spec: str, *, probe: bool = True) -> index.Target | None:
    """The running environment of PATH or NAME ``spec``, from the index alone; ``None``
    when the full path must decide. ``probe``: trust its port only when sshd answers (an
    exec skips it: a live master is proof enough, and the transport falls back)."""
    return index.lookup(spec, probe=probe)


def project_of(spec: str) -> str:
    """PATH as given, or the project directory of the environment NAME (a name has no "/"
    and is no existing directory: the rule of :func:`find`); an unknown name is a
    NotFoundError naming close matches."""
    if os.sep in spec or os.path.isdir(spec):
        return spec
    from devenv.envs.known import resolve_project

    name, known = resolve_project(spec)
    if known is None:
        from devenv.errors import NotFoundError

        raise NotFoundError(f"devenv no longer knows the project of {name!r}",
                            "start it again by its path: devenv up PATH")
    return known.path


def target(spec: str, *, port: int | None = None, name: str | None = None,
           look_fast: bool = True, here: bool = False, grant_write: bool = False
           ) -> tuple[index.Target, Env | None]:
    """Where PATH or NAME ``spec`` runs, starting it first if needed; the environment too
    when this call looked it up (``None`` when the index answered). A PATH means the project
    it is in, and the target's directory is PATH inside it (``here``: PATH is the project;
    :mod:`devenv.envs.root`). ``look_fast=False`` skips the index (its entry proved
    stale)."""
    from devenv.envs import start

    return start.target(project_of(spec), port=port, name=name, look_fast=look_fast,
                        here=here, grant_write=grant_write)


def say_chosen(where: index.Target, *, always: bool = True) -> None:
    """Say which project PATH resolved to when it is not PATH itself (``always=False``:
    only on a terminal, for commands whose output scripts read)."""
    if where.chosen and (always or os.isatty(2)):
        print(where.chosen, file=sys.stderr)


def run(where: index.Target, command: list[str]) -> int | None:
    """Run ``command`` in the environment: over its warm SSH master when there is one, else
    over ``docker exec``; its exit code, or ``None`` when the container is gone."""
    code = transport.run(where, command)
    if code is None:
        code = transport.run_docker(where, command)
    return code


def attach(where: index.Target, command: list[str], *, tty: bool) -> NoReturn:
    """Replace devenv with ``command`` in the environment, on our terminal when ``tty``.

    A terminal is attached over SSH, not ``docker exec -t``: when a ``docker exec`` client
    dies, Docker keeps its pseudo-terminal open and the shell and its jobs run on, unseen
    (moby#9098); sshd hangs the terminal up as in any SSH login."""
    from devenv import proc

    if tty and where.control:
        proc.exec_replace(transport.attach_argv(where, command))
    proc.exec_replace(index.exec_argv(where, command, tty=tty))
