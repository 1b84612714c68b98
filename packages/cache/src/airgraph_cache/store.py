"""On-disk cache entries: atomic publish under a file lock, verified loads, safe refusal.

Layout::

    <root>/<ModelClass>_<method>_<key prefix>/      entry folder, one per key
        rank_0/                                   one per rank (see rank_folder)
            manifest.json                         key inputs, versions, sizes, sha256s
            graph.pb, gears.json, ...             the artifacts, raw bytes
        rank_0.lock                               the rank folder's file lock

Rules, and why:

- **Atomic publish.** A writer fills a temporary folder beside the rank
  folder (same file system), fsyncs every file and the folder, then renames
  it into place. A reader therefore sees no folder or a complete one, never
  a partial one, without taking any lock; a read-only cache works too.
- **One writer at a time, first writer wins.** :meth:`ArtifactStore.publish`
  holds an exclusive ``filelock`` on ``<rank folder>.lock``. If a verified
  entry is already there it is kept and ``publish`` returns False. The lock
  is reentrant in one process, so a caller can hold
  :meth:`ArtifactStore.lock` across "load, else compile and publish" and be
  the only process that compiles.
- **Authenticity.** Every entry carries ``manifest.sig``, an HMAC-SHA256 of
  the manifest's bytes (and the entry's place in the cache) with the user's
  secret key, kept outside the cache (:mod:`airgraph_cache.signing`). A read
  checks it before parsing the manifest or reading any artifact; an unsigned
  or wrongly signed entry is treated as damaged (moved aside and rebuilt), so
  bytes that someone else wrote, checksums recomputed or not, are never used.
- **Integrity.** A load checks the manifest's own checksum and every file's
  size and sha256 before returning anything. A damaged entry is reported
  (a warning naming the file and the problem), moved aside under the lock and
  deleted, and the load is a miss, so the next publish rebuilds it. Nothing
  is ever half-loaded.
- **Safety.** Every folder and file of an entry must be owned by the current
  (effective) user and not writable by group or others, and must not be a
  symlink. An entry that breaks this is refused: :meth:`~ArtifactStore.load`
  warns and returns None, *leaving the files alone* (they may be someone
  else's; deleting or trusting them are both wrong), and
  :meth:`~ArtifactStore.publish` raises :class:`CacheSecurityError` because it
  cannot publish over them. New folders are created 0700, files 0600.
- **Storage failures are errors of one kind.** Whatever the disk does
  (read-only, full, a lock not free within ``lock_timeout``, a symlinked lock
  file, a folder removed mid-publish), :meth:`~ArtifactStore.lock` and
  :meth:`~ArtifactStore.publish` raise :class:`CacheStorageError` naming the
  path and the reason, so a caller can fall back to working without the cache.
- **No code execution.** Artifacts are raw bytes and the manifest is strict
  JSON (:func:`~airgraph_cache.manifest.safe_json_loads`); nothing is
  unpickled, imported or executed while loading.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import filelock

from airgraph_cache import safe_files, signing
from airgraph_cache.errors import (
    CacheError,
    CacheIntegrityError,
    CacheSecurityError,
    CacheSignatureError,
    CacheStorageError,
)
from airgraph_cache.manifest import (
    MANIFEST_NAME,
    MAX_MANIFEST_BYTES,
    build_manifest,
    check_file_name,
    check_manifest_fields,
    safe_json_loads,
    validate_manifest,
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
    "LOCK_TIMEOUT_ENV",
    "rank_folder",
]

log = logging.getLogger("airgraph.cache")

#: Environment variable setting the default lock wait, in seconds.
LOCK_TIMEOUT_ENV = "AIRGRAPH_CACHE_LOCK_TIMEOUT"
#: Default lock wait: long enough for a publish, short enough that a stopped
#: lock holder costs a start seconds, not minutes.
DEFAULT_LOCK_TIMEOUT = 10.0


def _default_lock_timeout() -> float:
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


def _reason(error: BaseException) -> str:
    if isinstance(error, filelock.Timeout):
        return "lock not acquired in time (held by another process, maybe stopped)"
    if isinstance(error, OSError) and error.errno:
        return os.strerror(error.errno)
    return str(error) or type(error).__name__


def _storage_error(what: str, path: Path, error: BaseException) -> CacheStorageError:
    code = error.errno if isinstance(error, OSError) else None
    where = getattr(error, "filename", None) or path
    return CacheStorageError(f"{what} {where}: {_reason(error)}", code)


@dataclass(frozen=True)
class CacheEntry:
    """A verified entry, as read by :meth:`ArtifactStore.read`.

    Attributes:
        path: the rank folder.
        manifest: the parsed manifest.
        files: every artifact named in the manifest, verified, as bytes.
        identity: (st_dev, st_ino) of the folder that was read.
    """

    path: Path
    manifest: dict[str, Any]
    files: dict[str, bytes]
    identity: tuple[int, int]


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


class ArtifactStore:
    """The compile cache's folders under one root: publish, load, verify, list.

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
        if lock_timeout is None:
            lock_timeout = _default_lock_timeout()
        if not isinstance(lock_timeout, (int, float)) or isinstance(lock_timeout, bool):
            raise TypeError(
                f"lock_timeout: expected seconds as a number, got {type(lock_timeout).__name__}"
            )
        if lock_timeout < 0:
            raise ValueError(f"lock_timeout: expected seconds >= 0, got {lock_timeout}")
        if signing_key is not None and (
            not isinstance(signing_key, bytes) or len(signing_key) < signing.MIN_KEY_BYTES
        ):
            raise TypeError(
                f"signing_key: expected bytes of length >= {signing.MIN_KEY_BYTES} or None, "
                f"got {type(signing_key).__name__}"
            )
        self.root = Path(os.path.abspath(os.fspath(root)))
        self.lock_timeout = float(lock_timeout)
        self._signing_key = signing_key

    def __repr__(self) -> str:
        return f"ArtifactStore({str(self.root)!r})"

    def _key(self, *, create: bool) -> bytes | None:
        if self._signing_key is None:
            self._signing_key = signing.load_key(create=create)
        return self._signing_key

    # -- paths ---------------------------------------------------------------

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

    def _check_entry_path(self, entry_dir: str | os.PathLike[str]) -> Path:
        if not isinstance(entry_dir, (str, os.PathLike)):
            raise TypeError(f"entry_dir: expected a path, got {type(entry_dir).__name__}")
        path = Path(os.path.abspath(os.fspath(entry_dir)))
        if path.parent.parent != self.root or path.name.startswith("."):
            raise ValueError(
                f"entry_dir: got {str(path)!r}, expected <root>/<entry>/<rank folder> "
                f"under {str(self.root)!r}"
            )
        return path

    def entries(self) -> list[Path]:
        """Every published rank folder under the root, sorted.

        Returns:
            Paths of folders ``<root>/<entry>/<rank>`` holding a manifest
            (not verified; use :meth:`read` for that). Empty when the root
            does not exist.
        """
        if not self.root.is_dir():
            return []
        found = []
        for entry in sorted(self.root.iterdir()):
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

    # -- locking ---------------------------------------------------------------

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
        path = self._check_entry_path(entry_dir)
        lock_path = path.parent / f"{path.name}.lock"
        try:
            self._make_private_dirs(path.parent)
            # is_singleton: one lock object per path in this process, so nested
            # use (lock() around publish()) re-enters instead of deadlocking. Its
            # constructor arguments must never vary, hence the timeout at acquire.
            file_lock = filelock.FileLock(lock_path, mode=0o600, is_singleton=True)
            file_lock.acquire(timeout=self.lock_timeout)
        except (OSError, filelock.Timeout) as error:
            raise _storage_error("cannot lock", lock_path, error) from None
        try:
            yield
        finally:
            with contextlib.suppress(OSError):
                file_lock.release()

    def _make_private_dirs(self, entry_parent: Path) -> None:
        if not self.root.exists():
            os.makedirs(self.root, mode=0o700, exist_ok=True)
        with contextlib.suppress(FileExistsError):
            os.mkdir(entry_parent, 0o700)
        safe_files.check_safe(os.lstat(entry_parent), entry_parent, kind="folder")

    # -- reading ---------------------------------------------------------------

    def read(self, entry_dir: str | os.PathLike[str]) -> CacheEntry | None:
        """Read and verify an entry without changing anything on disk.

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
        path = self._check_entry_path(entry_dir)
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
            return self._read_open_entry(path, dir_fd)
        finally:
            os.close(dir_fd)

    def _read_open_entry(self, path: Path, dir_fd: int) -> CacheEntry:
        st = os.fstat(dir_fd)
        identity = (st.st_dev, st.st_ino)
        safe_files.check_safe(st, path, kind="folder")
        # Safety first, over everything present (listed or not), so that a
        # damaged entry holding a foreign file is refused, not deleted.
        for name in os.listdir(dir_fd):
            safe_files.check_safe(
                os.stat(name, dir_fd=dir_fd, follow_symlinks=False),
                path / name,
                kind="file",
            )
        try:
            raw, _ = safe_files.read_file(dir_fd, path, MANIFEST_NAME, MAX_MANIFEST_BYTES)
            if len(raw) > MAX_MANIFEST_BYTES:
                raise CacheIntegrityError(f"{path / MANIFEST_NAME}: larger than any manifest")
            self._check_signature(dir_fd, path, raw)
            try:
                manifest = safe_json_loads(raw)
                table = validate_manifest(manifest)
            except ValueError as error:
                raise CacheIntegrityError(f"{path / MANIFEST_NAME}: {error}") from None
            files = {}
            for name, record in table.items():
                data, size_on_disk = safe_files.read_file(dir_fd, path, name, record["size"])
                if len(data) != record["size"] or size_on_disk != record["size"]:
                    what = "truncated" if size_on_disk < record["size"] else "longer than recorded"
                    raise CacheIntegrityError(
                        f"{path / name}: {what} ({size_on_disk} bytes, manifest says "
                        f"{record['size']})"
                    )
                if hashlib.sha256(data).hexdigest() != record["sha256"]:
                    raise CacheIntegrityError(
                        f"{path / name}: sha256 differs from the manifest (corrupted or altered)"
                    )
                files[name] = data
        except CacheIntegrityError as error:
            error.identity = identity
            raise
        return CacheEntry(path=path, manifest=manifest, files=files, identity=identity)

    def _check_signature(self, dir_fd: int, path: Path, manifest: bytes) -> None:
        try:
            signature, _ = safe_files.read_file(dir_fd, path, signing.SIGNATURE_NAME, 256)
        except CacheIntegrityError:
            raise CacheSignatureError(
                f"{path}: not signed ({signing.SIGNATURE_NAME} is missing); entries are only "
                "used when signed with your key"
            ) from None
        key = self._key(create=False)
        if key is None or not signing.verify_manifest(key, _location(path), manifest, signature):
            raise CacheSignatureError(
                f"{path}: not signed with your key (forged, altered, moved, or written "
                f"with another key than {signing.default_key_path()})"
            )

    def load(
        self, entry_dir: str | os.PathLike[str], *, key_digest: str | None = None
    ) -> dict[str, bytes] | None:
        """Return an entry's verified files, or None for a miss.

        A miss is: no entry; an entry refused for safety (warned, left
        untouched); a damaged entry or one not signed with the user's key
        (warned, moved aside and deleted so the next publish rebuilds it); an
        entry whose manifest records another ``key_digest`` (treated as
        damaged). Takes no lock unless it must move a damaged entry aside.

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
        path = self._check_entry_path(entry_dir)
        # Two rounds: if the damaged entry was replaced while we read it
        # (another process rebuilt it), read the replacement once.
        for _ in range(2):
            try:
                entry = self.read(path)
            except CacheSecurityError as error:
                log.warning(
                    "compile cache: refusing %s: %s; treating it as a miss and leaving it "
                    "untouched",
                    path,
                    error,
                )
                return None
            except CacheIntegrityError as error:
                problem, identity = str(error), error.identity
            except OSError as error:
                raise _storage_error("cannot read", path, error) from None
            else:
                if entry is None:
                    return None
                recorded = entry.manifest.get("key_digest")
                if key_digest is None or recorded == key_digest:
                    return entry.files
                problem = (
                    f"{path}: manifest records key digest {recorded!r}, expected {key_digest!r}"
                )
                identity = entry.identity
            log.warning("compile cache: %s; moving the entry aside to rebuild it", problem)
            if self.discard(path, identity):
                return None
        return None

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
        path = self._check_entry_path(entry_dir)
        try:
            with self.lock(path):
                try:
                    st = os.lstat(path)
                except FileNotFoundError:
                    return True
                if identity is not None and (st.st_dev, st.st_ino) != identity:
                    return False
                trash = path.parent / f".{path.name}.trash-{uuid.uuid4().hex}"
                os.rename(path, trash)
                shutil.rmtree(trash, ignore_errors=True)
                return True
        except (OSError, CacheSecurityError) as error:
            log.warning("compile cache: could not move %s aside: %s", path, error)
            return True

    # -- writing ---------------------------------------------------------------

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
        path = self._check_entry_path(entry_dir)
        blobs = self._check_files(files)
        fields = check_manifest_fields(manifest_fields)
        key = self._key(create=True)
        assert key is not None
        try:
            return self._publish_locked(path, blobs, fields, key)
        except OSError as error:
            if isinstance(error, CacheStorageError):
                raise
            raise _storage_error("cannot publish", path, error) from None

    def _publish_locked(
        self, path: Path, blobs: dict[str, bytes], fields: dict[str, Any], key: bytes
    ) -> bool:
        with self.lock(path):
            if os.path.lexists(path):
                try:
                    existing = self.read(path)
                except CacheIntegrityError as error:
                    log.warning("compile cache: %s; replacing the entry", error)
                    self.discard(path, error.identity)
                else:
                    wanted = fields.get("key_digest")
                    if existing is not None and (
                        wanted is None or existing.manifest.get("key_digest") == wanted
                    ):
                        log.debug("compile cache: %s already published; keeping it", path)
                        return False
                    if existing is not None:
                        log.warning(
                            "compile cache: %s holds another key digest; replacing it", path
                        )
                        self.discard(path, existing.identity)
            self._remove_stale_temporaries(path)
            self._write_and_rename(path, blobs, fields, key)
        log.debug("compile cache: published %s (%d files)", path, len(blobs))
        return True

    @staticmethod
    def _check_files(files: Any) -> dict[str, bytes]:
        if not isinstance(files, Mapping):
            raise TypeError(f"files: expected a mapping name -> bytes, got {type(files).__name__}")
        blobs = {}
        for name, data in files.items():
            check_file_name(name)
            if not isinstance(data, (bytes, bytearray, memoryview)):
                raise TypeError(f"files[{name!r}]: expected bytes, got {type(data).__name__}")
            blobs[name] = bytes(data)
        return blobs

    def _remove_stale_temporaries(self, path: Path) -> None:
        # Called under the lock: no live writer of this rank folder exists,
        # so any temporary folder of it is left over from a crashed process.
        prefixes = (f".{path.name}.tmp-", f".{path.name}.trash-")
        for leftover in path.parent.iterdir():
            if leftover.name.startswith(prefixes):
                try:
                    safe_files.check_safe(os.lstat(leftover), leftover, kind="folder")
                except CacheSecurityError:
                    continue
                shutil.rmtree(leftover, ignore_errors=True)

    def _write_and_rename(
        self, path: Path, blobs: dict[str, bytes], fields: dict[str, Any], key: bytes
    ) -> None:
        manifest = build_manifest(blobs, fields).encode("ascii")
        signature = signing.sign_manifest(key, _location(path), manifest)
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


def _location(path: Path) -> str:
    """An entry's place in the cache as signed: ``<entry folder>/<rank folder>``."""
    return f"{path.parent.name}/{path.name}"
