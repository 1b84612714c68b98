"""Moving entries between machines: one tar archive out, verified entries in.

:func:`export_entries` writes verified rank folders into one tar file (gzip
when its name ends in ``.gz`` or ``.tgz``), each as
``<entry folder>/<rank folder>/<file>`` with its ``manifest.json`` and
``manifest.sig`` as they are, plus ``airgraph-cache-export.json`` naming the
format and the entries. A signature covers the entry's place
``<entry folder>/<rank folder>`` but not the cache root, so an entry stays
valid, and keeps hitting, under any other root.

:func:`import_archive` installs an archive's entries into a store only after
every one of them has passed, reading nothing but bytes (no member is
extracted to disk, unpickled, imported or loaded; a ``.pt2`` is hashed, never
opened as a library):

- the archive: only regular files and folders, each at
  ``<entry>/<rank_...>/<plain file name>`` (or the export record); absolute
  paths, ``..``, symlinks, hard links, devices, duplicates and anything else
  refuse the whole archive;
- each entry's signature, with the importing user's key (a fleet sharing one
  key, ``$AIRGRAPH_CACHE_KEY``), or with the exporter's key when given
  (``exporter_key``); an entry signed with neither is refused unless the
  caller trusts the archive explicitly (``trust=True``);
- each entry's manifest (strict JSON, its checksum) and every file's size and
  sha256, always, trusted or not: a tampered archive is refused.

Installed entries are signed with the importing user's key
(:meth:`ArtifactStore.install`). One refused entry installs nothing.
"""

from __future__ import annotations

import io
import json
import os
import re
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from airgraph_cache import signing
from airgraph_cache.entry_paths import check_entry_path, entry_location
from airgraph_cache.entry_reading import check_entry_bytes
from airgraph_cache.errors import CacheError
from airgraph_cache.manifest import MANIFEST_NAME, check_file_name, safe_json_loads
from airgraph_cache.store import ArtifactStore

__all__ = [
    "ARCHIVE_FORMAT",
    "ArchiveError",
    "ImportReport",
    "export_entries",
    "import_archive",
]

#: Value of the export record's ``format`` field.
ARCHIVE_FORMAT = "airgraph-cache-export/1"
#: Name of the export record inside an archive.
RECORD_NAME = "airgraph-cache-export.json"
# Everything is verified in memory: a bound on what an archive may unpack to.
MAX_ARCHIVE_BYTES = 8 << 30
_MAX_MEMBERS = 100_000
_ENTRY_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,254}")
_RANK_NAME = re.compile(r"rank_[0-9]+(_tp[0-9]+)?(_pp[0-9]+)?")


class ArchiveError(CacheError):
    """An archive cannot be written, read or trusted; the message names the path or member."""


@dataclass
class ImportReport:
    """What :func:`import_archive` did.

    Attributes:
        installed: rank folders written (``<entry>/<rank>``).
        kept: rank folders already present and verified, left as they were.
        resigned: those of ``installed`` that were not signed with the local
            key (verified with ``exporter_key``, or trusted) and now are.
    """

    installed: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    resigned: list[str] = field(default_factory=list)


