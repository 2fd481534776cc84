"""One ``Include`` line at the top of ``~/.ssh/config``, so every SSH client (ssh, git,
rsync, scp, sftp, editors) reaches ``devenv-<name>`` hosts.

Installing never alters the user's own content: the line is added once at the top, the
previous file is kept as ``config.devenv-backup``, and the write is atomic with the file's
mode kept (0600 for a new file). Uninstalling removes exactly that line. A file ssh cannot
parse, or one devenv cannot write, is an error and nothing changes.
"""

from __future__ import annotations

import os
from pathlib import Path

from devenv import proc
from devenv.errors import DevenvError
from devenv.lockfile import atomic_write, locked
from devenv.runtime import wire

# ssh_config has no trailing comments, so the explanation is a line of its own above.
COMMENT = ("# Added by devenv: lets ssh, git, rsync... reach devenv-<name> "
           "(devenv ssh-config --uninstall)")


def user_config() -> Path:
    """The file ssh reads: OpenSSH takes the home directory from the password database,
    not from ``$HOME``, and so does devenv here."""
    import pwd

    return Path(pwd.getpwuid(os.getuid()).pw_dir) / ".ssh" / "config"


def line_for(devenv_config: Path) -> str:
    return f'Include "{devenv_config}"'


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as e:
        raise DevenvError(f"cannot read {path}: {e.strerror}",
                          "fix its permissions; nothing was changed") from None


def _check_parses(path: Path) -> None:
    result = proc.run(wire.ssh_argv(["-G", "-F", str(path)], "devenv-parse-check"), timeout=30,
                      check=False)
    if result.returncode != 0:
        detail = (result.stderr.strip().splitlines() or ["ssh -G failed"])[-1]
        raise DevenvError(f"{path} is not a valid ssh config: {detail}",
                          "fix it first; nothing was changed")


def _write(path: Path, data: bytes, old: bytes | None) -> None:
    mode = path.stat().st_mode & 0o777 if old is not None else 0o600
    # The mode, not just access(): root could write anyway, but the user said read-only.
    if old is not None and (not os.access(path, os.W_OK) or not mode & 0o200):
        raise DevenvError(f"{path} is read-only", "make it writable; nothing was changed")
    try:
        if old is not None:
            atomic_write(path.with_name(path.name + ".devenv-backup"), old, 0o600)
        atomic_write(path, data, mode)
    except OSError as e:
        raise DevenvError(f"cannot write {path}: {e.strerror}",
                          "fix its permissions; nothing was changed") from None


def install(devenv_config: Path) -> bool:
    """Add the Include line; return whether the file changed."""
    with locked("ssh-user-config", timeout=30, what="editing ~/.ssh/config", machine=True):
        return _install(devenv_config)


def uninstall(devenv_config: Path) -> bool:
    """Remove exactly the Include line; return whether the file changed."""
    with locked("ssh-user-config", timeout=30, what="editing ~/.ssh/config", machine=True):
        return _uninstall(devenv_config)


def _install(devenv_config: Path) -> bool:
    path = user_config()
    old = _read(path)
    line = line_for(devenv_config)
    if old is not None:
        if line.encode() in old.splitlines():
            return False
        _check_parses(path)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    _write(path, f"{COMMENT}\n{line}\n".encode() + (old or b""), old)
    return True


def _uninstall(devenv_config: Path) -> bool:
    path = user_config()
    old = _read(path)
    line = line_for(devenv_config).encode()
    if old is None or line not in old.splitlines():
        return False
    lines = old.splitlines(keepends=True)
    kept = []
    for i, raw in enumerate(lines):
        text = raw.rstrip(b"\r\n")
        following = lines[i + 1].rstrip(b"\r\n") if i + 1 < len(lines) else b""
        if text == line or (text == COMMENT.encode() and following == line):
            continue
        kept.append(raw)
    _write(path, b"".join(kept), old)
    return True
