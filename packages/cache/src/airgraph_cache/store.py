"""On-disk cache entries: atomic publish under a file lock, verified loads, safe refusal.

:class:`ArtifactStore` is the one object callers use; each concern lives in
a module of its own, whose docstring gives its rules in full: the layout and
path checks (:mod:`.entry_paths`), locks and storage errors
(:mod:`.locking`), verified reads (:mod:`.entry_reading`), atomic writes
(:mod:`.publishing`), hit counts and last use (:mod:`.entry_usage`).

Layout::

    <root>/<ModelClass>_<method>_<key prefix>/      entry folder, one per key
        rank_0/                                   one per rank (see rank_folder)
            manifest.json                         key inputs, versions, sizes, sha256s
            manifest.sig                          HMAC of the manifest with the user's key
            graph.pb, gears.json, ...             the artifacts, raw bytes
            .uses                                 one byte per load (hits, last use)
        rank_0.lock                               the rank folder's file lock

Rules, and why (each module's docstring has the details):

- **Atomic publish**: readers see no entry or a complete one, lock-free, so a
  read-only cache works too.
- **First writer wins**: :meth:`~ArtifactStore.publish` holds the rank
  folder's lock and keeps a verified entry already there; hold
  :meth:`~ArtifactStore.lock` across "load, else compile and publish" to be
  the only process compiling.
- **Signed, then verified**: ``manifest.sig`` (:mod:`airgraph_cache.signing`)
  is checked before anything else is parsed, then every file's size and
  sha256. A damaged or unsigned entry is reported, moved aside and rebuilt.
- **Refused, not touched**: an entry that is not the current user's and
  private, or holds a symlink, is a miss on load (warned, left alone) and a
  :class:`CacheSecurityError` on publish. Folders are created 0700, files 0600.
- **One kind of storage error**: whatever the disk does, the store raises
  :class:`CacheStorageError` naming the path and the reason, so a caller can
  work without the cache.
- **No code execution**: artifacts are raw bytes and the manifest is strict
  JSON; nothing is unpickled, imported or executed while loading or verifying.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airgraph_cache import safe_files, signing
from airgraph_cache.entry_paths import (
    check_entry_path,
    entry_location,
    list_rank_folders,
    lock_path,
    rank_folder,
)
from airgraph_cache.entry_reading import CacheEntry, check_entry_bytes, load_files, read_entry
from airgraph_cache.entry_usage import EntryUsage, read_usage
from airgraph_cache.errors import (
    CacheError,
    CacheIntegrityError,
    CacheSecurityError,
    CacheSignatureError,
    CacheStorageError,
)
from airgraph_cache.locking import LOCK_TIMEOUT_ENV, check_lock_timeout, held, storage_error
from airgraph_cache.manifest import build_manifest, check_manifest_fields
from airgraph_cache.publishing import (
    check_files,
    move_aside_and_delete,
    publish_locked,
    remove_rank_folder,
)

if TYPE_CHECKING:
    from airgraph_cache.keys import CacheKey

__all__ = [
    "ArtifactStore",
    "CacheEntry",
    "CacheError",
    "CacheIntegrityError",
    "CacheSecurityError",
    "CacheSignatureError",
    "CacheStorageError",
    "EntryUsage",
    "LOCK_TIMEOUT_ENV",
    "rank_folder",
]

log = logging.getLogger("airgraph.cache")


class ArtifactStore:
    """The compile cache's folders under one root: publish, load, verify, list, remove.

    Args:
        root: the cache root (``cache_dir``). Created (0700) on the first
            publish; loading never creates anything.
        lock_timeout: seconds to wait for a rank folder's lock before raising
            :class:`CacheStorageError`; default ``$AIRGRAPH_CACHE_LOCK_TIMEOUT``
            or 10. Keep it bounded: the holder may be a stopped process.
        signing_key: the key that signs and verifies entries; default the
            user's (:func:`airgraph_cache.signing.load_key`, read when first
            needed).

    Raises:
        TypeError: ``root`` is not a path, ``lock_timeout`` not a number, or
            ``signing_key`` not bytes.
        ValueError: ``lock_timeout`` is negative, or ``$AIRGRAPH_CACHE_LOCK_TIMEOUT``
            is not a number of seconds >= 0.

    Examples:
        >>> store = ArtifactStore(tmp)                       # doctest: +SKIP
        >>> entry = store.entry_dir(key, global_rank=0)      # doctest: +SKIP
        >>> store.publish(entry, {"graph.pb": data}, {"key": key.as_dict()})  # doctest: +SKIP
        True
        >>> store.load(entry)["graph.pb"] == data            # doctest: +SKIP
        True
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        lock_timeout: float | None = None,
        signing_key: bytes | None = None,
    ):
        if not isinstance(root, (str, os.PathLike)):
            raise TypeError(f"root: expected a path, got {type(root).__name__}")
        timeout = check_lock_timeout(lock_timeout)
        if signing_key is not None and (
            not isinstance(signing_key, bytes) or len(signing_key) < signing.MIN_KEY_BYTES
        ):
            raise TypeError(
                f"signing_key: expected bytes of length >= {signing.MIN_KEY_BYTES} or None, "
                f"got {type(signing_key).__name__}"
            )
        self.root = Path(os.path.abspath(os.fspath(root)))
        self.lock_timeout = timeout
        self._signing_key = signing_key

    def __repr__(self) -> str:
        return f"ArtifactStore({str(self.root)!r})"

    def _key(self, *, create: bool) -> bytes | None:
        if self._signing_key is None:
            self._signing_key = signing.load_key(create=create)
        return self._signing_key

    # -- paths and listing -------------------------------------------------------

    def entry_dir(
        self,
        key: CacheKey,
        *,
        global_rank: int | None = None,
        tp_rank: int | None = None,
        pp_rank: int | None = None,
    ) -> Path:
        """The rank folder of ``key``: ``<root>/<entry name>/<rank folder>``.

        Args:
            key: the cache key; its :meth:`~airgraph_cache.CacheKey.entry_name`
                names the entry folder.
            global_rank: as :func:`rank_folder`.
            tp_rank: as :func:`rank_folder`.
            pp_rank: as :func:`rank_folder`.

        Returns:
            The path (nothing is created).

        Raises:
            TypeError, ValueError: as :func:`rank_folder`.
        """
        return self.root / key.entry_name() / rank_folder(global_rank, tp_rank, pp_rank)

    def entries(self) -> list[Path]:
        """Every published rank folder under the root, sorted.

        Returns:
            Paths of folders ``<root>/<entry>/<rank>`` holding a manifest
            (not verified; use :meth:`read` for that). Empty when the root
            does not exist.
        """
        return list_rank_folders(self.root)

    def usage(self, entry_dir: str | os.PathLike[str]) -> EntryUsage:
        """How often a rank folder was loaded from disk, and when last (not verified).

        Every successful :meth:`load` records one hit (best effort).

        Args:
            entry_dir: a rank folder under this store's root.

        Returns:
            The :class:`EntryUsage` (0 hits and no last use if never loaded).

        Raises:
            ValueError: ``entry_dir`` is not ``<root>/<entry>/<rank folder>``.
        """
        return read_usage(check_entry_path(self.root, entry_dir))

    def signs(self, entry_dir: str | os.PathLike[str], manifest: bytes, signature: bytes) -> bool:
        """True if ``signature`` is this store's signature of ``manifest`` placed at ``entry_dir``.

        Raises:
            ValueError: ``entry_dir`` is not ``<root>/<entry>/<rank folder>``.
            CacheKeyError: the user's signing key file is unusable.
        """
        key = self._key(create=False)
        where = entry_location(check_entry_path(self.root, entry_dir))
        return key is not None and signing.verify_manifest(key, where, manifest, signature)

    # -- locking -----------------------------------------------------------------

    @contextlib.contextmanager
    def lock(self, entry_dir: str | os.PathLike[str]) -> Iterator[None]:
        """Hold the exclusive, reentrant file lock of a rank folder (``<rank folder>.lock``).

        Use it around "load, else compile and publish" so that of several
        processes starting at once only one compiles; the others wait, then
        load what it published. Creates the root and the entry folder (0700)
        if needed, since the lock file lives in the latter.

        Args:
            entry_dir: a rank folder under this store's root.

        Yields:
            None, while the lock is held.

        Raises:
            ValueError: ``entry_dir`` is not ``<root>/<entry>/<rank folder>``.
            CacheSecurityError: the entry folder exists but is not ours/private.
            CacheStorageError: a folder or the lock file cannot be created
                (read-only, no space, not a folder, a symlinked lock file...)
                or the lock was not acquired within ``lock_timeout``.

        Examples:
            >>> with store.lock(entry):                      # doctest: +SKIP
            ...     files = store.load(entry) or compile_and_publish()
        """
        path = check_entry_path(self.root, entry_dir)
        lock_file = lock_path(path)
        try:
            self._make_private_dirs(path.parent)
        except OSError as error:
            raise storage_error("cannot lock", lock_file, error) from None
        with held(lock_file, self.lock_timeout):
            yield

    def _make_private_dirs(self, entry_parent: Path) -> None:
        if not self.root.exists():
            os.makedirs(self.root, mode=0o700, exist_ok=True)
        with contextlib.suppress(FileExistsError):
            os.mkdir(entry_parent, 0o700)
        safe_files.check_safe(os.lstat(entry_parent), entry_parent, kind="folder")

    # -- reading -----------------------------------------------------------------

    def read(self, entry_dir: str | os.PathLike[str]) -> CacheEntry | None:
        """Read and verify an entry without changing anything on disk.

        Checks, in order: every folder and file present is safe (ours,
        private, real), ``manifest.sig`` is the user's signature of the
        manifest, the manifest is valid, and every file it lists has the
        recorded size and sha256.

        Args:
            entry_dir: a rank folder under this store's root.

        Returns:
            The verified :class:`CacheEntry`, or None if it does not exist.

        Raises:
            ValueError: ``entry_dir`` is not ``<root>/<entry>/<rank folder>``.
            CacheSecurityError: a folder or file of the entry is not owned by
                the current user, is writable by group or others, is a
                symlink or not a regular file.
            CacheSignatureError: the entry is not signed with the user's key
                (checked before anything else of the entry is read).
            CacheIntegrityError: the manifest is missing, not JSON, or
                inconsistent, or a file is missing, truncated, too long or
                has another sha256.
            CacheKeyError: the user's signing key file is unusable.
            OSError: the disk could not be read (e.g. permissions).
        """
        path = check_entry_path(self.root, entry_dir)
        return read_entry(path, lambda: self._key(create=False))

    def load(
        self, entry_dir: str | os.PathLike[str], *, key_digest: str | None = None
    ) -> dict[str, bytes] | None:
        """Return an entry's verified files, or None for a miss; count the hit.

        A miss is: no entry; an entry refused for safety (warned, left
        untouched); a damaged entry or one not signed with the user's key
        (warned, moved aside and deleted so the next publish rebuilds it); an
        entry whose manifest records another ``key_digest`` (treated as
        damaged). Takes no lock unless it must move a damaged entry aside. A
        hit is recorded for :meth:`usage` (best effort, never an error).

        Args:
            entry_dir: a rank folder under this store's root.
            key_digest: if given, the manifest's ``key_digest`` must equal it
                (the folder name holds only a prefix of the digest).

        Returns:
            ``{file name: bytes}`` of every artifact, each verified against
            the manifest; or None.

        Raises:
            ValueError: ``entry_dir`` is not ``<root>/<entry>/<rank folder>``.
            CacheStorageError: the cache cannot be read (e.g. permissions, I/O
                error): not a miss but a cache that cannot be used.
            CacheKeyError: the user's signing key file is unusable.
        """
        path = check_entry_path(self.root, entry_dir)
        return load_files(path, read=self.read, discard=self.discard, key_digest=key_digest)

    # -- removing ----------------------------------------------------------------

    def discard(
        self, entry_dir: str | os.PathLike[str], identity: tuple[int, int] | None = None
    ) -> bool:
        """Move an entry aside (under its lock) and delete it, so that the next publish rebuilds it.

        For an entry that verified but proved unusable (it failed to load or
        to run). Never raises for storage problems: a failure is logged and
        the entry stays (it is then refused or rebuilt by the next start).

        Args:
            entry_dir: a rank folder under this store's root.
            identity: ``(st_dev, st_ino)`` of the folder that was read; if given
                and another folder has taken its place meanwhile, that one is
                kept.

        Returns:
            False if another folder has taken the read one's place, else True.

        Raises:
            ValueError: ``entry_dir`` is not ``<root>/<entry>/<rank folder>``.
        """
        path = check_entry_path(self.root, entry_dir)
        try:
            with self.lock(path):
                try:
                    st = os.lstat(path)
                except FileNotFoundError:
                    return True
                if identity is not None and (st.st_dev, st.st_ino) != identity:
                    return False
                move_aside_and_delete(path)
                return True
        except (OSError, CacheSecurityError) as error:
            log.warning("compile cache: could not move %s aside: %s", path, error)
            return True

    def remove(self, entry_dir: str | os.PathLike[str]) -> bool:
        """Delete a rank folder (under its lock); the entry folder too once it holds no rank.

        For cache management (``airgraph cache clear`` / ``prune``). Unlike
        :meth:`discard`, failures are raised. A process still waiting on the
        removed entry's lock then compiles (or loads) as on an empty cache.

        Args:
            entry_dir: a rank folder under this store's root.

        Returns:
            True if it was removed, False if it did not exist.

        Raises:
            ValueError: ``entry_dir`` is not ``<root>/<entry>/<rank folder>``.
            CacheSecurityError: the rank folder is not a private folder of the
                current user (it is left alone).
            CacheStorageError: it could not be locked or removed.
        """
        return remove_rank_folder(check_entry_path(self.root, entry_dir), self.lock)

    # -- writing -----------------------------------------------------------------

    def publish(
        self,
        entry_dir: str | os.PathLike[str],
        files: Mapping[str, bytes],
        manifest_fields: Mapping[str, Any] | None = None,
    ) -> bool:
        """Write an entry atomically; keep an existing verified one (first writer wins).

        Under the rank folder's lock: if a verified entry exists (with the
        same ``key_digest`` when ``manifest_fields`` gives one) it is kept; a
        damaged one is moved aside. The files and ``manifest.json`` are
        written (0600) into a temporary folder (0700) beside the rank folder,
        fsynced, and renamed into place.

        Args:
            entry_dir: a rank folder under this store's root.
            files: artifact name -> bytes. Names are plain file names
                (letters, digits, ``.``, ``_``, ``-``).
            manifest_fields: extra JSON-able manifest fields, typically
                ``{"key": key.as_dict(), "key_digest": key.digest()}``. May not
                use the store's own fields ``format``, ``files``,
                ``created``, ``writer``, ``checksum``.

        Returns:
            True if this call published the entry, False if a verified entry
            was already there and was kept.

        Raises:
            TypeError: ``files`` is not a mapping of str to bytes, or
                ``manifest_fields`` is not a mapping of JSON-able values.
            ValueError: a bad file name, a reserved manifest field, or
                ``entry_dir`` not ``<root>/<entry>/<rank folder>``.
            CacheSecurityError: the entry (or its folder) exists but is not
                owned by the current user or is writable by others.
            CacheStorageError: the lock was not acquired within
                ``lock_timeout``, or a folder or file could not be written
                (no space, read-only, removed meanwhile...); nothing partial
                is left visible.
            CacheKeyError: the user's signing key cannot be created or read.
        """
        path = check_entry_path(self.root, entry_dir)
        blobs = check_files(files)
        fields = check_manifest_fields(manifest_fields)
        manifest = build_manifest(blobs, fields).encode("ascii")
        return self._write(path, blobs, manifest, fields.get("key_digest"), "publish")

    def install(
        self, entry_dir: str | os.PathLike[str], manifest: bytes, files: Mapping[str, bytes]
    ) -> bool:
        """Write an entry made elsewhere (an import) as it is, signed with this store's key.

        The caller has decided to trust it (verified against its exporter's key,
        or trusted explicitly). The files must be exactly those the manifest
        lists, with their sizes and sha256s; they are written as by
        :meth:`publish`, keeping the manifest's bytes.

        Args:
            entry_dir: a rank folder under this store's root.
            manifest: the exact bytes of the entry's ``manifest.json``.
            files: the artifacts the manifest lists, name -> bytes.

        Returns:
            True if installed, False if a verified entry with the same
            ``key_digest`` was already there and was kept.

        Raises:
            CacheIntegrityError: the manifest is invalid, or ``files`` differ
                from what it lists (missing, extra, other size or sha256).
            TypeError: as :meth:`publish`.
            ValueError: as :meth:`publish`.
            CacheSecurityError: as :meth:`publish`.
            CacheStorageError: as :meth:`publish`.
            CacheKeyError: as :meth:`publish`.
        """
        path = check_entry_path(self.root, entry_dir)
        if not isinstance(manifest, (bytes, bytearray)):
            raise TypeError(f"manifest: expected bytes, got {type(manifest).__name__}")
        blobs = check_files(files)
        parsed = check_entry_bytes(path, bytes(manifest), blobs)
        return self._write(path, blobs, bytes(manifest), parsed.get("key_digest"), "install")

    def _write(
        self, path: Path, blobs: dict[str, bytes], manifest: bytes, digest: Any, what: str
    ) -> bool:
        key = self._key(create=True)
        assert key is not None
        signature = signing.sign_manifest(key, entry_location(path), manifest)
        try:
            return self._write_locked(path, blobs, manifest, signature, digest)
        except OSError as error:
            if isinstance(error, CacheStorageError):
                raise
            raise storage_error(f"cannot {what}", path, error) from None

    def _write_locked(
        self, path: Path, blobs: dict[str, bytes], manifest: bytes, signature: bytes, digest: Any
    ) -> bool:
        with self.lock(path):
            return publish_locked(
                path, blobs, manifest, signature, digest, read=self.read, discard=self.discard
            )
