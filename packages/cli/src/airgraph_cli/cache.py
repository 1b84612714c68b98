"""``airgraph cache``: inspect a ``cache_compile`` cache (through airgraph_cache's public API)."""

from __future__ import annotations

import os
import time
from typing import Annotated, Any

import typer

from airgraph_cli._console import console, fail, print_json

__all__ = ["app", "entry_rows"]

app = typer.Typer(
    help="Inspect a cache_compile cache: list its entries, show one.",
    no_args_is_help=True,
    add_completion=False,
)

RootArg = Annotated[str, typer.Argument(help="the cache root (cache_dir of cache_compile)")]


def _root(command: str, root: str) -> str:
    if not os.path.isdir(root):
        fail(command, f"{root!r} is not a directory (expected a cache_compile cache root)")
    return root


def entry_rows(root: str) -> list[dict[str, Any]]:
    """One dict per rank folder under ``root``: path, entry, rank, files, bytes, age."""
    from airgraph_cache import ArtifactStore

    rows = []
    now = time.time()
    for entry in ArtifactStore(root).entries():
        files = [f for f in entry.iterdir() if f.is_file()]
        size = sum(f.stat().st_size for f in files)
        modified = max((f.stat().st_mtime for f in files), default=entry.stat().st_mtime)
        rows.append(
            {
                "path": str(entry),
                "entry": entry.parent.name,
                "rank": entry.name,
                "files": len(files),
                "bytes": size,
                "age_seconds": round(now - modified, 1),
            }
        )
    return rows


def _size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def _age(seconds: float) -> str:
    for unit, span in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= span:
            return f"{seconds / span:.0f} {unit}"
    return f"{seconds:.0f} s"


@app.command("ls")
def ls_command(
    root: RootArg = ".torchair_cache",
    as_json: Annotated[bool, typer.Option("--json", help="print JSON instead of a table")] = False,
) -> None:
    """List the entries of a cache root (default .torchair_cache)."""
    rows = entry_rows(_root("cache ls", root))
    if as_json:
        print_json(rows)
        return
    from rich.table import Table

    table = Table("entry", "files", "size", "age", box=None, header_style="bold")
    for row in rows:
        table.add_row(
            f"{row['entry']}/{row['rank']}",
            str(row["files"]),
            _size(row["bytes"]),
            _age(row["age_seconds"]),
        )
    out = console()
    if rows:
        out.print(table)
    out.print(f"{len(rows)} entr{'y' if len(rows) == 1 else 'ies'} under {os.path.abspath(root)}")


@app.command("show")
def show_command(
    path: Annotated[str, typer.Argument(help="the cache root, an entry folder or a rank folder")],
) -> None:
    """Print a cache entry: key, versions, files with sha256, GE graph."""
    from airgraph_cache import readable_cache

    readable_cache(_root("cache show", path))
