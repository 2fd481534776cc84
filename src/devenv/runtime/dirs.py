"""Where the runtime library keeps its own things, and how it keeps them private.

:class:`RuntimeDirs` names them: ControlMaster sockets, cross-process locks, local
background output, git worktrees and the SSH health records. The caller chooses them (devenv
passes its own, under ``DEVENV_HOME``); :meth:`RuntimeDirs.default` is for library users
who do not care: ``$XDG_RUNTIME_DIR/devenv-runtime``, else ``/tmp/devenv-runtime-<uid>``.

Every such directory is created 0700 and verified before use
(:func:`.private.private_dir`): one that another user owns or can write to, or a link,
raises :class:`UnsafeDirectory` and is never used.
"""

from __future__ import annotations

import os

from devenv.runtime.health import FileHealth, HealthStore
from devenv.runtime.private import user_runtime_dir

# Longest control directory: a unix socket path has 107 bytes; ssh adds ".<16 hex>" while it
# creates one, and the socket names are at most "/h<12 hex>-<n>".
MAX_CONTROL_DIR = 72


def _runtime_base() -> str:
    """The library's own base, verified before anything is made in it (a planted link or a
    directory of another user is refused, never used)."""
    return user_runtime_dir("devenv-runtime")


class RuntimeDirs:
    """The runtime library's places (see the module docstring). Each is created and
    verified when a runtime first needs it, not here.

    :param control_dir: ControlMaster sockets (keep it short: a socket path has ~100 bytes).
    :param lock_dir: cross-process locks (one probe per target at a time, worktree set-up).
    :param background_dir: output of local background processes.
    :param worktree_dir: where :class:`~devenv.runtime.WorktreeRuntime` puts worktrees.
    :param health: the SSH health store shared by processes (default: files in
        ``<lock_dir>/../health``, see :class:`~devenv.runtime.health.FileHealth`).
    """

    def __init__(self, control_dir: str, lock_dir: str, background_dir: str,
                 worktree_dir: str, health: HealthStore | None = None) -> None:
        self.control_dir = control_dir
        self.lock_dir = lock_dir
        self.background_dir = background_dir
        self.worktree_dir = worktree_dir
        if health is None:
            health = FileHealth(os.path.join(os.path.dirname(lock_dir), "health"), lock_dir)
        self.health = health

    @classmethod
    def under(cls, root: str) -> RuntimeDirs:
        """Everything in one directory of the caller's choosing (the sockets in
        ``<root>/cm``, or, when that path is too long for a socket, in a directory named
        after it in the library's own verified base, see :meth:`default`)."""
        root = os.path.abspath(root)
        control = os.path.join(root, "cm")
        if len(control) > MAX_CONTROL_DIR:
            import hashlib

            digest = hashlib.sha256(root.encode()).hexdigest()[:12]
            control = os.path.join(_runtime_base(), f"cm-{digest}")
        return cls(control, os.path.join(root, "locks"), os.path.join(root, "bg"),
                   os.path.join(root, "worktrees"))

    @classmethod
    def default(cls) -> RuntimeDirs:
        """``$DEVENV_RUNTIME_DIR`` when set, else ``$XDG_RUNTIME_DIR/devenv-runtime``, else
        ``/tmp/devenv-runtime-<uid>``."""
        chosen = os.environ.get("DEVENV_RUNTIME_DIR", "")
        if chosen:
            return cls.under(chosen)
        if os.path.isabs(os.environ.get("XDG_RUNTIME_DIR", "")):
            return cls.under(os.path.join(_runtime_base(), "devenv-runtime"))
        return cls.under(_runtime_base())

    def __repr__(self) -> str:
        return f"RuntimeDirs(control_dir={self.control_dir!r}, lock_dir={self.lock_dir!r})"
