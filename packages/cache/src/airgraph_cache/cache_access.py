"""How ``cache_compile`` uses the store: a cache or disk failure costs speed, never a call.

:class:`EntryAccess` wraps an :class:`~airgraph_cache.store.ArtifactStore` for
one cached method. Every storage failure the store reports (a folder or lock
that cannot be created, a lock not free within the bounded wait, a read-only
or full file system, a symlinked lock file, an entry removed mid-publish, an
unusable signing key) turns the cache off for that method in this process,
with one warning naming the path and the reason; the caller then compiles in
memory and returns the right result. Refusals of single entries (unsafe,
damaged, unsigned) are the store's own warnings and stay misses.

:func:`private_extraction_dir` keeps warm starts from leaving anything behind:
torch's AOTInductor package loader extracts every package into a fresh
``$TMPDIR/aotinductor_*`` folder and never removes it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from airgraph_cache.errors import CacheError, CacheSecurityError
from airgraph_cache.store import ArtifactStore

__all__ = ["EntryAccess", "private_extraction_dir"]

log = logging.getLogger("airgraph.cache")

_TMPDIR_LOCK = threading.Lock()


class EntryAccess:
    """The store as one cached method sees it: load, lock, publish, discard, never raising
    for storage failures.

    Args:
        store: the cache's store.
        owner: the method's qualified name, for the warnings.

    Attributes:
        unusable: None while the cache works; else why it was turned off.
    """

    def __init__(self, store: ArtifactStore, owner: str) -> None:
        self.store = store
        self.owner = owner
        self.unusable: str | None = None

    def _turn_off(self, error: BaseException) -> None:
        if self.unusable is None:
            self.unusable = str(error)
            log.warning(
                "cache_compile(%s): compile cache not used (%s); compiling in memory, the "
                "result is unaffected",
                self.owner,
                error,
            )

    def load(self, entry_dir: Path, key_digest: str) -> dict[str, bytes] | None:
        """The entry's verified files, or None (a miss, or the cache is off)."""
        if self.unusable is not None:
            return None
        try:
            return self.store.load(entry_dir, key_digest=key_digest)
        except CacheError as error:
            self._turn_off(error)
            return None

    @contextlib.contextmanager
    def lock(self, entry_dir: Path) -> Iterator[bool]:
        """Hold the entry's lock; yields False (holding nothing) when the cache is off or
        the lock cannot be taken in time."""
        if self.unusable is not None:
            yield False
            return
        stack = contextlib.ExitStack()
        try:
            stack.enter_context(self.store.lock(entry_dir))
        except (CacheError, OSError) as error:
            self._turn_off(error)
            yield False
            return
        with stack:
            yield True

    def publish(
        self, entry_dir: Path, files: Mapping[str, bytes], fields: Mapping[str, Any]
    ) -> bool:
        """Publish the entry; False (warned once) if it was not saved, for whatever reason."""
        if self.unusable is not None:
            return False
        try:
            published = self.store.publish(entry_dir, files, fields)
        except CacheSecurityError as error:
            log.warning("cache_compile(%s): not saved: %s", self.owner, error)
            return False
        except (CacheError, OSError) as error:
            self._turn_off(error)
            return False
        state = "published" if published else "kept the existing entry"
        log.info("cache %s: %s", state, entry_dir)
        return published

    def discard(self, entry_dir: Path) -> None:
        """Move an unusable entry aside so that the next publish rebuilds it."""
        if self.unusable is None:
            self.store.discard(entry_dir)


@contextlib.contextmanager
def private_extraction_dir() -> Iterator[None]:
    """Point ``$TMPDIR`` at a private folder for the duration, then delete the folder.

    AOTInductor's package loader extracts each package under the C++ temp
    folder (``$TMPDIR``) and leaves it there; the loaded libraries stay mapped
    after their files are removed, so the folder can go at once.
    """
    with _TMPDIR_LOCK:
        folder = tempfile.mkdtemp(prefix="airgraph-pt2-")
        previous = os.environ.get("TMPDIR")
        os.environ["TMPDIR"] = folder
        try:
            yield
        finally:
            if previous is None:
                os.environ.pop("TMPDIR", None)
            else:
                os.environ["TMPDIR"] = previous
            shutil.rmtree(folder, ignore_errors=True)
