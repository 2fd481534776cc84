"""What a stop leaves to tidy: the networks of the stopped environments (once ``--rm``
removed their containers), and the networks this installation left behind (environments
that ended without ``stop``).

``devenv stop`` returns as soon as its containers stopped and were removed, and hands this
to a detached process of its own (:func:`later`): removing a network costs Docker about as
long as stopping the container did, and nothing the user does next waits for it (``up``
reuses or replaces a network still there). That process removes a network only under its
environment's start lock, so a start under way keeps it
(:func:`devenv.envs.container.remove_unused_network`). ``devenv rm`` and ``up --recreate``
tidy in line (:func:`now`): they reuse the name or the volume at once. Bounded either way:
:data:`REMOVE_TIMEOUT` for a removal, then
:data:`~devenv.envs.container.NETWORK_FREE_TIMEOUT` per network.
"""

from __future__ import annotations

import contextlib
import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

REMOVE_TIMEOUT = 20.0


def now(this: str, stopped: list[tuple[str, str]],
        networks: list[dict[str, Any]] | None = None) -> None:
    """Remove the networks of the ``stopped`` containers (``(id, name)``, removed already)
    and this installation's unused ones. ``networks``: every network of this installation,
    inspected (listed again when ``None``)."""
    from devenv.engine import docker
    from devenv.envs import container

    names = [name for _, name in stopped]
    docker.concurrently(
        *(lambda n=n: container.discard_network(n, this, listed=networks) for n in names),
        lambda: container.sweep_networks(this, networks,
                                         skip={container.network_name(n) for n in names}))


def later(this: str, stopped: list[tuple[str, str]]) -> None:
    """:func:`main` in a detached process (its own session, no terminal, output discarded):
    best effort, as a leftover is swept by the next stop and by ``devenv gc``. Python runs
    isolated (``-I``: neither the current directory -- often a project, which the
    environment can write -- nor ``PYTHON*`` variables decide what it imports) and imports
    devenv from where this process did."""
    import devenv
    from devenv import proc

    root = os.path.dirname(os.path.dirname(os.path.abspath(devenv.__file__)))
    argv = [sys.executable, "-I", "-c", _MAIN, root, this,
            *(i for i, _ in stopped if i)]
    with contextlib.suppress(OSError):  # nothing to tidy is worth failing a stop over
        proc.spawn(argv, quiet=True, detach=True)


_MAIN = ("import os, sys; os.chdir('/'); sys.path.insert(0, sys.argv.pop(1)); "
         "from devenv.envs.tidy import main; sys.exit(main(sys.argv[1:]))")


def await_removal(container_id: str) -> None:
    """Wait until ``--rm`` removed the stopped container (by id: a new environment started
    meanwhile under the same name is not ours to remove); remove it after
    :data:`REMOVE_TIMEOUT`."""
    import time

    from devenv.engine import docker

    deadline = time.monotonic() + REMOVE_TIMEOUT
    while docker.container(container_id) is not None:
        if time.monotonic() > deadline:
            docker.remove(container_id)
            return
        time.sleep(0.02)


def main(argv: list[str]) -> int:
    """``python -m devenv.envs.tidy INSTANCE [CONTAINER_ID...]``: wait for the containers
    to be removed, then remove this installation's unused networks (what :func:`later`
    runs)."""
    from devenv.engine import docker
    from devenv.envs import container
    from devenv.errors import DevenvError

    this, *ids = argv
    with contextlib.suppress(DevenvError):
        docker.concurrently(*(lambda i=i: await_removal(i) for i in ids))
        container.sweep_networks(this)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