def export_entries(
    store: ArtifactStore,
    rank_dirs: Iterable[str | os.PathLike[str]],
    archive: str | os.PathLike,
    *,
    progress: Callable[[str], None] | None = None,
) -> list[str]:
    """Write verified rank folders of ``store`` into one tar archive.

    Args:
        store: the cache to export from.
        rank_dirs: rank folders under ``store.root`` (e.g. ``store.entries()``).
        archive: the archive file to write (replaced atomically if it exists;
            gzip-compressed when its name ends in ``.gz`` or ``.tgz``).
        progress: called with ``"<entry>/<rank>"`` after each rank folder is
            written (e.g. to advance a progress bar).

    Returns:
        The exported ``<entry>/<rank>`` names.

    Raises:
        ArchiveError: a rank folder is missing, or does not verify (its reason
            is given), or the archive cannot be written.
        ValueError: a path is not a rank folder under the store's root.
    """
    target = Path(os.path.abspath(os.fspath(archive)))
    entries = []
    for rank in rank_dirs:
        path = check_entry_path(store.root, rank)
        try:
            entry = store.read(path)
        except (CacheError, OSError) as error:
            raise ArchiveError(f"cannot export {path}: {error}") from None
        if entry is None:
            raise ArchiveError(f"cannot export {path}: no such entry")
        entries.append(entry)
    record = {
        "format": ARCHIVE_FORMAT,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "entries": [entry_location(e.path) for e in entries],
    }
    mode = "w:gz" if target.name.endswith((".gz", ".tgz")) else "w"
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
        try:
            with os.fdopen(fd, "wb") as handle, tarfile.open(fileobj=handle, mode=mode) as tar:
                _add(tar, RECORD_NAME, json.dumps(record, indent=2).encode("ascii"))
                for entry in entries:
                    where = entry_location(entry.path)
                    _add(tar, f"{where}/{MANIFEST_NAME}", entry.manifest_bytes)
                    _add(tar, f"{where}/{signing.SIGNATURE_NAME}", entry.signature)
                    for name, data in sorted(entry.files.items()):
                        _add(tar, f"{where}/{name}", data)
                    if progress is not None:
                        progress(where)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as error:
        raise ArchiveError(f"cannot write {target}: {os.strerror(error.errno or 0)}") from None
    return record["entries"]


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), 0o600, int(time.time())
    tar.addfile(info, io.BytesIO(data))


def import_archive(
    store: ArtifactStore,
    archive: str | os.PathLike[str],
    *,
    exporter_key: bytes | None = None,
    trust: bool = False,
    progress: Callable[[str], None] | None = None,
) -> ImportReport:
    """Verify every entry of an archive, then install them all into ``store``.

    Args:
        store: the cache to install into (created if needed).
        archive: a tar file written by :func:`export_entries`.
        exporter_key: the key the exporter signed with, when it is not the
            local one; its entries are re-signed with the local key.
        trust: install entries signed with neither key (or unsigned),
            re-signed with the local key. Their files must still match their
            manifests.
        progress: called with ``"<entry>/<rank>"`` after each rank folder is
            installed (or kept).

    Returns:
        An :class:`ImportReport`.

    Raises:
        TypeError: ``exporter_key`` is not bytes, or ``trust`` not a bool.
        ArchiveError: the archive cannot be read, holds a member that is not a
            plain file at ``<entry>/<rank>/<file>`` (path traversal, symlinks,
            links, devices), or an entry fails its signature or integrity
            check; nothing is installed then.
        CacheStorageError, CacheSecurityError, CacheKeyError: installing failed
            (see :meth:`ArtifactStore.install`).
    """
    if exporter_key is not None and not isinstance(exporter_key, bytes):
        raise TypeError(f"exporter_key: expected bytes or None, got {type(exporter_key).__name__}")
    if not isinstance(trust, bool):
        raise TypeError(f"trust: expected a bool, got {type(trust).__name__}")
    source = Path(os.path.abspath(os.fspath(archive)))
    ranks = _read_members(source)
    verified: list[tuple[str, bytes, dict[str, bytes], bool]] = []
    for where, members in sorted(ranks.items()):
        manifest = members.pop(MANIFEST_NAME, None)
        signature = members.pop(signing.SIGNATURE_NAME, b"")
        if manifest is None:
            raise ArchiveError(f"{source}: {where} has no {MANIFEST_NAME}")
        mine = store.signs(store.root / where, manifest, signature)
        theirs = exporter_key is not None and signing.verify_manifest(
            exporter_key, where, manifest, signature
        )
        if not (mine or theirs or trust):
            raise ArchiveError(
                f"{source}: {where} is not signed with your key"
                + (" nor with the exporter's key" if exporter_key is not None else "")
                + " (forged, unsigned or from another key); give the exporter's key, or trust "
                "the archive explicitly (`airgraph cache import --trust`) to re-sign it with yours"
            )
        try:
            check_entry_bytes(Path(where), manifest, members)
        except CacheError as error:
            raise ArchiveError(f"{source}: {error} (tampered or damaged archive)") from None
        verified.append((where, manifest, members, not mine))
    report = ImportReport()
    for where, manifest, members, resigned in verified:
        if store.install(store.root / where, manifest, members):
            report.installed.append(where)
            if resigned:
                report.resigned.append(where)
        else:
            report.kept.append(where)
        if progress is not None:
            progress(where)
    return report


