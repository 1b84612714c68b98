"""``airgraph check MODULE:FACTORY``: will this model lower to GE, and to what?"""

from __future__ import annotations

from collections import Counter
from typing import Annotated, Any

import typer

from airgraph_cli._analysis import Analysis, analyze
from airgraph_cli._console import EXIT_USER_ERROR, Policy, console, fail, print_json
from airgraph_cli._model import ModelSpecError, build_workload

__all__ = ["check_command", "report_dict", "TargetArg", "InputOpt", "GearsOpt", "DynamicOpt"]

TargetArg = Annotated[
    str,
    typer.Argument(
        metavar="MODULE:FACTORY",
        help="the model: MODULE (importable from here, or a .py path) and FACTORY (an "
        "nn.Module, or a callable returning one or (model, example_inputs))",
        show_default=False,
    ),
]
InputOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--input",
        metavar="SHAPE:DTYPE",
        help="one example input per forward argument, in order, e.g. 2,16,64:float32",
    ),
]
GearsOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--gears",
        metavar="INPUT:DIM=G,G,...",
        help="set_dim_gears on an input's dim, e.g. 0:0=1,2,4",
    ),
]
PolicyOpt = Annotated[Policy, typer.Option(help="the gear merge policy of --gears")]
DynamicOpt = Annotated[
    bool, typer.Option("--dynamic", help="trace with symbolic sizes (torch.compile dynamic=True)")
]


def run_analysis(
    command: str,
    target: str,
    inputs: list[str] | None,
    gears: list[str] | None,
    dynamic: bool,
    policy: Policy,
) -> Analysis:
    """Build and analyze the workload, turning a bad spec into exit code 1."""
    try:
        workload = build_workload(target, inputs or [], gears or [])
    except ModelSpecError as e:
        fail(command, str(e))
    return analyze(workload, dynamic=dynamic, policy=Policy(policy).value)


def report_dict(analysis: Analysis) -> dict[str, Any]:
    """The report of ``airgraph check --json``."""
    graph = analysis.ge_graph
    plan = analysis.gear_plan
    return {
        "model": analysis.workload.name,
        "inputs": analysis.workload.described_inputs,
        "dynamic": analysis.dynamic,
        "ok": analysis.ok,
        "aten_ops": dict(analysis.aten_ops.most_common()),
        "ge_ops": dict(analysis.ge_op_counts().most_common()),
        "ge_graph": None
        if graph is None
        else {"name": graph.name, "ops": len(graph.ops), "static": graph.is_static()},
        "unsupported": [
            {"aten": op.target, "reason": op.reason, "source": op.source}
            for op in analysis.unsupported
        ],
        "graph_breaks": [{"reason": b.reason, "where": b.where} for b in analysis.graph_breaks],
        "prototype_problems": analysis.problems,
        "gears": None
        if plan is None
        else {
            "policy": plan.policy,
            "combinations": [[list(s) for s in combo] for combo in plan.combinations],
        },
        "error": analysis.error,
        "seconds": {k: round(v, 3) for k, v in analysis.seconds.items()},
    }


def op_histogram(counts: Counter[str], columns: int = 4) -> Any:
    """A rich grid of ``type count`` pairs, most frequent first, ``columns`` pairs a row."""
    from rich.table import Table

    grid = Table.grid(padding=(0, 1))
    for _ in range(columns):
        grid.add_column()
        grid.add_column(justify="right", style="bold")
        grid.add_column(width=2)
    items = counts.most_common()
    for start in range(0, len(items), columns):
        row: list[str] = []
        for op_type, n in items[start : start + columns]:
            row += [f"  {op_type}", str(n), ""]
        grid.add_row(*row)
    return grid


def _print_report(analysis: Analysis) -> None:
    out = console()
    w = analysis.workload
    mode = "dynamic" if analysis.dynamic else "static"
    out.print(f"[bold]{w.name}[/] ({mode}) inputs: {', '.join(w.described_inputs) or 'none'}")
    seconds = ", ".join(f"{k} {v:.2f} s" for k, v in analysis.seconds.items())
    if analysis.aten_ops:
        total = sum(analysis.aten_ops.values())
        out.print(f"ATen graph: {total} calls of {len(analysis.aten_ops)} overloads ({seconds})")
    graph = analysis.ge_graph
    if graph is not None:
        counts = analysis.ge_op_counts()
        shape = "static shapes" if graph.is_static() else "dynamic dims (-1)"
        out.print(f"GE graph {graph.name}: {len(graph.ops)} ops of {len(counts)} types, {shape}")
        out.print(op_histogram(counts))
    if analysis.gear_plan is not None:
        out.print(analysis.gear_plan.describe().rstrip())
    if analysis.graph_breaks:
        out.print(
            f"[red]{len(analysis.graph_breaks)} graph break(s)[/] (airgraph needs one graph):"
        )
        for b in analysis.graph_breaks:
            out.print(f"  {b.where}: {b.reason}", markup=False)
    if analysis.unsupported:
        out.print(f"[red]{len(analysis.unsupported)} unsupported ATen op(s)[/]:")
        for op in analysis.unsupported:
            out.print(f"  {op}", markup=False)
        out.print(
            "  see `airgraph ops --op NAME` for what a converter supports, or set "
            'config.airgraph_config.unsupported_op = "fallback" to run such graphs eagerly'
        )
    if analysis.problems:
        out.print(f"[red]GE's op prototypes reject {len(analysis.problems)} thing(s)[/]:")
        for problem in analysis.problems:
            out.print(f"  {problem}", markup=False)
    elif graph is not None:
        out.print("GE op prototypes: every op accepted")
    if analysis.error:
        out.print(f"[red]{analysis.error}[/]")
    out.print("[green]ok[/]: lowers to one GE graph" if analysis.ok else "[red]not ok[/]")


def check_command(
    target: TargetArg,
    inputs: InputOpt = None,
    gears: GearsOpt = None,
    dynamic: DynamicOpt = False,
    policy: PolicyOpt = Policy.zip,
    as_json: Annotated[bool, typer.Option("--json", help="print the report as JSON")] = False,
) -> None:
    """Trace and lower a model to GE without running it compiled; report what GE gets.

    Reports GE op counts by type, ATen ops without a converter (with source
    lines), graph breaks, and what GE's op prototypes would reject.
    """
    analysis = run_analysis("check", target, inputs, gears, dynamic, policy)
    if as_json:
        print_json(report_dict(analysis))
    else:
        _print_report(analysis)
    if not analysis.ok:
        raise typer.Exit(EXIT_USER_ERROR)
