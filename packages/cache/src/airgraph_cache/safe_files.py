"""File access that trusts nothing on disk: owner and mode checks, no symlinks, fsync.

Everything the store reads goes through :func:`read_file` / :func:`open_dir`,
which open relative to an already checked folder descriptor (so a folder
renamed or swapped mid-read cannot redirect the reads), refuse symlinks,
FIFOs and other special files, and check owner and mode on the descriptor
actually opened. Everything it writes goes through :func:`write_file`
(0600, exclusive create, fsync).
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from airgraph_cache.errors import CacheIntegrityError, CacheSecurityError

__all__ = ["check_safe", "current_uid", "fsync_dir", "open_dir", "read_file", "write_file"]

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
# O_NONBLOCK: opening a FIFO planted in an entry must not hang the loader.
_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
_WRITE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


def current_uid() -> int:
    """The effective uid that must own every cache file (a seam for tests without root)."""
    return os.geteuid()


def check_safe(st: os.stat_result, path: Path | str, *, kind: str) -> None:
    """Raise CacheSecurityError unless ``st`` is a real ``kind`` ("file" or "folder") owned by
    the current user and not writable by group or others."""
    if stat.S_ISLNK(st.st_mode):
        raise CacheSecurityError(f"{path}: is a symlink; cache {kind}s must be real")
    is_kind = stat.S_ISDIR(st.st_mode) if kind == "folder" else stat.S_ISREG(st.st_mode)
    if not is_kind:
        raise CacheSecurityError(f"{path}: expected a plain {kind}, found mode {st.st_mode:o}")
    uid = current_uid()
    if st.st_uid != uid:
        raise CacheSecurityError(
            f"{path}: owned by uid {st.st_uid}, not by the current user (uid {uid})"
        )
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise CacheSecurityError(
            f"{path}: writable by group or others (mode {stat.S_IMODE(st.st_mode):04o})"
        )


def open_dir(path: Path, *, name: str | None = None, dir_fd: int | None = None) -> int:
    """Open a folder (``name`` relative to ``dir_fd``, else ``path``) refusing symlinks."""
    target = name if name is not None else str(path)
    try:
        return os.open(target, _DIR_FLAGS, dir_fd=dir_fd)
    except OSError as error:
        # O_NOFOLLOW | O_DIRECTORY on a symlink fails with ENOTDIR or ELOOP.
        if error.errno not in (errno.ENOTDIR, errno.ELOOP):
            raise
        if stat.S_ISLNK(os.stat(target, dir_fd=dir_fd, follow_symlinks=False).st_mode):
            raise CacheSecurityError(f"{path}: is a symlink; cache folders must be real") from None
        raise CacheSecurityError(f"{path}: not a folder") from None


def read_file(dir_fd: int, path: Path, name: str, limit: int) -> tuple[bytes, int]:
    """Read ``name`` (at most ``limit`` + 1 bytes) after the safety checks; return data, st_size."""
    try:
        fd = os.open(name, _READ_FLAGS, dir_fd=dir_fd)
    except FileNotFoundError:
        raise CacheIntegrityError(f"{path / name}: file is missing") from None
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise CacheSecurityError(f"{path / name}: is a symlink") from None
        raise
    try:
        st = os.fstat(fd)
        check_safe(st, path / name, kind="file")
        chunks, remaining = [], limit + 1
        while remaining > 0:
            chunk = os.read(fd, min(remaining, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            remaining -= len(chunk)
        return b"".join(chunks), st.st_size
    finally:
        os.close(fd)


def write_file(dir_fd: int, name: str, data: bytes) -> None:
    """Create ``name`` (0600, must not exist) in ``dir_fd``, write ``data`` and fsync it."""
    fd = os.open(name, _WRITE_FLAGS, 0o600, dir_fd=dir_fd)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def fsync_dir(path: Path) -> None:
    """fsync a folder, so that renames and new files in it are durable."""
    fd = os.open(path, _DIR_FLAGS)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
