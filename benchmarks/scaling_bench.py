"""Compile and warm-start time against model depth, airgraph vs torch.compile.

Issue 12 item 7. For each depth (default 2, 4, 8, 16 layers) every row runs in a
fresh process (``benchmarks/cache_bench/hf_child.py``, through
``cache_bench._Runner``) on a ``transformers`` model from a small config
(:data:`cache_hf_bench.MODELS`: LLaMA by default, or GPT-2; hidden 128, random
weights, ``(1, 32)`` token ids, ``torch.no_grad()``), only the number of layers
changing:

=====  =====================================================================
T2     torch.compile cold, empty Inductor cache dir
T3     torch.compile warm: FX graph + AOTAutograd caches in T2's dir
A4     airgraph ``cache_compile(dynamic=False)`` cold
A4g    the same with ``ge_cache=True``
A5     airgraph warm, ``ge_cache=False``, in A4's Inductor dir
A7     airgraph warm, ``ge_cache=True``, fresh Inductor dir and TMPDIR
       (the headline: it loads the cached program, it does not trace)
=====  =====================================================================

Each row records the first call's wall time (from making the compiled function
to its first result), its CPU time (user + system of the child and of the
compiler processes it waited for; the machine may be shared, CPU time is the
steadier figure) and the CPU time of the whole child process (imports
included: ``resource.getrusage(RUSAGE_CHILDREN)`` around it). The load average
is recorded at the start and the end. Warm rows are medians over ``repeats``
processes. Growth is the value at the deepest depth ÷ the shallowest; the
slope is a least-squares fit in seconds per layer.

Usage: ``python benchmarks/scaling_bench.py [--out benchmarks/results]
[--depths 2,4,8,16] [--model llama] [--repeats 3] [--quick]``; ``--quick``
runs every warm row once (to check that the rows run). ``benchmarks/run.py``
calls :func:`run`. Writes ``scaling.json`` and ``scaling.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
from pathlib import Path
from typing import Any

from cache_bench import HERE, _Runner, environment
from cache_hf_bench import CHILD, MODELS
from run import format_cell, median_record, timed_work_dir, write_atomic

DEPTHS = (2, 4, 8, 16)

#: airgraph's warm start (A7) counts as flat if its first call at the deepest depth is within
#: this factor of the shallowest, or within FLAT_NOISE_S of it (a fraction of a second is
#: below the noise of a shared machine). The program it loads and the weights grow with depth;
#: tracing would grow as the compile rows do.
FLAT_GROWTH_LIMIT = 1.5
FLAT_NOISE_S = 0.25

ROWS = {
    "T2": "torch.compile cold (empty Inductor dir)",
    "T3": "torch.compile warm (T2's Inductor dir)",
    "A4": "airgraph cold, ge_cache=False",
    "A4g": "airgraph cold, ge_cache=True",
    "A5": "airgraph warm, ge_cache=False (A4's Inductor dir)",
    "A7": "airgraph warm, ge_cache=True, fresh Inductor dir + TMPDIR",
}

#: Expected ``cache_compile`` status per airgraph row.
STATUS = {"A4": "compiled", "A4g": "compiled", "A5": "hit", "A7": "hit"}

#: The figures tabulated against depth: (field, heading, digits shown, growth and slope fitted).
#: The steady call and the load show how loaded the machine was for each process: torch's
#: threads contending with other processes inflate wall and CPU time alike.
MEASURES = (
    ("first_call_s", "First call, wall time (s)", 2, True),
    ("first_call_cpu_s", "First call, CPU time incl. compiler processes (s)", 2, True),
    ("process_cpu_s", "Whole process, CPU time incl. imports (s)", 2, True),
    ("steady_call_s", "Steady call after the first (s), a load indicator", 4, True),
    ("loadavg_1m_at_spawn", "Load average (1 min) when the process started", 1, False),
)


def run(
    out: Path,
    *,
    depths: tuple[int, ...] = DEPTHS,
    model: str = "llama",
    repeats: int = 3,
    verbose: bool = True,
) -> dict[str, Any]:
    """Run every row at each depth; write ``scaling.json`` and ``scaling.md`` into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    record: dict[str, Any] = {
        "benchmark": "scaling",
        "environment": environment(),
        "model": model,
        "model_description": MODELS[model].replace("4 layers", "N layers"),
        "depths": list(depths),
        "repeats": repeats,
        "rows": {},
    }
    with timed_work_dir(record, "airgraph-scaling-bench-") as work:
        runner = _Runner(work, verbose)
        for depth in depths:
            record["rows"][str(depth)] = _depth(runner, model, depth, repeats)
    record["summary"] = _summary(record)
    write_atomic(out / "scaling.json", json.dumps(record, indent=1) + "\n")
    write_atomic(out / "scaling.md", _markdown(record))
    if verbose:
        print(f"wrote {out / 'scaling.json'} and {out / 'scaling.md'}")
    return record


