"""The compile cache's errors."""

from __future__ import annotations

__all__ = [
    "CacheError",
    "CacheIntegrityError",
    "CacheSecurityError",
    "CacheSignatureError",
    "CacheStorageError",
]


class CacheError(Exception):
    """Base class of the cache's errors."""


class CacheSecurityError(CacheError):
    """An entry is not owned by the current user, is writable by others, or is a symlink."""


class CacheIntegrityError(CacheError):
    """An entry is incomplete or corrupted (missing, truncated or altered file or manifest)."""

    def __init__(self, message: str, identity: tuple[int, int] | None = None):
        super().__init__(message)
        #: (st_dev, st_ino) of the rank folder that was read, to move exactly it aside.
        self.identity = identity


class CacheSignatureError(CacheIntegrityError):
    """An entry is not signed, or not signed with the current user's key (forged or foreign)."""


class CacheStorageError(CacheError, OSError):
    """The cache's storage failed: a folder or lock cannot be created, a lock not taken in
    time, a write failed (no space, read-only file system, ...). Costs the cache, never the
    call: ``cache_compile`` compiles in memory instead.

    Args:
        message: what failed, naming the path and the reason.
        errno: the underlying ``OSError``'s errno, if any.
    """

    def __init__(self, message: str, errno: int | None = None):
        super().__init__(errno, message)

    def __str__(self) -> str:
        return str(self.strerror)
