"""The compile cache's errors."""

from __future__ import annotations

__all__ = ["CacheError", "CacheIntegrityError", "CacheSecurityError"]


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
