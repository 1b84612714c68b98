"""Where an entry's pieces live under a cache root, and which paths are entries at all.

Layout::

    <root>/<ModelClass>_<method>_<key prefix>/      entry folder, one per key
        rank_0/                                   one per rank (see rank_folder)
            manifest.json, manifest.sig           what the entry holds, signed
            graph.pb, gears.json, ...             the artifacts, raw bytes
            .uses                                 one byte per load from disk (not signed)
        rank_0.lock                               the rank folder's file lock

Everything here is names and checks on them; nothing touches the disk except
:func:`list_rank_folders`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from airgraph_cache.manifest import MANIFEST_NAME

__all__ = [
    "USES_NAME",
    "check_entry_path",
    "entry_location",
    "list_rank_folders",
    "lock_path",
    "rank_folder",
]

#: File inside a rank folder counting its loads: its size is the number of hits, its
#: mtime the last use. Hidden, so no artifact can have its name; not in the manifest.
USES_NAME = ".uses"


def _check_rank(name: str, value: Any, *, optional: bool) -> int | None:
    if value is None and optional:
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        expected = "an int >= 0 or None" if optional else "an int >= 0"
        raise TypeError(f"{name}: expected {expected}, got {value!r} ({type(value).__name__})")
    if value < 0:
        raise ValueError(f"{name}: expected an int >= 0, got {value}")
    return value


def rank_folder(
    global_rank: int | None = None, tp_rank: int | None = None, pp_rank: int | None = None
) -> str:
    """Name of the per-rank folder inside an entry: ``rank_<g>[_tp<t>][_pp<p>]``.

    Args:
        global_rank: the process's global rank; None means not distributed
            (rank 0).
        tp_rank: tensor-parallel rank, or None to leave it out of the name.
        pp_rank: pipeline-parallel rank, or None to leave it out of the name.

    Returns:
        The folder name, e.g. ``rank_0``, ``rank_3_tp1_pp0``.

    Raises:
        TypeError: a rank is not an int (bools are refused) or None.
        ValueError: a rank is negative.

    Examples:
        >>> rank_folder(3, tp_rank=1, pp_rank=0)
        'rank_3_tp1_pp0'
    """
    g = _check_rank("global_rank", global_rank, optional=True)
    t = _check_rank("tp_rank", tp_rank, optional=True)
    p = _check_rank("pp_rank", pp_rank, optional=True)
    name = f"rank_{0 if g is None else g}"
    if t is not None:
        name += f"_tp{t}"
    if p is not None:
        name += f"_pp{p}"
    return name


def check_entry_path(root: Path, entry_dir: Any) -> Path:
    """``entry_dir`` as an absolute path, if it is ``<root>/<entry>/<rank folder>``.

    Raises:
        TypeError: ``entry_dir`` is not a path.
        ValueError: it is not two levels under ``root``, or its name is hidden.
    """
    if not isinstance(entry_dir, (str, os.PathLike)):
        raise TypeError(f"entry_dir: expected a path, got {type(entry_dir).__name__}")
    path = Path(os.path.abspath(os.fspath(entry_dir)))
    if path.parent.parent != root or path.name.startswith("."):
        raise ValueError(
            f"entry_dir: got {str(path)!r}, expected <root>/<entry>/<rank folder> "
            f"under {str(root)!r}"
        )
    return path


def entry_location(path: Path) -> str:
    """A rank folder's place in the cache as signed: ``<entry folder>/<rank folder>``.

    The root is left out, so a cache (or an exported entry) keeps its signatures
    wherever it is moved.
    """
    return f"{path.parent.name}/{path.name}"


def lock_path(path: Path) -> Path:
    """The lock file of a rank folder: ``<entry folder>/<rank folder>.lock``."""
    return path.parent / f"{path.name}.lock"


def list_rank_folders(root: Path) -> list[Path]:
    """Every published rank folder under ``root``, sorted (see ``ArtifactStore.entries``)."""
    if not root.is_dir():
        return []
    found = []
    for entry in sorted(root.iterdir()):
        if entry.name.startswith(".") or entry.is_symlink() or not entry.is_dir():
            continue
        for rank in sorted(entry.iterdir()):
            if (
                rank.name.startswith("rank_")
                and not rank.is_symlink()
                and rank.is_dir()
                and (rank / MANIFEST_NAME).exists()
            ):
                found.append(rank)
    return found
