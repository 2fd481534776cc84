"""Reading files that a container can write (the project directory), without being steered.

An agent in an environment can replace any file of the project with a symbolic link to a host
file it cannot read itself (``.devenv/tools/x/secret -> ~/.ssh/id_ed25519``); a recipe that
``COPY``s it would then carry the host file into the image. So devenv opens project files one
path component at a time relative to the project, refuses every link on the way
(``O_NOFOLLOW``), and checks what it opened (docs/security.md).
"""

from __future__ import annotations

import errno
import os
import stat

from devenv.errors import ConfigError

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


class LinkRefused(ConfigError):
    """A project file devenv reads is (or lies behind) a symbolic link."""


class TooLarge(ConfigError):
    """A project file devenv reads is larger than the caller allows."""


def _refuse(path: str) -> LinkRefused:
    return LinkRefused(f"{path} is a symbolic link or not a plain file; devenv reads the "
                       "project's own files without following links",
                       "replace the link with the file itself")


def _open_parent(root: str, rel: str) -> tuple[int, str]:
    """A descriptor of ``rel``'s directory under ``root`` (no link followed) and its last
    component."""
    parts = [p for p in rel.split("/") if p not in ("", ".")]
    if not parts or ".." in parts:
        raise ConfigError(f"{rel!r} is not a path inside {root}")
    fd = os.open(root, _DIR_FLAGS)
    for part in parts[:-1]:
        try:
            next_fd = os.open(part, _DIR_FLAGS, dir_fd=fd)
        except OSError as e:
            os.close(fd)
            if e.errno in (errno.ELOOP, errno.ENOTDIR):  # a link, or a file on the way
                raise _refuse(os.path.join(root, *parts)) from None
            raise
        os.close(fd)
        fd = next_fd
    return fd, parts[-1]


def read_beneath(root: str, rel: str, *, limit: int = 64 << 20) -> bytes | None:
    """The bytes of the regular file ``root/rel`` (``None`` when it is missing), read
    without following a link anywhere below ``root``; at most ``limit`` bytes."""
    try:
        parent, name = _open_parent(root, rel)
    except FileNotFoundError:
        return None
    try:
        fd = os.open(name, _FILE_FLAGS, dir_fd=parent)
    except FileNotFoundError:
        return None
    except OSError as e:
        if e.errno == errno.ELOOP:  # the file itself is a link
            raise _refuse(os.path.join(root, rel)) from None
        raise
    finally:
        os.close(parent)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise _refuse(os.path.join(root, rel))
        # The size is checked before and while reading: the file may grow in between (the
        # agent can append to it), and the read must stay bounded either way.
        chunks = []
        left = limit + 1
        while st.st_size <= limit and left > 0 and (data := os.read(fd, min(left, 1 << 20))):
            chunks.append(data)
            left -= len(data)
        if st.st_size > limit or left <= 0:
            raise TooLarge(f"{os.path.join(root, rel)} is larger than {_size(limit)}",
                           "devenv reads only small config and recipe files")
        return b"".join(chunks)
    finally:
        os.close(fd)


def _size(limit: int) -> str:
    return f"{limit >> 20} MiB" if limit >= 1 << 20 else f"{limit >> 10} KiB"


def no_links_beneath(root: str, rel: str) -> None:
    """Refuse when ``root/rel`` or any directory on the way below ``root`` is a link."""
    try:
        parent, name = _open_parent(root, rel)
    except FileNotFoundError:
        return
    try:
        st = os.stat(name, dir_fd=parent, follow_symlinks=False)
    except FileNotFoundError:
        return
    finally:
        os.close(parent)
    if stat.S_ISLNK(st.st_mode):
        raise _refuse(os.path.join(root, rel))
