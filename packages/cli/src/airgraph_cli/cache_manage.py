"""``airgraph cache verify|clear|prune|export|import``: run a compile cache, on one machine or a fleet.

Everything goes through airgraph_cache's public API (``ArtifactStore``,
``entry_pruning``, ``entry_archive``), so these commands apply exactly the
checks a load applies: ownership and modes, the signature with your key,
every file's sha256. Nothing an entry holds is executed (a ``.pt2`` is
hashed, never loaded).
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any

import typer

from airgraph_cli._console import console, fail, print_json

__all__ = [
    "clear_command",
    "export_command",
    "import_command",
    "parse_duration",
    "parse_size",
    "prune_command",
    "select_ranks",
    "verify_command",
    "verify_rank",
]

DEFAULT_ROOT = ".torchair_cache"
RootArg = Annotated[
    str, typer.Argument(metavar="ROOT", help="the cache root (cache_dir of cache_compile)")
]
EntryOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--entry",
        metavar="NAME",
        help="an entry folder name (or ENTRY/rank_N); repeat for more",
    ),
]
KeyOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--key",
        metavar="DIGEST",
        help="a key digest or its first hex digits (>= 6); repeat for more",
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="print JSON instead of text")]

_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*(s|sec|m|min|h|d|w)?", re.IGNORECASE)
_DURATION_UNITS = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "d": 86400, "w": 604800}
_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b?)", re.IGNORECASE)
_SIZE_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def parse_duration(option: tuple[str, str], text: str) -> float:
    """Seconds of a duration such as ``90s``, ``30min``, ``12h``, ``7d``, ``2w`` (plain: seconds).

    Args:
        option: the command and option names, for the error message.
        text: the value given.

    Raises:
        typer.Exit: with a message naming the option when ``text`` is not a duration.
    """
    match = _DURATION.fullmatch(text.strip())
    if match is None:
        fail(option[0], f"{option[1]}: got {text!r}, expected a duration such as 30min, 12h, 7d")
    return float(match.group(1)) * _DURATION_UNITS[(match.group(2) or "s").lower()]


def parse_size(option: tuple[str, str], text: str) -> int:
    """Bytes of a size such as ``500M``, ``2G``, ``100KiB``, ``1.5GB`` (binary units; plain: bytes).

    Raises:
        typer.Exit: with a message naming the option when ``text`` is not a size.
    """
    match = _SIZE.fullmatch(text.strip())
    if match is None:
        fail(option[0], f"{option[1]}: got {text!r}, expected a size such as 500M, 2G, 100KiB")
    return int(float(match.group(1)) * _SIZE_UNITS[match.group(2).lower()])


def _store(command: str, root: str, *, must_exist: bool = True) -> Any:
    from airgraph_cache import ArtifactStore

    if must_exist and not os.path.isdir(root):
        fail(command, f"{root!r} is not a directory (expected a cache_compile cache root)")
    return ArtifactStore(root)


def _recorded_digest(rank: Path) -> str:
    """The manifest's ``key_digest`` read as plain JSON (unverified: for matching only)."""
    from airgraph_cache import MANIFEST_NAME, safe_json_loads

    try:
        manifest = safe_json_loads((rank / MANIFEST_NAME).read_bytes())
    except (OSError, ValueError):
        return ""
    digest = manifest.get("key_digest") if isinstance(manifest, dict) else None
    return digest if isinstance(digest, str) else ""


def select_ranks(
    command: str, store: Any, entries: list[str] | None, keys: list[str] | None
) -> list[Path]:
    """The rank folders named by ``--entry``/``--key`` (all of them when neither is given).

    Raises:
        typer.Exit: a selector is malformed or matches nothing (the message names it).
    """
    ranks = store.entries()
    if not entries and not keys:
        return ranks
    chosen: dict[Path, None] = {}
    for name in entries or []:
        found = [r for r in ranks if name in (r.parent.name, f"{r.parent.name}/{r.name}")]
        if not found:
            fail(command, f"--entry {name!r}: no such entry folder under {store.root}")
        chosen.update(dict.fromkeys(found))
    for prefix in keys or []:
        if not re.fullmatch(r"[0-9a-f]{6,64}", prefix):
            fail(
                command, f"--key {prefix!r}: expected 6 to 64 lowercase hex digits of a key digest"
            )
        found = [
            r
            for r in ranks
            if _recorded_digest(r).startswith(prefix) or r.parent.name.endswith(f"_{prefix}")
        ]
        if not found:
            fail(command, f"--key {prefix!r}: no entry with such a key digest under {store.root}")
        chosen.update(dict.fromkeys(found))
    return sorted(chosen)


