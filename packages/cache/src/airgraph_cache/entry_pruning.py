"""What each rank folder weighs and when it was last used, and which ones a prune removes.

:func:`describe_ranks` reads sizes and usage records only (nothing is
verified, nothing changes on disk); :func:`select_for_prune` picks the rank
folders a prune removes: every one unused for longer than ``older_than``,
then, least recently used first, more until the rest fits in ``max_bytes``.
"Used" is the last load from disk (:mod:`airgraph_cache.entry_usage`), or
the publish when it was never loaded, so a fresh entry is never the first to
go.
"""

from __future__ import annotations

import os
import stat
import time
from dataclasses import dataclass
from pathlib import Path

from airgraph_cache.entry_paths import USES_NAME
from airgraph_cache.manifest import MANIFEST_NAME
from airgraph_cache.store import ArtifactStore

__all__ = ["RankInfo", "describe_ranks", "select_for_prune"]


@dataclass(frozen=True)
class RankInfo:
    """One rank folder as ``airgraph cache ls`` / ``prune`` see it.

    Attributes:
        path: the rank folder.
        size: bytes of its files (the usage record left out).
        hits: loads from disk recorded.
        last_used: POSIX time of the last recorded load, else of the publish.
        loaded: True if at least one load was recorded.
    """

    path: Path
    size: int
    hits: int
    last_used: float
    loaded: bool


def describe_ranks(store: ArtifactStore) -> list[RankInfo]:
    """Size and usage of every rank folder of ``store`` (see :meth:`ArtifactStore.entries`)."""
    infos = []
    for rank in store.entries():
        size, published = 0, 0.0
        try:
            with os.scandir(rank) as children:
                for child in children:
                    st = child.stat(follow_symlinks=False)
                    if child.name != USES_NAME and stat.S_ISREG(st.st_mode):
                        size += st.st_size
                    if child.name == MANIFEST_NAME:
                        published = st.st_mtime
        except OSError:
            continue  # removed meanwhile, or unreadable: nothing to weigh
        usage = store.usage(rank)
        last = usage.last_used if usage.last_used is not None else published
        infos.append(RankInfo(rank, size, usage.hits, last, usage.last_used is not None))
    return infos


def select_for_prune(
    ranks: list[RankInfo],
    *,
    older_than: float | None = None,
    max_bytes: int | None = None,
    now: float | None = None,
) -> list[RankInfo]:
    """The rank folders a prune removes, least recently used first.

    Args:
        ranks: from :func:`describe_ranks`.
        older_than: seconds; remove every rank folder not used for longer.
        max_bytes: then remove the least recently used until the rest takes
            at most this many bytes.
        now: the current POSIX time (default ``time.time()``).

    Returns:
        The rank folders to remove (a subset of ``ranks``).

    Raises:
        ValueError: neither limit given, or one is negative.
    """
    if older_than is None and max_bytes is None:
        raise ValueError("give older_than, max_bytes or both")
    if (older_than is not None and older_than < 0) or (max_bytes is not None and max_bytes < 0):
        raise ValueError(
            f"expected limits >= 0, got older_than={older_than}, max_bytes={max_bytes}"
        )
    now = time.time() if now is None else now
    by_use = sorted(ranks, key=lambda r: (r.last_used, str(r.path)))
    chosen = [r for r in by_use if older_than is not None and now - r.last_used > older_than]
    if max_bytes is not None:
        kept = [r for r in by_use if r not in chosen]
        total = sum(r.size for r in kept)
        for rank in kept:
            if total <= max_bytes:
                break
            chosen.append(rank)
            total -= rank.size
    return sorted(chosen, key=lambda r: (r.last_used, str(r.path)))
