"""``airgraph ops``: the converter table (ATen overload -> GE ops), filtered, as a table or JSON."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from airgraph_cli._console import console, fail, print_json

__all__ = ["converter_rows", "ops_command"]


def converter_rows(op: str | None = None, ge_op: str | None = None) -> list[dict[str, Any]]:
    """One row per registered converter, sorted by ATen name, optionally filtered.

    Args:
        op: keep overloads whose name contains this text (case-insensitive),
            e.g. ``add`` or ``aten.mm.default``.
        ge_op: keep converters that emit this GE op type (case-insensitive),
            e.g. ``MatMulV2``.

    Returns:
        Dicts with ``aten`` (the overload), ``ge_ops`` (list), ``dtypes``
        (list, or ``None`` for any) and ``ranks`` (``"lo..hi"`` or ``None``).
    """
    from airgraph_core import registered  # imports torch: only when the command runs

    rows = []
    for conv in sorted(registered().values(), key=lambda c: c.name):
        if op is not None and op.lower() not in conv.name.lower():
            continue
        if ge_op is not None and ge_op.lower() not in {g.lower() for g in conv.ge_ops}:
            continue
        dtypes = (
            None
            if conv.dtypes is None
            else sorted(str(d).removeprefix("torch.") for d in conv.dtypes)
        )
        ranks = None if conv.ranks is None else f"{conv.ranks.start}..{conv.ranks.stop - 1}"
        rows.append(
            {"aten": conv.name, "ge_ops": list(conv.ge_ops), "dtypes": dtypes, "ranks": ranks}
        )
    return rows


def ops_command(
    op: Annotated[
        str | None, typer.Option("--op", help="only ATen overloads whose name contains this text")
    ] = None,
    ge_op: Annotated[
        str | None, typer.Option("--ge-op", help="only converters that emit this GE op type")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON instead of a table")] = False,
    markdown: Annotated[
        bool, typer.Option("--markdown", help="print the full support table as markdown")
    ] = False,
) -> None:
    """List the supported ATen operators and the GE ops their converters emit."""
    if markdown:
        if op is not None or ge_op is not None:
            fail("ops", "--markdown prints the whole table; drop --op/--ge-op or use --json")
        from airgraph_core import support_table

        print(support_table(), end="")
        return
    rows = converter_rows(op, ge_op)
    if as_json:
        print_json(rows)
        return
    if not rows:
        wanted = " and ".join(
            text for text in (op and f"--op {op!r}", ge_op and f"--ge-op {ge_op!r}") if text
        )
        fail("ops", f"no converter matches {wanted}; run `airgraph ops` for the full table")
    from rich.table import Table

    table = Table("ATen overload", "GE ops", "dtypes", "ranks", box=None, header_style="bold")
    for row in rows:
        dtypes = "any" if row["dtypes"] is None else ", ".join(row["dtypes"])
        table.add_row(row["aten"], ", ".join(row["ge_ops"]) or "-", dtypes, row["ranks"] or "any")
    out = console()
    out.print(table)
    out.print(f"{len(rows)} converter{'s' if len(rows) != 1 else ''}")