def _spawn(runner: _Runner, params: dict[str, Any], inductor_dir: Path, label: str) -> dict:
    """One child process; adds its CPU time (it and the processes it waited for)."""
    load = os.getloadavg()[0]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = runner.spawn("hf", params, inductor_dir=inductor_dir, label=label, child=CHILD)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    result["process_cpu_s"] = (after.ru_utime - before.ru_utime) + (
        after.ru_stime - before.ru_stime
    )
    result["loadavg_1m_at_spawn"] = load
    return result


def _depth(runner: _Runner, model: str, depth: int, repeats: int) -> dict[str, Any]:
    base = {"model": model, "layers": depth}
    torch_dir = runner.fresh(f"d{depth}_torch_inductor")
    ag_dir = runner.fresh(f"d{depth}_ag_inductor")
    ge_dir = runner.fresh(f"d{depth}_ag_ge_inductor")
    torch_p = {**base, "mode": "torch"}
    ag = {**base, "mode": "airgraph", "cache_dir": str(runner.fresh("ag_cache")), "ge_cache": False}
    ge = {**base, "mode": "airgraph", "cache_dir": str(runner.fresh("ge_cache")), "ge_cache": True}
    runs: dict[str, list[dict[str, Any]]] = {k: [] for k in ROWS}
    runs["T2"].append(_spawn(runner, torch_p, torch_dir, f"d{depth}:T2"))
    runs["A4"].append(_spawn(runner, ag, ag_dir, f"d{depth}:A4"))
    runs["A4g"].append(_spawn(runner, ge, ge_dir, f"d{depth}:A4g"))
    # Warm rows interleaved, one of each per round, so that load changes hit them alike.
    for i in range(repeats):
        runs["T3"].append(_spawn(runner, torch_p, torch_dir, f"d{depth}:T3#{i}"))
        runs["A5"].append(_spawn(runner, ag, ag_dir, f"d{depth}:A5#{i}"))
        fresh = runner.fresh(f"d{depth}_A7_inductor")
        runs["A7"].append(_spawn(runner, ge, fresh, f"d{depth}:A7#{i}"))
    rows: dict[str, Any] = {}
    for key, row_runs in runs.items():
        rows[key] = {"median": median_record(row_runs), "runs": row_runs}
        if key in STATUS:
            rows[key]["status_ok"] = all(r.get("status") == STATUS[key] for r in row_runs)
    return rows


def _slope(xs: list[int], ys: list[float]) -> float | None:
    """Least-squares slope of ``ys`` against ``xs`` (None with fewer than two points)."""
    if len(xs) < 2:
        return None
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    den = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / den if den else None


def _flat(table: dict[str, dict[str, Any]]) -> bool:
    """Whether A7's first call (wall and CPU) stays flat in depth (see FLAT_GROWTH_LIMIT)."""
    for field in ("first_call_s", "first_call_cpu_s"):
        values = list(table[field]["A7"]["by_depth"].values())
        if not all(isinstance(v, float) for v in values):
            return False
        low, high = values[0], values[-1]
        if high > low * FLAT_GROWTH_LIMIT and high - low > FLAT_NOISE_S:
            return False
    return True


