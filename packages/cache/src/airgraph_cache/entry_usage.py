"""Last use and hit count of each rank folder, recorded at load time for ``cache ls`` / ``prune``.

Each load from disk appends one byte to ``<rank folder>/.uses`` (opened
``O_APPEND``, so concurrent processes never lose or tear a count): the file's
size is the number of hits and its mtime the last use. Recording costs one
open, one write and one close per load (never per call), and is best effort:
a read-only cache, a full disk or anything else odd means the hit is not
counted, never an error or a warning. The file is not part of the signed
entry (it changes at every load); a ``.uses`` file that is not a plain file
of the current user is never written to.
"""

from __future__ import annotations

import logging
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from airgraph_cache import safe_files
from airgraph_cache.entry_paths import USES_NAME

__all__ = ["EntryUsage", "read_usage", "record_use"]

log = logging.getLogger("airgraph.cache")

_FLAGS = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
# Past this many hits the count stops growing (the file stays small); the last use still moves.
MAX_COUNTED_HITS = 1 << 20


@dataclass(frozen=True)
class EntryUsage:
    """How a rank folder has been used.

    Attributes:
        hits: loads from disk recorded so far (at most ``MAX_COUNTED_HITS``).
        last_used: POSIX time of the last recorded load, or None if never loaded.
    """

    hits: int
    last_used: float | None


def record_use(rank_dir: Path) -> None:
    """Count one load of ``rank_dir``; any failure is ignored (logged at debug level)."""
    try:
        fd = os.open(rank_dir / USES_NAME, _FLAGS, 0o600)
    except OSError as error:
        log.debug("compile cache: use of %s not recorded: %s", rank_dir, error)
        return
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_uid != safe_files.current_uid():
            return
        if st.st_size < MAX_COUNTED_HITS:
            os.write(fd, b"+")
        else:
            os.utime(fd)
    except OSError as error:
        log.debug("compile cache: use of %s not recorded: %s", rank_dir, error)
    finally:
        os.close(fd)


def read_usage(rank_dir: Path) -> EntryUsage:
    """The recorded hits and last use of ``rank_dir`` (0 and None when never loaded)."""
    try:
        st = os.lstat(rank_dir / USES_NAME)
    except OSError:
        return EntryUsage(0, None)
    if not stat.S_ISREG(st.st_mode):
        return EntryUsage(0, None)
    return EntryUsage(min(st.st_size, MAX_COUNTED_HITS), st.st_mtime)