def _where(rank: Path) -> str:
    return f"{rank.parent.name}/{rank.name}"


@contextlib.contextmanager
def _progress(verb: str, total: int | None) -> Iterator[Callable[[str], None] | None]:
    """A progress bar on stderr (a terminal only) advanced once per rank folder; ``total``
    None when not known beforehand."""
    if (total is not None and total < 2) or not sys.stderr.isatty():
        yield None
        return
    from rich.progress import Progress

    with Progress(console=console(stderr=True), transient=True) as bar:
        task = bar.add_task(verb, total=total)
        yield lambda where: bar.update(task, advance=1, description=f"{verb} {where}")


# -- verify ----------------------------------------------------------------------------------


def verify_rank(store: Any, rank: Path) -> dict[str, Any]:
    """Read ``rank`` as a load does; ``{"entry", "status", "problem", ...}`` with status ``ok``,
    ``refused`` (not yours / writable by others / a symlink), ``unsigned``, ``damaged`` or
    ``missing``. Changes nothing."""
    from airgraph_cache import CacheError, CacheSecurityError
    from airgraph_cache.errors import CacheSignatureError

    try:
        entry = store.read(rank)
    except CacheSecurityError as error:
        return {"entry": _where(rank), "status": "refused", "problem": str(error)}
    except CacheSignatureError as error:
        return {"entry": _where(rank), "status": "unsigned", "problem": str(error)}
    except (CacheError, OSError) as error:
        return {"entry": _where(rank), "status": "damaged", "problem": str(error)}
    if entry is None:
        return {"entry": _where(rank), "status": "missing", "problem": "removed meanwhile"}
    size = sum(len(data) for data in entry.files.values())
    return {
        "entry": _where(rank),
        "status": "ok",
        "problem": None,
        "files": len(entry.files),
        "bytes": size,
    }


