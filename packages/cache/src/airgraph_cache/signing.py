"""Entry signatures: HMAC-SHA256 of each manifest with a per-user secret key kept outside the cache.

The manifest's own checksum only catches accidents: anyone who can write to
the cache can recompute it. The signature is what makes an entry *ours*: a
writer signs the exact bytes of ``manifest.json`` (with the entry's place in
the cache, ``<entry folder>/<rank folder>``, so a signed entry moved under
another key or rank does not verify) into ``manifest.sig``, and a reader
checks that signature before it parses the manifest or reads any artifact.
The manifest lists the sha256 of every artifact, so the signature covers
them all.

The key:

- ``$AIRGRAPH_CACHE_KEY`` is the *path* of the key file, when set (fleets
  deploy one key file to every machine and point the variable at it; a path
  rather than the key itself keeps the secret out of process listings,
  ``/proc/<pid>/environ`` dumps and child processes' environments). Default
  ``~/.config/airgraph/key``.
- Created on first use (32 random bytes, hex, mode 0600, its folder 0700 when
  the cache creates it), atomically: of several processes creating it at
  once, all end up with the same key.
- It must be a regular file owned by the current user, neither readable nor
  writable by group or others, holding at least 32 bytes (whitespace around
  them is ignored; ``openssl rand -hex 32 > key`` makes one). Anything else
  is a :class:`CacheKeyError`: the cache is not used, never trusted.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import hmac
import os
import secrets
import stat
from pathlib import Path

from airgraph_cache.errors import CacheError

__all__ = [
    "KEY_ENV",
    "SIGNATURE_NAME",
    "CacheKeyError",
    "default_key_path",
    "load_key",
    "sign_manifest",
    "verify_manifest",
]

#: Environment variable holding the path of the signing key file.
KEY_ENV = "AIRGRAPH_CACHE_KEY"
#: File name of an entry's signature, beside ``manifest.json``.
SIGNATURE_NAME = "manifest.sig"
#: Shortest key accepted, in bytes.
MIN_KEY_BYTES = 32
# Key files are tiny; a larger one is not a key.
_MAX_KEY_BYTES = 4096
# Domain separation: these signatures can never be mistaken for another use of the key.
_DOMAIN = b"airgraph-cache-manifest/1\0"

_KEYS: dict[str, bytes] = {}


class CacheKeyError(CacheError):
    """The signing key file cannot be created or read, or is not private to the current user."""


def default_key_path() -> Path:
    """The key file: ``$AIRGRAPH_CACHE_KEY`` if set, else ``~/.config/airgraph/key``."""
    configured = os.environ.get(KEY_ENV)
    if configured:
        return Path(os.path.abspath(os.path.expanduser(configured)))
    return Path(os.path.expanduser("~")) / ".config" / "airgraph" / "key"


def load_key(path: str | os.PathLike[str] | None = None, *, create: bool = True) -> bytes | None:
    """The signing key, read once per process and path; created on first use if ``create``.

    Args:
        path: the key file; default :func:`default_key_path`.
        create: create the file (and its folder, 0700) when missing.

    Returns:
        The key bytes, or None when the file is missing and ``create`` is False.

    Raises:
        TypeError: ``path`` is not a path or None.
        CacheKeyError: the file cannot be created or read, is not a regular
            file owned by the current user with no group/other access, or
            holds fewer than 32 bytes.
    """
    if path is not None and not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path: expected a path or None, got {type(path).__name__}")
    where = Path(os.path.abspath(os.fspath(path))) if path is not None else default_key_path()
    cached = _KEYS.get(str(where))
    if cached is not None:
        return cached
    try:
        key = _read_key(where)
        if key is None:
            if not create:
                return None
            key = _create_key(where)
    except OSError as error:
        reason = os.strerror(error.errno) if error.errno else str(error)
        raise CacheKeyError(f"signing key {where}: {reason}") from None
    _KEYS[str(where)] = key
    return key


def _read_key(where: Path) -> bytes | None:
    try:
        fd = os.open(where, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
    except FileNotFoundError:
        return None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise CacheKeyError(f"signing key {where}: not a regular file")
        if st.st_uid != os.geteuid():
            raise CacheKeyError(
                f"signing key {where}: owned by uid {st.st_uid}, not by the current user "
                f"(uid {os.geteuid()})"
            )
        if st.st_mode & 0o077:
            raise CacheKeyError(
                f"signing key {where}: mode {stat.S_IMODE(st.st_mode):04o} gives group or "
                "others access; expected 0600"
            )
        data = os.read(fd, _MAX_KEY_BYTES + 1)
    finally:
        os.close(fd)
    key = data.strip()
    if not MIN_KEY_BYTES <= len(key) <= _MAX_KEY_BYTES:
        raise CacheKeyError(
            f"signing key {where}: holds {len(key)} bytes, expected {MIN_KEY_BYTES} to "
            f"{_MAX_KEY_BYTES} (e.g. `openssl rand -hex 32`)"
        )
    return key


def _create_key(where: Path) -> bytes:
    folder = where.parent
    if not folder.exists():
        os.makedirs(folder, mode=0o700, exist_ok=True)
    key = secrets.token_hex(32).encode("ascii")
    tmp = folder / f".{where.name}.tmp-{secrets.token_hex(8)}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(key + b"\n")
            handle.flush()
            os.fsync(handle.fileno())
        try:
            # link, not rename: of two processes creating the key at once, the first wins
            # and the second reads the winner's key instead of replacing it.
            os.link(tmp, where)
        except FileExistsError:
            existing = _read_key(where)
            if existing is None:
                raise OSError(errno.ENOENT, "key file vanished while being created") from None
            return existing
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    return key


def _mac(key: bytes, location: str, manifest: bytes) -> str:
    message = _DOMAIN + location.encode("utf-8") + b"\0" + manifest
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def sign_manifest(key: bytes, location: str, manifest: bytes) -> bytes:
    """The content of ``manifest.sig`` for ``manifest`` stored at ``location``.

    Args:
        key: the signing key (:func:`load_key`).
        location: the entry's place in the cache, ``<entry folder>/<rank folder>``.
        manifest: the exact bytes of ``manifest.json``.

    Returns:
        ``hmac-sha256:<64 hex digits>`` and a newline, as ASCII bytes.
    """
    return f"hmac-sha256:{_mac(key, location, manifest)}\n".encode("ascii")


def verify_manifest(key: bytes, location: str, manifest: bytes, signature: bytes) -> bool:
    """True if ``signature`` is :func:`sign_manifest`'s for these bytes, in constant time."""
    expected = sign_manifest(key, location, manifest)
    return hmac.compare_digest(expected, bytes(signature))
