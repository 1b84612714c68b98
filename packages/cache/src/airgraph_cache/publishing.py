"""Writing an entry: a private temporary folder beside the rank folder, renamed into place.

A writer (holding the rank folder's lock) fills ``.<rank>.tmp-<random>``
(0700, files 0600, created exclusively, each fsynced), writes the signature
and then the manifest last, fsyncs the folder, and renames it onto the rank
folder's name; then fsyncs the entry folder. A reader therefore sees no
folder or a complete one, never a partial one, without taking any lock. On
any failure the temporary folder is removed, so nothing partial is left.
Removal is the same in reverse: rename aside to ``.<rank>.trash-<random>``,
then delete, so no reader sees a half-deleted folder.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from airgraph_cache import locking, safe_files, signing
from airgraph_cache.errors import CacheIntegrityError, CacheSecurityError, CacheStorageError
from airgraph_cache.manifest import MANIFEST_NAME, check_file_name

__all__ = [
    "check_files",
    "move_aside_and_delete",
    "publish_locked",
    "remove_entry_folder_if_empty",
    "remove_rank_folder",
    "remove_stale_temporaries",
    "write_and_rename",
]

log = logging.getLogger("airgraph.cache")


def check_files(files: Any) -> dict[str, bytes]:
    """``files`` as a new ``{name: bytes}`` dict, every name a plain artifact file name.

    Raises:
        TypeError: not a mapping of str to bytes-like values.
        ValueError: a name that is not a plain artifact file name.
    """
    if not isinstance(files, Mapping):
        raise TypeError(f"files: expected a mapping name -> bytes, got {type(files).__name__}")
    blobs = {}
    for name, data in files.items():
        check_file_name(name)
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"files[{name!r}]: expected bytes, got {type(data).__name__}")
        blobs[name] = bytes(data)
    return blobs


def remove_stale_temporaries(path: Path) -> None:
    """Remove this rank folder's leftover temporary and trash folders (call under its lock).

    Under the lock no live writer of this rank folder exists, so any of its
    temporary folders is left over from a crashed process. Folders that are not
    ours are left alone.
    """
    prefixes = (f".{path.name}.tmp-", f".{path.name}.trash-")
    for leftover in path.parent.iterdir():
        if leftover.name.startswith(prefixes):
            try:
                safe_files.check_safe(os.lstat(leftover), leftover, kind="folder")
            except CacheSecurityError:
                continue
            shutil.rmtree(leftover, ignore_errors=True)


def write_and_rename(
    path: Path, blobs: Mapping[str, bytes], manifest: bytes, signature: bytes
) -> None:
    """Write ``blobs``, the signature and the manifest into a temporary folder, rename it to
    ``path`` (which must not exist) and fsync the parent.

    Raises:
        OSError: a write, fsync or the rename failed; the temporary folder is gone.
    """
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.tmp-", dir=path.parent))
    try:
        tmp_fd = safe_files.open_dir(tmp)
        try:
            for name, data in blobs.items():
                safe_files.write_file(tmp_fd, name, data)
            safe_files.write_file(tmp_fd, signing.SIGNATURE_NAME, signature)
            # The manifest last: its presence marks a complete folder even
            # for a reader that bypasses the rename (e.g. a crash dump).
            safe_files.write_file(tmp_fd, MANIFEST_NAME, manifest)
            os.fsync(tmp_fd)
        finally:
            os.close(tmp_fd)
        os.rename(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    safe_files.fsync_dir(path.parent)


def publish_locked(
    path: Path,
    blobs: Mapping[str, bytes],
    manifest: bytes,
    signature: bytes,
    wanted_digest: Any,
    *,
    read: Callable[[Path], Any],
    discard: Callable[[Path, tuple[int, int] | None], bool],
) -> bool:
    """First writer wins, under the rank folder's lock (the caller holds it).

    A verified entry already at ``path`` (with ``wanted_digest`` as its
    ``key_digest``, any digest when None) is kept and False returned; a damaged
    one or one of another digest is discarded; then the entry is written.

    Args:
        path: the rank folder.
        blobs: the artifacts, names already checked.
        manifest: the manifest's bytes; ``signature`` its signature.
        wanted_digest: the key digest the manifest records, or None.
        read: the store's verified read (``ArtifactStore.read``).
        discard: the store's ``discard(path, identity)``.

    Returns:
        True if written, False if an existing entry was kept.

    Raises:
        CacheSecurityError: what is at ``path`` is not ours (from ``read``).
        OSError: a write failed (nothing partial is left).
    """
    if os.path.lexists(path):
        try:
            existing = read(path)
        except CacheIntegrityError as error:
            log.warning("compile cache: %s; replacing the entry", error)
            discard(path, error.identity)
        else:
            if existing is not None and (
                wanted_digest is None or existing.manifest.get("key_digest") == wanted_digest
            ):
                log.debug("compile cache: %s already published; keeping it", path)
                return False
            if existing is not None:
                log.warning("compile cache: %s holds another key digest; replacing it", path)
                discard(path, existing.identity)
    remove_stale_temporaries(path)
    write_and_rename(path, blobs, manifest, signature)
    log.debug("compile cache: published %s (%d files)", path, len(blobs))
    return True


def move_aside_and_delete(path: Path) -> None:
    """Rename a rank folder aside (atomic), then delete it."""
    trash = path.parent / f".{path.name}.trash-{uuid.uuid4().hex}"
    os.rename(path, trash)
    shutil.rmtree(trash, ignore_errors=True)


def remove_entry_folder_if_empty(entry_folder: Path) -> None:
    """Remove an entry folder that holds only lock files none of which is held (best effort).

    A held lock means a process is compiling into this entry: the folder stays.
    """
    try:
        names = os.listdir(entry_folder)
        if any(not name.endswith(".lock") for name in names):
            return
        with contextlib.ExitStack() as held:
            for name in names:
                # Taken without waiting, then unlinked while held: a busy lock keeps the folder.
                held.enter_context(locking.held(entry_folder / name, 0.0))
            for name in names:
                os.unlink(entry_folder / name)
            os.rmdir(entry_folder)
    except OSError as error:
        log.debug("compile cache: left %s in place: %s", entry_folder, error)


def remove_rank_folder(
    path: Path, lock: Callable[[Path], contextlib.AbstractContextManager[Any]]
) -> bool:
    """Delete a rank folder under its lock, then its entry folder if empty (``ArtifactStore.remove``).

    Args:
        path: a checked rank folder.
        lock: takes the rank folder's lock (``ArtifactStore.lock``).

    Returns:
        True if it was removed, False if it did not exist.

    Raises:
        CacheSecurityError: the rank folder is not a private folder of the current user.
        CacheStorageError: it could not be locked or removed.
    """
    if not os.path.lexists(path):
        return False
    try:
        with lock(path):
            try:
                st = os.lstat(path)
            except FileNotFoundError:
                return False
            safe_files.check_safe(st, path, kind="folder")
            move_aside_and_delete(path)
    except OSError as error:
        if isinstance(error, CacheStorageError):
            raise
        raise locking.storage_error("cannot remove", path, error) from None
    remove_entry_folder_if_empty(path.parent)
    return True