def verify_command(
    root: RootArg = DEFAULT_ROOT,
    entry: EntryOpt = None,
    key: KeyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Check every entry's signature, sha256s, owner and modes; exit 1 if any fails."""
    store = _store("cache verify", root)
    rows = [verify_rank(store, rank) for rank in select_ranks("cache verify", store, entry, key)]
    bad = [row for row in rows if row["status"] != "ok"]
    if as_json:
        print_json(rows)
    else:
        out = console()
        for row in rows:
            detail = f"{row['files']} files" if row["status"] == "ok" else row["problem"]
            out.print(f"{row['status']:<9} {row['entry']}  {detail}")
        out.print(f"{len(rows) - len(bad)} of {len(rows)} rank folders verify under {store.root}")
    if bad:
        raise typer.Exit(1)


# -- clear and prune -------------------------------------------------------------------------


def _remove(command: str, store: Any, ranks: list[Path]) -> list[str]:
    from airgraph_cache import CacheError

    removed = []
    for rank in ranks:
        try:
            if store.remove(rank):
                removed.append(_where(rank))
        except (CacheError, OSError) as error:
            fail(command, f"cannot remove {rank}: {error} (removed before it: {removed})")
    return removed


def clear_command(
    root: RootArg = DEFAULT_ROOT,
    entry: EntryOpt = None,
    key: KeyOpt = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="remove without asking")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Remove entries: all, or those named by --entry/--key (asks unless --yes)."""
    store = _store("cache clear", root)
    ranks = select_ranks("cache clear", store, entry, key)
    if ranks and not yes:
        what = f"{len(ranks)} rank folder{'s' if len(ranks) != 1 else ''} under {store.root}"
        if not sys.stdin.isatty():
            fail("cache clear", f"would remove {what}; pass --yes to confirm")
        if not typer.confirm(f"Remove {what}?"):
            fail("cache clear", "nothing removed (not confirmed)")
    removed = _remove("cache clear", store, ranks)
    if as_json:
        print_json({"removed": removed})
    else:
        console().print(f"removed {len(removed)} rank folder{'s' if len(removed) != 1 else ''}")


def prune_command(
    root: RootArg = DEFAULT_ROOT,
    older_than: Annotated[
        str | None,
        typer.Option(
            "--older-than",
            metavar="DURATION",
            help="remove entries not used for this long (30min, 12h, 7d)",
        ),
    ] = None,
    max_size: Annotated[
        str | None,
        typer.Option(
            "--max-size",
            metavar="SIZE",
            help="then remove least recently used until the cache fits (500M, 2G)",
        ),
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="list, remove nothing")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Remove entries unused for --older-than, then least recently used ones beyond --max-size."""
    from airgraph_cache.entry_pruning import describe_ranks, select_for_prune

    if older_than is None and max_size is None:
        fail("cache prune", "give --older-than DURATION, --max-size SIZE or both")
    seconds = (
        None if older_than is None else parse_duration(("cache prune", "--older-than"), older_than)
    )
    limit = None if max_size is None else parse_size(("cache prune", "--max-size"), max_size)
    store = _store("cache prune", root)
    ranks = describe_ranks(store)
    chosen = select_for_prune(ranks, older_than=seconds, max_bytes=limit)
    if not dry_run:
        _remove("cache prune", store, [r.path for r in chosen])
    now = time.time()
    rows = [
        {
            "entry": _where(r.path),
            "bytes": r.size,
            "hits": r.hits,
            "idle_seconds": round(now - r.last_used, 1),
        }
        for r in chosen
    ]
    kept = sum(r.size for r in ranks) - sum(r.size for r in chosen)
    if as_json:
        print_json({"removed" if not dry_run else "would_remove": rows, "kept_bytes": kept})
        return
    out = console()
    verb = "would remove" if dry_run else "removed"
    for row in rows:
        out.print(
            f"{verb} {row['entry']}  {row['bytes']} bytes, {row['hits']} hits, idle {row['idle_seconds']:.0f} s"
        )
    out.print(f"{verb} {len(rows)} of {len(ranks)} rank folders; {kept} bytes kept")


# -- export and import -----------------------------------------------------------------------


def export_command(
    output: Annotated[
        str, typer.Option("--output", "-o", help="the archive to write (.tar, .tar.gz, .tgz)")
    ],
    root: RootArg = DEFAULT_ROOT,
    entry: EntryOpt = None,
    key: KeyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Write verified entries (all, or --entry/--key) into one tar archive."""
    from airgraph_cache.entry_archive import ArchiveError, export_entries

    store = _store("cache export", root)
    ranks = select_ranks("cache export", store, entry, key)
    if not ranks:
        fail("cache export", f"{store.root} holds no entry to export")
    if not Path(output).parent.resolve().is_dir():
        fail("cache export", f"--output {output!r}: its folder does not exist")
    try:
        with _progress("exporting", len(ranks)) as progress:
            exported = export_entries(store, ranks, output, progress=progress)
    except ArchiveError as error:
        fail("cache export", str(error))
    if as_json:
        print_json({"archive": os.path.abspath(output), "entries": exported})
    else:
        plural = "s" if len(exported) != 1 else ""
        console().print(
            f"exported {len(exported)} rank folder{plural} to {os.path.abspath(output)}"
        )


def import_command(
    archive: Annotated[
        str, typer.Argument(metavar="ARCHIVE", help="an archive written by `airgraph cache export`")
    ],
    root: RootArg = DEFAULT_ROOT,
    exporter_key: Annotated[
        str | None,
        typer.Option("--exporter-key", help="the key file the exporter signed with, if not yours"),
    ] = None,
    trust: Annotated[
        bool,
        typer.Option(
            "--trust", help="install entries signed with another or no key, re-signed with yours"
        ),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Verify an archive's entries and install them into a cache root, where they hit."""
    from airgraph_cache import CacheError
    from airgraph_cache.entry_archive import ArchiveError, import_archive

    if not os.path.isfile(archive):
        fail("cache import", f"{archive!r} is not a file (expected an archive of `cache export`)")
    other = None
    if exporter_key is not None:
        from airgraph_cache import signing

        try:
            other = signing.load_key(exporter_key, create=False)
        except CacheError as error:
            fail("cache import", f"--exporter-key: {error}")
        if other is None:
            fail("cache import", f"--exporter-key {exporter_key!r}: no such file")
    store = _store("cache import", root, must_exist=False)
    try:
        with _progress("installing", None) as progress:
            report = import_archive(
                store, archive, exporter_key=other, trust=trust, progress=progress
            )
    except ArchiveError as error:
        fail("cache import", f"{error}; nothing was installed")
    except (CacheError, OSError) as error:
        fail("cache import", f"cannot install into {store.root}: {error}")
    if as_json:
        print_json(
            {"installed": report.installed, "kept": report.kept, "resigned": report.resigned}
        )
        return
    out = console()
    for where in report.installed:
        note = " (re-signed with your key)" if where in report.resigned else ""
        out.print(f"installed {where}{note}")
    for where in report.kept:
        out.print(f"kept      {where} (already there and verified)")
    out.print(
        f"{len(report.installed)} installed, {len(report.kept)} kept under {os.path.abspath(root)}"
    )
