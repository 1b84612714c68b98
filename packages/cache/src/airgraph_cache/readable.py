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


def readable_cache(path: str | os.PathLike[str], *, file: TextIO | None = None) -> str:
    """Print and return a readable view of a compile cache entry, or list a cache.

    ``path`` may be a rank folder (one entry: status, key inputs, versions,
    files with sizes and sha256, gears from ``gears.json`` and the text dump of
    every ``graph.pb`` / ``graph_*.pb``), an entry folder (each of its rank
    folders in turn) or the cache root (one line per entry: status, creation
    time, number and size of files). Entries are verified
    but nothing on disk is changed.

    Args:
        path: a cache root, entry folder or rank folder.
        file: where to print; ``sys.stdout`` when None.

    Returns:
        The text that was printed.

    Raises:
        TypeError: ``path`` is not a path.
        FileNotFoundError: ``path`` does not exist or is not a folder.

    Examples:
        >>> readable_cache(".torchair_cache")  # doctest: +SKIP
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path: expected a path, got {type(path).__name__}")
    target = Path(os.path.abspath(os.fspath(path)))
    if not target.is_dir():
        raise FileNotFoundError(f"path: {str(target)!r} is not a folder")

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
    print(text, end="", file=file if file is not None else sys.stdout)
    return text
