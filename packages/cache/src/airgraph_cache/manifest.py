"""The manifest of a cache entry: a human-readable JSON file that the loader verifies.

Every entry folder holds ``manifest.json`` next to its artifact files. It
records the cache key's inputs, the versions that wrote the entry, when it
was written, and the size and sha256 of every artifact file, so that a
loader can refuse anything truncated or altered, and a person can read what
an entry is without tools.

The manifest carries its own ``checksum`` (sha256 of its canonical JSON with
that field left out): a flipped byte anywhere in it is caught, not only in
the files it lists. The checksum catches accidents only (anyone can
recompute it); what makes an entry trusted is its signature, ``manifest.sig``
(:mod:`airgraph_cache.signing`), checked before the manifest is parsed.

Everything here is data: JSON parsed by :func:`safe_json_loads`, which
accepts strict JSON only. Nothing in the cache is ever unpickled, imported
or executed.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import re
import sys
from collections.abc import Mapping
from typing import Any

from airgraph_cache.signing import SIGNATURE_NAME

__all__ = [
    "MANIFEST_FORMAT",
    "MANIFEST_NAME",
    "build_manifest",
    "canonical_json",
    "check_file_name",
    "check_manifest_fields",
    "manifest_checksum",
    "safe_json_loads",
    "validate_manifest",
]

#: File name of the manifest inside an entry folder.
MANIFEST_NAME = "manifest.json"
#: Value of the manifest's ``format`` field; a reader refuses any other.
MANIFEST_FORMAT = "airgraph-cache-entry/1"
#: Fields the store writes itself; callers' ``manifest_fields`` may not use them.
RESERVED_FIELDS = frozenset({"format", "files", "created", "writer", "checksum"})
#: Largest manifest a reader accepts (a manifest is a few kB; this stops a
#: hostile or broken file from being read into memory whole).
MAX_MANIFEST_BYTES = 16 * 1024 * 1024

# Artifact names are plain file names: no folders, no hidden files, nothing a
# shell or a path join could misread.
_FILE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_SHA256 = re.compile(r"[0-9a-f]{64}")


def canonical_json(value: Any) -> str:
    """``value`` as canonical JSON: sorted keys, no spaces, ASCII, no NaN.

    Equal values give equal strings in every process, so the result can be
    hashed for cache keys and checksums.

    Args:
        value: JSON-able data (dict, list, str, int, float, bool, None).

    Returns:
        The JSON text.

    Raises:
        ValueError: ``value`` holds NaN or an infinity.
        TypeError: ``value`` holds something JSON cannot represent.
    """
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False
    )


def _reject_constant(name: str) -> Any:
    raise ValueError(f"not strict JSON: {name} is not a JSON value")


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"not strict JSON: duplicate key {key!r}")
        result[key] = value
    return result


def safe_json_loads(data: bytes | str) -> Any:
    """Parse strict JSON and nothing else.

    Bytes must be UTF-8. ``NaN``/``Infinity`` and duplicate object keys are
    refused, so a file that parses here means one thing only. Parsing never
    runs code from the data (unlike ``pickle``), whatever the data holds.

    Args:
        data: the JSON document, as UTF-8 bytes or text.

    Returns:
        The parsed value.

    Raises:
        TypeError: ``data`` is neither bytes nor str.
        ValueError: ``data`` is not strict UTF-8 JSON (for example a pickle).

    Examples:
        >>> safe_json_loads(b'{"a": [1, 2]}')
        {'a': [1, 2]}
    """
    if isinstance(data, (bytes, bytearray, memoryview)):
        try:
            text = bytes(data).decode("utf-8")
        except UnicodeDecodeError as error:
            raise ValueError(f"not JSON: not UTF-8 text ({error})") from None
    elif isinstance(data, str):
        text = data
    else:
        raise TypeError(f"data: expected bytes or str, got {type(data).__name__}")
    try:
        return json.loads(
            text, parse_constant=_reject_constant, object_pairs_hook=_no_duplicate_keys
        )
    except json.JSONDecodeError as error:
        raise ValueError(f"not JSON: {error}") from None


def check_file_name(name: Any) -> str:
    """Return ``name`` if it is an acceptable artifact file name.

    Args:
        name: a file name such as ``graph.pb``.

    Returns:
        ``name`` unchanged.

    Raises:
        TypeError: ``name`` is not a str.
        ValueError: ``name`` is a path, hidden, too long, uses characters
            other than letters, digits, ``.``, ``_``, ``-``, or is the
            manifest's or its signature's own name.
    """
    if not isinstance(name, str):
        raise TypeError(f"file name: expected str, got {type(name).__name__}")
    if not _FILE_NAME.fullmatch(name) or name in (MANIFEST_NAME, SIGNATURE_NAME):
        raise ValueError(
            f"file name: got {name!r}, expected a plain name of letters, digits, '.', '_', '-' "
            f"(not starting with '.' or '-', at most 128 characters, not {MANIFEST_NAME!r} "
            f"or {SIGNATURE_NAME!r})"
        )
    return name


def manifest_checksum(manifest: Mapping[str, Any]) -> str:
    """sha256 hex of ``manifest``'s canonical JSON without its ``checksum`` field."""
    body = {k: v for k, v in manifest.items() if k != "checksum"}
    return hashlib.sha256(canonical_json(body).encode("ascii")).hexdigest()