def _read_members(source: Path) -> dict[str, dict[str, bytes]]:
    """``{"<entry>/<rank>": {file name: bytes}}`` of an archive, refusing anything unsafe."""
    try:
        with tarfile.open(source, mode="r:*") as tar:
            ranks, record = _collect(source, tar)
    except (OSError, tarfile.TarError) as error:
        raise ArchiveError(f"cannot read {source}: {error}") from None
    _check_record(source, record, ranks)
    return ranks


def _collect(
    source: Path, tar: tarfile.TarFile
) -> tuple[dict[str, dict[str, bytes]], bytes | None]:
    members = tar.getmembers()
    if len(members) > _MAX_MEMBERS:
        raise ArchiveError(f"{source}: more than {_MAX_MEMBERS} members")
    ranks: dict[str, dict[str, bytes]] = {}
    total, record = 0, None
    for member in members:
        parts = _check_member(source, member)
        if member.isdir():
            continue
        total += member.size
        if total > MAX_ARCHIVE_BYTES:
            raise ArchiveError(f"{source}: unpacks to more than {MAX_ARCHIVE_BYTES} bytes")
        handle = tar.extractfile(member)
        data = handle.read() if handle is not None else b""
        if len(parts) == 1:
            if record is not None:
                raise ArchiveError(f"{source}: member {member.name!r} appears twice")
            record = data
            continue
        files = ranks.setdefault(f"{parts[0]}/{parts[1]}", {})
        if parts[2] in files:
            raise ArchiveError(f"{source}: member {member.name!r} appears twice")
        files[parts[2]] = data
    return ranks, record


def _check_member(source: Path, member: tarfile.TarInfo) -> list[str]:
    name = member.name
    parts = name.rstrip("/").split("/") if member.isdir() else name.split("/")
    if not (member.isfile() or member.isdir()):
        kind = "symlink" if member.issym() else "hard link" if member.islnk() else "special file"
        raise ArchiveError(f"{source}: member {name!r} is a {kind}; only plain files are accepted")
    if name.startswith("/") or "\\" in name or any(p in ("", ".", "..") for p in parts):
        raise ArchiveError(
            f"{source}: member {name!r} is not a relative <entry>/<rank>/<file> path "
            "(absolute paths and '..' are refused)"
        )
    if parts == [RECORD_NAME] and member.isfile():
        return parts
    ok = len(parts) <= (2 if member.isdir() else 3) and len(parts) >= (1 if member.isdir() else 3)
    ok = ok and _ENTRY_NAME.fullmatch(parts[0]) is not None
    ok = ok and (len(parts) < 2 or _RANK_NAME.fullmatch(parts[1]) is not None)
    if ok and len(parts) == 3 and parts[2] not in (MANIFEST_NAME, signing.SIGNATURE_NAME):
        try:
            check_file_name(parts[2])
        except ValueError:
            ok = False
    if not ok:
        raise ArchiveError(
            f"{source}: member {name!r} is not at <entry>/<rank_N>/<file> (not an airgraph "
            "cache export)"
        )
    return parts


def _check_record(source: Path, record: bytes | None, ranks: dict[str, dict[str, bytes]]) -> None:
    if record is None:
        raise ArchiveError(f"{source}: no {RECORD_NAME} (not an airgraph cache export)")
    try:
        parsed = safe_json_loads(record)
    except ValueError as error:
        raise ArchiveError(f"{source}: {RECORD_NAME}: {error}") from None
    if not isinstance(parsed, dict) or parsed.get("format") != ARCHIVE_FORMAT:
        raise ArchiveError(f"{source}: {RECORD_NAME} is not of format {ARCHIVE_FORMAT!r}")
    listed = parsed.get("entries")
    if not isinstance(listed, list) or sorted(map(str, listed)) != sorted(ranks):
        raise ArchiveError(
            f"{source}: {RECORD_NAME} lists {parsed.get('entries')}, the archive holds "
            f"{sorted(ranks)}"
        )
