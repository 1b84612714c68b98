"""``airgraph cache``: inspect and manage a ``cache_compile`` cache (through airgraph_cache's public API).

``ls``, ``show`` and ``diff`` live here; ``verify``, ``clear``, ``prune``,
``export`` and ``import`` in :mod:`airgraph_cli.cache_manage`.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from airgraph_cli import cache_manage
from airgraph_cli._console import console, exit_codes, fail, print_json

__all__ = ["app", "entry_rows"]

app = typer.Typer(
    help="Inspect and manage a cache_compile cache: ls, show, diff, verify, clear, prune, "
    "export, import.",
    no_args_is_help=True,
    add_completion=False,
)

RootArg = Annotated[
    str, typer.Argument(metavar="ROOT", help="the cache root (cache_dir of cache_compile)")
]


def _root(command: str, root: str) -> str:
    if not os.path.isdir(root):
        fail(command, f"{root!r} is not a directory (expected a cache_compile cache root)")
    return root


def _manifest(rank: Path) -> dict[str, Any]:
    """A rank folder's manifest as strict JSON, or ``{}`` when it is missing or unreadable."""
    from airgraph_cache import MANIFEST_NAME, safe_json_loads

    try:
        manifest = safe_json_loads((rank / MANIFEST_NAME).read_bytes())
    except (OSError, ValueError):
        return {}
    return manifest if isinstance(manifest, dict) else {}


def entry_rows(root: str, *, verify: bool = False) -> list[dict[str, Any]]:
    """One dict per entry folder under ``root``: method, model class, ranks, size, age, last
    use (seconds ago, None if never loaded), hits (loads from disk, all ranks) and, with
    ``verify``, ``verifies``: "ok" or the first failing rank's status (``cache verify``'s)."""
    from airgraph_cache import ArtifactStore

    store = ArtifactStore(root)
    by_entry: dict[Path, list[Path]] = {}
    for rank in store.entries():
        by_entry.setdefault(rank.parent, []).append(rank)
    rows = []
    now = time.time()
    for entry, ranks in sorted(by_entry.items()):
        files = [f for rank in ranks for f in rank.iterdir() if f.is_file() and f.name[:1] != "."]
        uses = [store.usage(rank) for rank in ranks]
        last = max((u.last_used for u in uses if u.last_used is not None), default=None)
        modified = max((f.stat().st_mtime for f in files), default=entry.stat().st_mtime)
        key = next((k for k in (_manifest(r).get("key") for r in ranks) if isinstance(k, dict)), {})
        rows.append(
            {
                "path": str(entry),
                "entry": entry.name,
                "method": key.get("method"),
                "model_class": key.get("model_class"),
                "ranks": sorted(rank.name for rank in ranks),
                "files": len(files),
                "bytes": sum(f.stat().st_size for f in files),
                "age_seconds": round(now - modified, 1),
                "last_use_seconds": None if last is None else round(now - last, 1),
                "hits": sum(u.hits for u in uses),
            }
        )
        if verify:
            states = [cache_manage.verify_rank(store, rank)["status"] for rank in ranks]
            rows[-1]["verifies"] = next((s for s in states if s != "ok"), "ok")
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


@app.command("ls", epilog=exit_codes("ROOT is not a directory"))
def ls_command(
    root: RootArg = ".torchair_cache",
    as_json: Annotated[bool, typer.Option("--json", help="print JSON instead of a table")] = False,
    verify: Annotated[
        bool, typer.Option("--verify", help="also check each entry as `cache verify` does")
    ] = False,
) -> None:
    """List the entries of a cache root (default .torchair_cache), with last use and hits."""
    rows = entry_rows(_root("cache ls", root), verify=verify)
    if as_json:
        print_json(rows)
        return
    from rich.table import Table

    columns = ["entry", "method", "model class", "ranks", "size", "age", "last use", "hits"]
    table = Table(*columns, *(["verifies"] if verify else []), box=None, header_style="bold")
    for row in rows:
        table.add_row(
            row["entry"],
            row["method"] or "?",
            row["model_class"] or "?",
            ", ".join(r.removeprefix("rank_") for r in row["ranks"]),
            _size(row["bytes"]),
            _age(row["age_seconds"]),
            "never" if row["last_use_seconds"] is None else _age(row["last_use_seconds"]),
            str(row["hits"]),
            *([row["verifies"]] if verify else []),
        )
    out = console()
    if rows:
        out.print(table)
    ranks = sum(len(row["ranks"]) for row in rows)
    out.print(
        f"{len(rows)} entr{'y' if len(rows) == 1 else 'ies'} ({ranks} rank folder"
        f"{'s' if ranks != 1 else ''}) under {os.path.abspath(root)}"
    )