def _summary(record: dict[str, Any]) -> dict[str, Any]:
    depths = record["depths"]
    table: dict[str, dict[str, Any]] = {}
    for field, _heading, _digits, fit in MEASURES:
        per_row = {}
        for key in ROWS:
            values = [record["rows"][str(d)][key]["median"].get(field) for d in depths]
            ok = fit and all(isinstance(v, float) for v in values)
            per_row[key] = {
                "by_depth": dict(zip(map(str, depths), values)),
                "growth": values[-1] / values[0] if ok and len(values) > 1 and values[0] else None,
                "slope_s_per_layer": _slope(depths, values) if ok else None,
            }
        table[field] = per_row
    return {
        "measures": table,
        "a7_flat": _flat(table) if len(depths) > 1 else None,
        "statuses_ok": all(record["rows"][str(d)][k]["status_ok"] for d in depths for k in STATUS),
        "loadavg": {
            "start": record["environment"]["loadavg_start"],
            "end": record["environment"]["loadavg_end"],
        },
    }


def _times(v: float | None) -> str:
    return "–" if v is None else f"{v:.2f}×"


def _markdown(record: dict[str, Any]) -> str:
    env = record["environment"]
    summ = record["summary"]
    depths = record["depths"]
    lines = [
        "# Compile and warm-start time against depth",
        "",
        f"Generated by `benchmarks/scaling_bench.py` on {env['created']}: torch "
        f"{env['versions']['torch']}, Python {env['python']}, {env['cpu_count']} CPUs, "
        f"load average {env['loadavg_start'][0]:.1f} at the start and "
        f"{env['loadavg_end'][0]:.1f} at the end (shared machine: compare within a "
        f"table, and prefer the CPU times). Whole run: {record['total_s']:.0f} s.",
        "",
        f"Model: {record['model_description']}; N = {', '.join(map(str, depths))}. "
        f"Each cell is a fresh process; warm rows (T3, A5, A7) are the median of "
        f"{record['repeats']} process(es), run interleaved. *Growth* = deepest ÷ shallowest; "
        "*slope* = least-squares seconds per layer.",
        "",
    ]
    head = "| # | row | " + " | ".join(f"{d} layers" for d in depths) + " | growth | s/layer |"
    rule = "|---|---|" + "---|" * len(depths) + "---|---|"
    for field, heading, digits, _fit in MEASURES:
        lines += [f"## {heading}", "", head, rule]
        for key, title in ROWS.items():
            m = summ["measures"][field][key]
            cells = " | ".join(format_cell(m["by_depth"].get(str(d)), digits) for d in depths)
            lines.append(
                f"| {key} | {title} | {cells} | {_times(m['growth'])} "
                f"| {format_cell(m['slope_s_per_layer'], max(3, digits))} |"
            )
        lines.append("")
    lines += [
        f"airgraph's warm start with ge_cache (A7) flat in depth (first-call wall and CPU "
        f"time at the deepest depth ≤ {FLAT_GROWTH_LIMIT}× the shallowest, or at most "
        f"{FLAT_NOISE_S} s above it): **{format_cell(summ['a7_flat'])}**. Cache statuses as "
        f"expected (A4, A4g compiled; A5, A7 hit) at every depth: "
        f"**{format_cell(summ['statuses_ok'])}**.",
        "",
    ]
    return "\n".join(lines)


def _depths(text: str) -> tuple[int, ...]:
    try:
        depths = tuple(int(d) for d in text.split(",") if d.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--depths: expected comma-separated layer counts, got {text!r}"
        ) from None
    if not depths or any(d < 1 for d in depths):
        raise argparse.ArgumentTypeError(f"--depths: expected positive layer counts, got {text!r}")
    return depths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE / "results")
    parser.add_argument(
        "--depths",
        type=_depths,
        default=DEPTHS,
        help=f"comma-separated layer counts (default {','.join(map(str, DEPTHS))})",
    )
    parser.add_argument("--model", choices=sorted(MODELS), default="llama")
    parser.add_argument("--repeats", type=int, default=3, help="processes per warm row")
    parser.add_argument(
        "--quick", action="store_true", help="one process per warm row: checks that the rows run"
    )
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats must be >= 1")
    run(
        args.out,
        depths=args.depths,
        model=args.model,
        repeats=1 if args.quick else args.repeats,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