def validate_manifest(manifest: Any) -> dict[str, dict[str, Any]]:
    """Check a parsed manifest's structure and checksum; return its file table.

    Args:
        manifest: the value :func:`safe_json_loads` returned for a manifest.

    Returns:
        ``{file name: {"size": int, "sha256": str}}`` as recorded.

    Raises:
        ValueError: the manifest is not an object, has another ``format``, a
            malformed or unsafe file table, or a checksum that does not match.
    """
    if not isinstance(manifest, dict):
        raise ValueError(f"manifest: expected a JSON object, got {type(manifest).__name__}")
    if manifest.get("format") != MANIFEST_FORMAT:
        raise ValueError(
            f"manifest: format is {manifest.get('format')!r}, expected {MANIFEST_FORMAT!r}"
        )
    checksum = manifest.get("checksum")
    if checksum != manifest_checksum(manifest):
        raise ValueError("manifest: checksum does not match its content (edited or corrupted)")
    files = manifest.get("files")
    if not isinstance(files, dict):
        raise ValueError("manifest: 'files' is missing or not an object")
    for name, record in files.items():
        check_file_name(name)
        if not isinstance(record, dict):
            raise ValueError(f"manifest: record of {name!r} is not an object")
        size, digest = record.get("size"), record.get("sha256")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise ValueError(f"manifest: size of {name!r} is {size!r}, expected an int >= 0")
        if not isinstance(digest, str) or not _SHA256.fullmatch(digest):
            raise ValueError(f"manifest: sha256 of {name!r} is {digest!r}, expected 64 hex digits")
    return files


def check_manifest_fields(manifest_fields: Any) -> dict[str, Any]:
    """Validate a caller's extra manifest fields; return them as a new dict.

    Args:
        manifest_fields: a mapping of JSON-able values, or None.

    Returns:
        The fields (``{}`` for None).

    Raises:
        TypeError: not a mapping, or a value JSON cannot hold (NaN included).
        ValueError: a field name the store writes itself (``format``,
            ``files``, ``created``, ``writer``, ``checksum``).
    """
    if manifest_fields is None:
        return {}
    if not isinstance(manifest_fields, Mapping):
        raise TypeError(
            f"manifest_fields: expected a mapping, got {type(manifest_fields).__name__}"
        )
    clash = sorted(RESERVED_FIELDS.intersection(manifest_fields))
    if clash:
        raise ValueError(
            f"manifest_fields: {clash} are written by the store itself; use other names"
        )
    fields = dict(manifest_fields)
    try:
        canonical_json(fields)
    except (TypeError, ValueError) as error:
        raise TypeError(f"manifest_fields: not JSON-able ({error})") from None
    return fields


def build_manifest(files: Mapping[str, bytes], fields: Mapping[str, Any]) -> str:
    """The text of a new entry's ``manifest.json``: indented JSON, checksum included.

    Args:
        files: the entry's artifacts, name -> bytes (names already checked).
        fields: extra fields, checked by :func:`check_manifest_fields`.

    Returns:
        The manifest text, ending with a newline.
    """
    from airgraph_cache import __version__

    now = datetime.datetime.now(datetime.UTC)
    manifest: dict[str, Any] = {
        "format": MANIFEST_FORMAT,
        "created": now.isoformat(timespec="microseconds").replace("+00:00", "Z"),
        "writer": {
            "package": "airgraph-cache",
            "version": __version__,
            "python": ".".join(map(str, sys.version_info[:3])),
            "pid": os.getpid(),
        },
        **fields,
        "files": {
            name: {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
            for name, data in sorted(files.items())
        },
    }
    manifest["checksum"] = manifest_checksum(manifest)
    return json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=True, allow_nan=False) + "\n"