@app.command("show", epilog=exit_codes("PATH is not a directory"))
def show_command(
    path: Annotated[
        str, typer.Argument(metavar="PATH", help="the cache root, an entry folder or a rank folder")
    ],
) -> None:
    """Print a cache entry: key, versions, files with sha256, GE graph."""
    from airgraph_cache import readable_cache

    readable_cache(_root("cache show", path))


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict) and value:
        flat: dict[str, Any] = {}
        for name, item in value.items():
            flat.update(_flatten(item, f"{prefix}.{name}" if prefix else str(name)))
        return flat
    return {prefix: value}


def _key_of(path: str) -> dict[str, Any]:
    folder = Path(path)
    if not folder.is_dir():
        fail("cache diff", f"{path!r} is not a directory (expected an entry or rank folder)")
    ranks = [folder] if _manifest(folder) else sorted(folder.glob("rank_*"))
    for rank in ranks:
        key = _manifest(rank).get("key")
        if isinstance(key, dict):
            return key
    fail("cache diff", f"{path!r} holds no readable manifest.json with a cache key")


@app.command("diff", epilog=exit_codes("A or B is not a directory or holds no readable cache key"))
def diff_command(
    a: Annotated[str, typer.Argument(metavar="A", help="an entry folder or rank folder")],
    b: Annotated[str, typer.Argument(metavar="B", help="another entry folder or rank folder")],
    as_json: Annotated[bool, typer.Option("--json", help="print JSON instead of text")] = False,
) -> None:
    """Show which cache key fields differ between two entries (why both exist)."""
    key_a, key_b = _flatten(_key_of(a)), _flatten(_key_of(b))
    fields = sorted(
        name for name in key_a.keys() | key_b.keys() if key_a.get(name) != key_b.get(name)
    )
    rows = [{"field": name, "a": key_a.get(name), "b": key_b.get(name)} for name in fields]
    if as_json:
        print_json(rows)
        return
    out = console()
    if not rows:
        out.print("the keys are equal")
        return
    from rich.table import Table

    table = Table("key field", "A", "B", box=None, header_style="bold")
    for row in rows:
        table.add_row(row["field"], repr(row["a"]), repr(row["b"]))
    out.print(table)
    out.print(f"{len(rows)} field{'s differ' if len(rows) != 1 else ' differs'}")


_NO_ROOT = "ROOT is not a directory, an --entry or --key matches nothing"
app.command("verify", epilog=exit_codes(f"{_NO_ROOT}, or any rank folder does not verify"))(
    cache_manage.verify_command
)
app.command(
    "clear",
    epilog=exit_codes(
        f"{_NO_ROOT}, the removal is not confirmed (off a terminal: no --yes), or a folder "
        "cannot be removed"
    ),
)(cache_manage.clear_command)
app.command(
    "prune",
    epilog=exit_codes(
        "ROOT is not a directory, neither limit is given, a limit is malformed, or a folder "
        "cannot be removed"
    ),
)(cache_manage.prune_command)
app.command(
    "export",
    epilog=exit_codes(
        f"{_NO_ROOT}, there is no entry, an entry does not verify, or the archive cannot be written"
    ),
)(cache_manage.export_command)
app.command(
    "import",
    epilog=exit_codes(
        "ARCHIVE is not a file, --exporter-key is missing or not a key, an entry is refused "
        "(then nothing is installed), or ROOT cannot be written"
    ),
)(cache_manage.import_command)
