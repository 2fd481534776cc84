"""devenv's SSH keys: one client key per installation, one host key per project.

Both are ed25519 and made by the system ``ssh-keygen``. The client key lives in devenv's ssh
dir; host keys live in the state database and are written into each environment's key
directory (mounted read-only into the container) at every start.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from devenv import proc
from devenv.lockfile import locked
from devenv.paths import private_dir, ssh_dir


def client_key() -> Path:
    """Path of devenv's private client key, generated on first use."""
    key = ssh_dir() / "id_ed25519"
    if key.exists() and key.with_suffix(".pub").exists():
        return key
    with locked("client-key", timeout=30, what="creating the SSH client key"):
        if not (key.exists() and key.with_suffix(".pub").exists()):
            private_dir(key.parent)
            private, public = generate("devenv-client")
            # Public half first: a reader that sees the private key also sees its pair.
            _write(key.with_suffix(".pub"), public, 0o644)
            _write(key, private, 0o600)
    return key


def client_public_key() -> str:
    return client_key().with_suffix(".pub").read_text().strip()


def generate(comment: str) -> tuple[str, str]:
    """A new ed25519 key pair as (private, public) OpenSSH text."""
    with tempfile.TemporaryDirectory(prefix="devenv-key-") as tmp:
        path = os.path.join(tmp, "key")
        proc.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", path],
                 timeout=30)
        with open(path) as f:
            private = f.read()
        with open(path + ".pub") as f:
            public = f.read().strip()
    return private, public


def _write(path: Path, text: str, mode: int) -> None:
    from devenv.lockfile import atomic_write

    atomic_write(path, text if text.endswith("\n") else text + "\n", mode)
