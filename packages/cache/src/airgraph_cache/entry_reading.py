"""Reading an entry: safety first, then the signature, then the manifest, then each file.

The order is the point. Before anything of an entry is parsed, every folder
and file present must be the current user's, private and real (no symlink,
no FIFO); then ``manifest.sig`` must be an HMAC of the manifest's exact bytes
with the user's key; only then is the manifest parsed (strict JSON) and
every file it lists read and checked against its recorded size and sha256.
A failure raises at the first problem; nothing is half-returned.

:func:`check_manifest_bytes` and :func:`check_file_bytes` are the same checks
on bytes that are not (yet) in the cache, e.g. the members of an archive
being imported.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from airgraph_cache import safe_files, signing
from airgraph_cache.entry_paths import entry_location
from airgraph_cache.entry_usage import record_use
from airgraph_cache.errors import CacheIntegrityError, CacheSecurityError, CacheSignatureError
from airgraph_cache.locking import storage_error
from airgraph_cache.manifest import (
    MANIFEST_NAME,
    MAX_MANIFEST_BYTES,
    safe_json_loads,
    validate_manifest,
)

__all__ = [
    "CacheEntry",
    "check_entry_bytes",
    "check_file_bytes",
    "check_manifest_bytes",
    "load_files",
    "read_entry",
]

log = logging.getLogger("airgraph.cache")


@dataclass(frozen=True)
class CacheEntry:
    """A verified entry, as read by :meth:`ArtifactStore.read`.

    Attributes:
        path: the rank folder.
        manifest: the parsed manifest.
        files: every artifact named in the manifest, verified, as bytes.
        identity: (st_dev, st_ino) of the folder that was read.
        manifest_bytes: the exact bytes of ``manifest.json`` (what is signed).
        signature: the bytes of ``manifest.sig``.
    """

    path: Path
    manifest: dict[str, Any]
    files: dict[str, bytes]
    identity: tuple[int, int]
    manifest_bytes: bytes = b""
    signature: bytes = b""


def check_manifest_bytes(path: Path, raw: bytes) -> tuple[dict[str, Any], dict[str, Any]]:
    """Parse and validate a manifest's bytes (signature already checked).

    Returns:
        The manifest and its file table (``{name: {"size", "sha256"}}``).

    Raises:
        CacheIntegrityError: too large, not strict JSON, or inconsistent.
    """
    if len(raw) > MAX_MANIFEST_BYTES:
        raise CacheIntegrityError(f"{path / MANIFEST_NAME}: larger than any manifest")
    try:
        manifest = safe_json_loads(raw)
        table = validate_manifest(manifest)
    except ValueError as error:
        raise CacheIntegrityError(f"{path / MANIFEST_NAME}: {error}") from None
    return manifest, table


def check_file_bytes(
    path: Path, name: str, record: dict[str, Any], data: bytes, size_on_disk: int
) -> None:
    """Raise CacheIntegrityError unless ``data`` has the size and sha256 the manifest records."""
    if len(data) != record["size"] or size_on_disk != record["size"]:
        what = "truncated" if size_on_disk < record["size"] else "longer than recorded"
        raise CacheIntegrityError(
            f"{path / name}: {what} ({size_on_disk} bytes, manifest says {record['size']})"
        )
    if hashlib.sha256(data).hexdigest() != record["sha256"]:
        raise CacheIntegrityError(
            f"{path / name}: sha256 differs from the manifest (corrupted or altered)"
        )


def read_entry(path: Path, get_key: Callable[[], bytes | None]) -> CacheEntry | None:
    """Read and verify the rank folder ``path`` without changing anything on disk.

    Args:
        path: a rank folder (already checked to be one).
        get_key: returns the signing key, or None when the user has none; called
            only once the entry is known to carry a signature.

    Returns:
        The verified entry, or None when it does not exist.

    Raises:
        CacheSecurityError, CacheSignatureError, CacheIntegrityError, CacheKeyError,
        OSError: as :meth:`ArtifactStore.read`.
    """
    try:
        parent_fd = safe_files.open_dir(path.parent)
    except FileNotFoundError:
        return None
    try:
        safe_files.check_safe(os.fstat(parent_fd), path.parent, kind="folder")
        try:
            dir_fd = safe_files.open_dir(path, name=path.name, dir_fd=parent_fd)
        except FileNotFoundError:
            return None
    finally:
        os.close(parent_fd)
    try:
        return _read_open_entry(path, dir_fd, get_key)
    finally:
        os.close(dir_fd)


def _read_open_entry(path: Path, dir_fd: int, get_key: Callable[[], bytes | None]) -> CacheEntry:
    st = os.fstat(dir_fd)
    identity = (st.st_dev, st.st_ino)
    safe_files.check_safe(st, path, kind="folder")
    # Safety first, over everything present (listed or not), so that a
    # damaged entry holding a foreign file is refused, not deleted.
    for name in os.listdir(dir_fd):
        safe_files.check_safe(
            os.stat(name, dir_fd=dir_fd, follow_symlinks=False), path / name, kind="file"
        )
    try:
        raw, _ = safe_files.read_file(dir_fd, path, MANIFEST_NAME, MAX_MANIFEST_BYTES)
        if len(raw) > MAX_MANIFEST_BYTES:
            raise CacheIntegrityError(f"{path / MANIFEST_NAME}: larger than any manifest")
        signature = _check_signature(dir_fd, path, raw, get_key)
        manifest, table = check_manifest_bytes(path, raw)
        files = {}
        for name, record in table.items():
            data, size_on_disk = safe_files.read_file(dir_fd, path, name, record["size"])
            check_file_bytes(path, name, record, data, size_on_disk)
            files[name] = data
    except CacheIntegrityError as error:
        error.identity = identity
        raise
    return CacheEntry(path, manifest, files, identity, raw, signature)


def _check_signature(
    dir_fd: int, path: Path, manifest: bytes, get_key: Callable[[], bytes | None]
) -> bytes:
    try:
        signature, _ = safe_files.read_file(dir_fd, path, signing.SIGNATURE_NAME, 256)
    except CacheIntegrityError:
        raise CacheSignatureError(
            f"{path}: not signed ({signing.SIGNATURE_NAME} is missing); entries are only "
            "used when signed with your key"
        ) from None
    key = get_key()
    if key is None or not signing.verify_manifest(key, entry_location(path), manifest, signature):
        raise CacheSignatureError(
            f"{path}: not signed with your key (forged, altered, moved, or written "
            f"with another key than {signing.default_key_path()})"
        )
    return signature


def check_entry_bytes(path: Path, manifest: bytes, files: dict[str, bytes]) -> dict[str, Any]:
    """Check an entry given as bytes (e.g. from an archive): a valid manifest listing exactly
    ``files``, each with its recorded size and sha256. The signature is not checked here.

    Returns:
        The parsed manifest.

    Raises:
        CacheIntegrityError: naming ``path`` and the first problem.
    """
    parsed, table = check_manifest_bytes(path, manifest)
    if set(files) != set(table):
        raise CacheIntegrityError(
            f"{path}: files {sorted(files)} differ from the manifest's {sorted(table)}"
        )
    for name, record in table.items():
        check_file_bytes(path, name, record, files[name], len(files[name]))
    return parsed


def load_files(
    path: Path,
    *,
    read: Callable[[Path], CacheEntry | None],
    discard: Callable[[Path, tuple[int, int] | None], bool],
    key_digest: str | None,
) -> dict[str, bytes] | None:
    """The verified files of a rank folder, or None for a miss (see ``ArtifactStore.load``).

    Args:
        path: a checked rank folder.
        read: reads and verifies it (``ArtifactStore.read``).
        discard: moves a damaged entry aside (``ArtifactStore.discard``).
        key_digest: the ``key_digest`` its manifest must record, or None.

    Raises:
        CacheStorageError: the cache cannot be read.
    """
    # Two rounds: if the damaged entry was replaced while we read it
    # (another process rebuilt it), read the replacement once.
    for _ in range(2):
        try:
            entry = read(path)
        except CacheSecurityError as error:
            log.warning(
                "compile cache: refusing %s: %s; treating it as a miss and leaving it untouched",
                path,
                error,
            )
            return None
        except CacheIntegrityError as error:
            problem, identity = str(error), error.identity
        except OSError as error:
            raise storage_error("cannot read", path, error) from None
        else:
            if entry is None:
                return None
            recorded = entry.manifest.get("key_digest")
            if key_digest is None or recorded == key_digest:
                record_use(path)
                return entry.files
            problem = f"{path}: manifest records key digest {recorded!r}, expected {key_digest!r}"
            identity = entry.identity
        log.warning("compile cache: %s; moving the entry aside to rebuild it", problem)
        if discard(path, identity):
            return None
    return None
