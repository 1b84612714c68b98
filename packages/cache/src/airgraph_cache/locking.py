"""Rank-folder locks with a bounded wait, and storage failures reported as one error type.

One writer at a time per rank folder: an exclusive ``filelock`` on
``<rank folder>.lock``, reentrant in one process (so a caller can hold it
across "load, else compile and publish" and the publish inside re-enters).
The wait is bounded (``lock_timeout``, default ``$AIRGRAPH_CACHE_LOCK_TIMEOUT``
or 10 s): the holder may be a stopped process, and a cache must cost a start
seconds, never minutes. Whatever the disk does while locking, the caller sees
a :class:`~airgraph_cache.errors.CacheStorageError` naming the path and the
reason.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import filelock

from airgraph_cache.errors import CacheStorageError

__all__ = [
    "DEFAULT_LOCK_TIMEOUT",
    "LOCK_TIMEOUT_ENV",
    "check_lock_timeout",
    "default_lock_timeout",
    "held",
    "storage_error",
]

#: Environment variable setting the default lock wait, in seconds.
LOCK_TIMEOUT_ENV = "AIRGRAPH_CACHE_LOCK_TIMEOUT"
#: Default lock wait: long enough for a publish, short enough that a stopped
#: lock holder costs a start seconds, not minutes.
DEFAULT_LOCK_TIMEOUT = 10.0


def default_lock_timeout() -> float:
    """``$AIRGRAPH_CACHE_LOCK_TIMEOUT`` in seconds, else :data:`DEFAULT_LOCK_TIMEOUT`.

    Raises:
        ValueError: the variable is set but not a number of seconds >= 0.
    """
    text = os.environ.get(LOCK_TIMEOUT_ENV)
    if not text:
        return DEFAULT_LOCK_TIMEOUT
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value < float("inf"):
        raise ValueError(f"${LOCK_TIMEOUT_ENV}: got {text!r}, expected a number of seconds >= 0")
    return value


def check_lock_timeout(lock_timeout: object) -> float:
    """``lock_timeout`` in seconds as a float; None means :func:`default_lock_timeout`.

    Raises:
        TypeError: not a number (bools are refused).
        ValueError: negative, or ``$AIRGRAPH_CACHE_LOCK_TIMEOUT`` is not a number >= 0.
    """
    if lock_timeout is None:
        lock_timeout = default_lock_timeout()
    if not isinstance(lock_timeout, (int, float)) or isinstance(lock_timeout, bool):
        raise TypeError(
            f"lock_timeout: expected seconds as a number, got {type(lock_timeout).__name__}"
        )
    if lock_timeout < 0:
        raise ValueError(f"lock_timeout: expected seconds >= 0, got {lock_timeout}")
    return float(lock_timeout)


def _reason(error: BaseException) -> str:
    if isinstance(error, filelock.Timeout):
        return "lock not acquired in time (held by another process, maybe stopped)"
    if isinstance(error, OSError) and error.errno:
        return os.strerror(error.errno)
    return str(error) or type(error).__name__


def storage_error(what: str, path: Path, error: BaseException) -> CacheStorageError:
    """A :class:`CacheStorageError` saying ``<what> <path>: <reason>`` for ``error``."""
    code = error.errno if isinstance(error, OSError) else None
    where = getattr(error, "filename", None) or path
    return CacheStorageError(f"{what} {where}: {_reason(error)}", code)


@contextlib.contextmanager
def held(lock_file: Path, timeout: float) -> Iterator[None]:
    """Hold the exclusive, reentrant file lock ``lock_file`` (created 0600 if missing).

    Raises:
        CacheStorageError: the lock file cannot be opened (a symlink, read-only,
            no space...) or the lock was not acquired within ``timeout`` seconds.
    """
    try:
        # is_singleton: one lock object per path in this process, so nested use
        # (lock() around publish()) re-enters instead of deadlocking. Its
        # constructor arguments must never vary, hence the timeout at acquire.
        file_lock = filelock.FileLock(lock_file, mode=0o600, is_singleton=True)
        file_lock.acquire(timeout=timeout)
    except (OSError, filelock.Timeout) as error:
        raise storage_error("cannot lock", lock_file, error) from None
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            file_lock.release()
