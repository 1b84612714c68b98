"""A readable view of compile cache entries, TorchAir's ``readable_cache`` for airgraph.

It reads entries through :meth:`ArtifactStore.read`, so it verifies them the
way a load would, but it never changes anything on disk: a damaged or
refused entry is shown with its problem instead of its content.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, TextIO

from airgraph_cache.manifest import MANIFEST_NAME, canonical_json, safe_json_loads
from airgraph_cache.store import ArtifactStore, CacheError, CacheIntegrityError

__all__ = ["readable_cache"]

_GRAPH_FILES = ("graph.pb",)


def _is_graph_file(name: str) -> bool:
    return name in _GRAPH_FILES or (name.startswith("graph_") and name.endswith(".pb"))


def _format_value(value: Any) -> str:
    if isinstance(value, str):
        return value
    return canonical_json(value)


def _describe_key(key: dict[str, Any], lines: list[str]) -> None:
    for name in sorted(key):
        value = key[name]
        if name == "inputs" and isinstance(value, list):
            lines.append("  inputs:")
            lines.extend(f"    [{i}] {_format_value(item)}" for i, item in enumerate(value))
        elif isinstance(value, dict) and name != "module_state":
            lines.append(f"  {name}:")
            lines.extend(f"    {k}: {_format_value(v)}" for k, v in sorted(value.items()))
        elif name == "module_state" and isinstance(value, dict):
            params, buffers = value.get("parameters", {}), value.get("buffers", {})
            lines.append(f"  module_state: {len(params)} parameters, {len(buffers)} buffers")
            for kind, table in (("param", params), ("buffer", buffers)):
                for tname, spec in table.items():
                    lines.append(f"    {kind} {tname}: {_format_value(spec)}")
        else:
            lines.append(f"  {name}: {_format_value(value)}")


def _describe_entry(store: ArtifactStore, path: Path) -> list[str]:
    lines = [f"entry: {path}"]
    try:
        entry = store.read(path)
    except CacheError as error:
        kind = "damaged" if isinstance(error, CacheIntegrityError) else "refused"
        return [*lines, f"  status: {kind}: {error}"]
    except OSError as error:
        return [*lines, f"  status: unreadable: {error}"]
    if entry is None:
        return [*lines, "  status: missing"]
    manifest = entry.manifest
    lines.append(f"  status: ok ({len(entry.files)} files verified)")
    lines.append(f"  created: {manifest.get('created')}")
    writer = manifest.get("writer")
    if isinstance(writer, dict):
        lines.append(f"  writer: {writer.get('package')} {writer.get('version')}")
    if "key_digest" in manifest:
        lines.append(f"  key digest: {manifest['key_digest']}")
    key = manifest.get("key")
    if isinstance(key, dict):
        lines.append("key:")
        _describe_key(key, lines)
    other = {
        k: v
        for k, v in manifest.items()
        if k not in {"format", "created", "writer", "key", "key_digest", "files", "checksum"}
    }
    for name, value in sorted(other.items()):
        lines.append(f"{name}: {_format_value(value)}")
    lines.append("files:")
    for name, record in sorted(manifest["files"].items()):
        lines.append(f"  {name}  {record['size']} bytes  sha256 {record['sha256']}")
    if "gears.json" in entry.files:
        lines.append("gears (gears.json):")
        try:
            gears = safe_json_loads(entry.files["gears.json"])
            lines.append(f"  {_format_value(gears)}")
        except ValueError as error:
            lines.append(f"  <not JSON: {error}>")
    for name in sorted(entry.files):
        if _is_graph_file(name):
            lines.append(f"graph ({name}):")
            lines.extend("  " + line for line in _graph_text(entry.files[name]).splitlines())
    return lines


def _summarize_entry(store: ArtifactStore, path: Path) -> str:
    name = f"{path.parent.name}/{path.name}"
    try:
        entry = store.read(path)
    except CacheError as error:
        kind = "damaged" if isinstance(error, CacheIntegrityError) else "refused"
        return f"  {name}  {kind}: {error}"
    except OSError as error:
        return f"  {name}  unreadable: {error}"
    if entry is None:
        return f"  {name}  missing"
    size = sum(len(data) for data in entry.files.values())
    return (
        f"  {name}  ok  created {entry.manifest.get('created')}  "
        f"{len(entry.files)} files, {size} bytes"
    )


def _graph_text(data: bytes) -> str:
    from airgraph_core import deserialize, dump_text

    try:
        return dump_text(deserialize(data))
    except (ValueError, TypeError) as error:
        return f"<not a GE graph: {error}>"


def _is_rank_dir(path: Path) -> bool:
    return (path / MANIFEST_NAME).exists() or path.name.startswith("rank_")


def readable_cache(
    cache_bin: str | os.PathLike[str],
    print_output: bool = True,
    file: str | os.PathLike[str] | TextIO | None = None,
) -> str:
    """Print and return a readable view of a compile cache entry, or list a cache.

    TorchAir's signature: ``readable_cache(cache_bin, print_output=True,
    file=None)``. ``cache_bin`` may be a rank folder (one entry: status, key
    inputs, versions, files with sizes and sha256, gears from ``gears.json``
    and the text dump of every ``graph.pb`` / ``graph_*.pb``), an entry
    folder (each of its rank folders in turn) or the cache root (one line
    per entry: status, creation time, number and size of files). Entries are
    verified but nothing in the cache is changed.

    Args:
        cache_bin: a cache root, entry folder or rank folder.
        print_output: print the view on ``sys.stdout``.
        file: also write the view to this file (its folder is created; the
            file is written with mode 0600 and must not be a symlink), or to
            this open text stream; None to write no file.

    Returns:
        The text of the view.

    Raises:
        TypeError: ``cache_bin`` is not a path, or ``file`` is neither a
            path, a text stream nor None.
        FileNotFoundError: ``cache_bin`` does not exist or is not a folder.
        ValueError: ``file`` is a symlink.

    Examples:
        >>> readable_cache(".torchair_cache", file="cache.txt")  # doctest: +SKIP
    """
    path = cache_bin
    if not isinstance(print_output, bool):
        raise TypeError(f"print_output: expected a bool, got {type(print_output).__name__}")
    if file is not None and not isinstance(file, (str, os.PathLike)) and not hasattr(file, "write"):
        raise TypeError(f"file: expected a path, a text stream or None, got {type(file).__name__}")
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"cache_bin: expected a path, got {type(path).__name__}")
    target = Path(os.path.abspath(os.fspath(path)))
    if not target.is_dir():
        raise FileNotFoundError(f"cache_bin: no folder at the path {str(target)!r}")

    if _is_rank_dir(target):
        store = ArtifactStore(target.parent.parent)
        lines = _describe_entry(store, target)
    elif any(child.name.startswith("rank_") for child in target.iterdir()):
        store = ArtifactStore(target.parent)
        ranks = sorted(c for c in target.iterdir() if c.name.startswith("rank_") and c.is_dir())
        lines = []
        for rank in ranks:
            lines.extend(_describe_entry(store, rank))
    else:
        store = ArtifactStore(target)
        entries = store.entries()
        lines = [f"compile cache: {target} ({len(entries)} entries)"]
        lines.extend(_summarize_entry(store, rank) for rank in entries)
    text = "\n".join(lines) + "\n"
    if print_output:
        print(text, end="", file=sys.stdout)
    if isinstance(file, (str, os.PathLike)):
        _write_private(Path(os.path.abspath(os.fspath(file))), text)
    elif file is not None:
        file.write(text)
    return text


def _write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` readable by its owner only; never through a symlink."""
    if path.is_symlink():
        raise ValueError(f"file: {str(path)!r} is a symlink; give a regular file")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        os.fchmod(out.fileno(), 0o600)
        out.write(text)
