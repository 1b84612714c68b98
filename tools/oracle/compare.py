"""Compare airgraph's GE graphs with TorchAir's for the case list (``nox -s oracle``).

For every case of ``cases.py``, both lowerings run on CPU:

* **airgraph**: ``torch.compile(fn, backend=airgraph_dynamo.get_npu_backend(...),
  fullgraph=True, dynamic=case.dynamic)`` on the host target (interpret
  mode); the GE graph the backend compiled, in the form the NPU target
  loads it (updates of inputs as outputs reusing their memory,
  ``airgraph_core.input_updates.updates_as_outputs``), is serialized with
  ``airgraph_core.ir.serialize.to_proto``.
* **TorchAir**: the same ``torch.compile`` call with TorchAir's own backend,
  loaded from the ``torch_npu`` wheel by ``shared/tools/torchair_oracle/oracle.py``
  (found at ``<repo>/../shared``, or ``$AIRGRAPH_ORACLE_DIR``); the graph is
  captured after ``optimize_graph_without_runtime``, as the oracle does, but
  with ``dynamic`` passed through (the oracle itself traces static only).

Each side runs in its own worker process (so TorchAir's patches of torch
cannot leak into airgraph's lowering, and the two use both cores), writing
one ``.pb`` (the ``ModelDef`` bytes) or ``.err`` (the root error) per case.
The parent then normalizes both graphs and prints, per case, one of:

* ``identical``: equal after normalization;
* ``same ops, different attributes``: the same op types in the same canonical
  order, but some attribute, input wiring, output descriptor or contract
  graph attribute differs;
* ``different ops``: the op type sequences differ (listed as a diff);
* ``one side fails`` / ``both fail``: with the root error.

The normalization, i.e. what counts as harmless, is described in
``normalize.py``: op names, ``_``-prefixed bookkeeping attributes (except the
graph attributes the runtime reads), attributes equal to the op's declared
default in ``shared/ge/opdefs.json``, descriptor fields other than dtype,
shape, layout and placement, and float attributes beyond float32. See also
``docs/development/torchair-oracle.md``.

Usage::

    python tools/oracle/compare.py                   # all cases, summary table
    python tools/oracle/compare.py 'softmax*' nn     # by name pattern or family
    python tools/oracle/compare.py --results tools/oracle/RESULTS.md

The exit code is 0 whatever the differences (it is an instrument), 2 if a
worker crashed; with ``--check RESULTS.md`` it is 1 when a case matches
TorchAir less well than in that earlier run (CI runs it so, against the
committed RESULTS.md).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

os.environ.setdefault("TORCH_DEVICE_BACKEND_AUTOLOAD", "0")

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(HERE))

import cases as case_list  # noqa: E402


def _shared_dir() -> Path:
    """``shared/`` beside the repository (CI keeps a copy there)."""
    return REPO.parent / "shared"


def _oracle_dir() -> Path:
    env = os.environ.get("AIRGRAPH_ORACLE_DIR")
    path = Path(env) if env else _shared_dir() / "tools" / "torchair_oracle"
    if not (path / "oracle.py").is_file():
        raise SystemExit(
            f"oracle.py not found in {path}: set AIRGRAPH_ORACLE_DIR to the folder of "
            "shared/tools/torchair_oracle"
        )
    return path


def _opdefs_path() -> Path:
    path = _shared_dir() / "ge" / "opdefs.json"
    if not path.is_file():
        raise SystemExit(f"{path} not found: the declared attribute defaults come from it")
    return path


def _file_stem(name: str) -> str:
    return name.replace("@", "__")


def _root_error(error: BaseException) -> str:
    root = error
    while True:
        nxt = getattr(root, "inner_exception", None) or root.__cause__
        if nxt is None or nxt is root:
            break
        root = nxt
    text = str(root).strip().splitlines()
    return f"{type(root).__name__}: {text[0][:300] if text else ''}"


# --------------------------------------------------------------------------- workers
def _lower_airgraph(case: case_list.Case) -> list[bytes]:
    import torch
    import torch._dynamo

    from airgraph_core.input_updates import updates_as_outputs
    from airgraph_core.ir.serialize import to_proto
    from airgraph_dynamo import CompilerConfig, get_npu_backend

    config = CompilerConfig()
    config.airgraph_config.target = "host"
    config.airgraph_config.host_mode = "interpret"
    _set_options(config, case.config)
    backend = get_npu_backend(compiler_config=config)
    torch._dynamo.reset()
    try:
        compiled = torch.compile(case.fn, backend=backend, fullgraph=True, dynamic=case.dynamic)
        with torch.no_grad():
            compiled(*case.make_inputs())
    finally:
        torch._dynamo.reset()
    # The host target applies Assign itself; GE gets the NPU target's form.
    return [to_proto(updates_as_outputs(g)[0]).SerializeToString() for g in backend.graphs]


def _set_options(config: Any, options: tuple[tuple[str, Any], ...]) -> None:
    """Set a case's ``(dotted option, value)`` pairs on a ``CompilerConfig`` (either side's)."""
    for path, value in options:
        *groups, name = path.split(".")
        node = config
        for group in groups:
            node = getattr(node, group)
        setattr(node, name, value)


def _first_call_update(graph: Any, args: tuple[Any, ...]) -> None:
    """TorchAir's first-call graph step (``update_graph_with_runtime``), where ``enable_ref_data`` acts.

    It needs the GE inputs its ``__call__`` would build from ``args``; the
    oracle's example inputs are CPU tensors, so the NPU-format update in it
    is skipped (no torch_npu) and only options such as ``enable_ref_data`` act.
    """
    funcs = [info.func for info in graph._input_info_list]
    process = graph._gen_input_process(graph._fx_input_names, graph._all_sym_input_idx, funcs)
    graph.update_graph_with_runtime(process(*args), args)


def _torchair_lowerer() -> Any:
    """Load TorchAir through the oracle and return a ``case -> [ModelDef bytes]`` function."""
    sys.path.insert(0, str(_oracle_dir()))
    import logging
    import warnings

    import oracle  # the dev tool in shared/, never imported by the packages
    import torch
    import torch._dynamo

    torchair = oracle.load_torchair()
    logging.getLogger("torchair").setLevel(logging.ERROR)
    from torchair._ge_concrete_graph.fx2ge_converter import GeConcreteGraph

    cpu_kernels: list[Any] = []

    def lower(case: case_list.Case) -> list[bytes]:
        if case.distributed and not cpu_kernels:
            cpu_kernels.append(_all_to_all_cpu_kernel())
        # Same capture point as oracle.reference_ge_models, with case.dynamic passed on.
        captured: list[Any] = []
        original = GeConcreteGraph.optimize_graph_without_runtime

        def recording(self: Any, *args: Any, **kwargs: Any) -> Any:
            result = original(self, *args, **kwargs)
            if case.config:
                _first_call_update(self, args)
            captured.append(self)
            return result

        GeConcreteGraph.optimize_graph_without_runtime = recording
        try:
            config = torchair.CompilerConfig()
            config.debug.run_eagerly = True
            _set_options(config, case.config)
            backend = torchair.get_npu_backend(compiler_config=config)
            torch._dynamo.reset()
            compiled = torch.compile(case.fn, backend=backend, fullgraph=True, dynamic=case.dynamic)
            with torch.no_grad(), warnings.catch_warnings():
                warnings.simplefilter("ignore")  # torch's deprecation notes on TorchAir's calls
                compiled(*case.make_inputs())
        finally:
            GeConcreteGraph.optimize_graph_without_runtime = original
            torch._dynamo.reset()
        return [g.graph.model.SerializeToString() for g in captured]

    return lower


def _start_process_group(out_dir: Path) -> None:
    """A 1-rank gloo default group for the collective cases (a file store in ``out_dir``).

    Both lowerings read the group the traced collectives name: TorchAir's
    converters name a group with a CPU backend ``tag=<tag>;rank_list=<ranks>``
    (``hcom_utils.get_group_name_and_record``) without any torch_npu piece
    (HCCL's communicator name is asked only of an NPU group), as airgraph's
    host names do.
    """
    import torch.distributed as dist

    store = out_dir / "pg-store"
    dist.init_process_group("gloo", init_method=f"file://{store}", rank=0, world_size=1)


def _all_to_all_cpu_kernel() -> Any:
    """Let TorchAir's ``npu_define::all_to_all_single_npu`` run on CPU (the one shim).

    TorchAir decomposes ``all_to_all_single`` into this op of its own and
    registers TorchAir's eager kernel (``c10d.all_to_all_single`` on the
    op's group) for the NPU key only, so the eager run that follows the
    lowering (``debug.run_eagerly``) finds no CPU kernel. The same kernel is
    registered for CPU, where the gloo group runs it; the GE graph is
    captured before and does not depend on it.
    """
    import torch
    from torchair._ge_concrete_graph.ge_converter.experimental import hcom_alltoall

    lib = torch.library.Library("npu_define", "IMPL")
    lib.impl("all_to_all_single_npu", hcom_alltoall.npu_all_to_all_single_npu, "CPU")
    return lib  # kept alive: dropping the Library removes the registration


def run_worker(side: str, out_dir: Path, patterns: list[str]) -> int:
    """Lower the selected cases with one side and write ``<case>.pb`` / ``<case>.err`` files."""
    import logging
    import warnings

    warnings.filterwarnings("ignore")
    logging.disable(logging.WARNING)
    lower = _lower_airgraph if side == "airgraph" else _torchair_lowerer()
    out_dir.mkdir(parents=True, exist_ok=True)
    selected = case_list.select(patterns)
    if any(case.distributed for case in selected):
        _start_process_group(out_dir)
    timings = []
    for case in selected:
        stem = _file_stem(case.name)
        start = time.perf_counter()
        try:
            models = lower(case)
            if not models:
                raise RuntimeError("no GE graph was built (the backend compiled nothing)")
            if len(models) > 1:
                raise RuntimeError(f"{len(models)} GE graphs were built; expected one")
            (out_dir / f"{stem}.pb").write_bytes(models[0])
        except Exception as error:  # a case that fails is a result, not a crash
            (out_dir / f"{stem}.err").write_text(_root_error(error) + "\n")
        timings.append(f"{case.name}\t{time.perf_counter() - start:.3f}")
    (out_dir / "timings.tsv").write_text("\n".join(timings) + "\n")
    if any(case.distributed for case in selected):
        import torch.distributed as dist

        dist.destroy_process_group()
    return 0


# --------------------------------------------------------------------------- report
def _side_result(folder: Path, name: str, defaults: Any) -> tuple[Any, str | None]:
    from normalize import normalize

    stem = _file_stem(name)
    err = folder / f"{stem}.err"
    if err.exists():
        return None, err.read_text().strip()
    pb_file = folder / f"{stem}.pb"
    if not pb_file.exists():
        return None, "no result (the worker stopped before this case)"
    try:
        reliable = folder.name == "airgraph"  # TorchAir leaves some dtypes unset
        return normalize(pb_file.read_bytes(), defaults, dtypes_reliable=reliable), None
    except ValueError as error:
        return None, f"unreadable graph: {error}"


def compare_all(ours_dir: Path, theirs_dir: Path, patterns: list[str]) -> list[dict[str, Any]]:
    """Compare the workers' outputs case by case."""
    from normalize import BOTH_FAIL, ONE_FAILS, compare_graphs, load_opdef_defaults

    defaults = load_opdef_defaults(_opdefs_path())
    rows = []
    for case in case_list.select(patterns):
        ours, our_err = _side_result(ours_dir, case.name, defaults)
        theirs, their_err = _side_result(theirs_dir, case.name, defaults)
        if our_err and their_err:
            category, diffs = BOTH_FAIL, [f"airgraph: {our_err}", f"TorchAir: {their_err}"]
        elif our_err:
            category, diffs = ONE_FAILS, [f"airgraph fails: {our_err}"]
        elif their_err:
            category, diffs = ONE_FAILS, [f"TorchAir fails: {their_err}"]
        else:
            category, diffs = compare_graphs(ours, theirs)
        rows.append(
            {"case": case, "category": category, "diffs": diffs, "why": _documented(case, diffs)}
        )
    return rows


def _documented(case: Any, diffs: list[str]) -> list[str] | None:
    """The documented reasons that explain all of a case's differences (``documented.py``)."""
    from documented import reasons_for

    if not diffs:
        return None
    return reasons_for(case.name, [_signature(line) for line in diffs])


def _label(row: dict[str, Any]) -> str:
    """The case's category, with ``differs, documented: <why>`` where reasons explain it."""
    if row.get("why"):
        return f"{row['category']}; differs, documented: " + "; ".join(row["why"])
    return row["category"]


def _print_report(rows: list[dict[str, Any]], max_lines: int) -> None:
    for row in rows:
        print(f"[{_label(row)}] {row['case'].name}")
        shown = row["diffs"][:max_lines]
        for line in shown:
            print(f"    {line}")
        if len(row["diffs"]) > len(shown):
            print(f"    ... {len(row['diffs']) - len(shown)} more")


def _summary(rows: list[dict[str, Any]]) -> list[str]:
    from normalize import CATEGORIES

    counts = Counter(row["category"] for row in rows)
    lines = [f"{len(rows)} cases"]
    lines += [f"  {category}: {counts.get(category, 0)}" for category in CATEGORIES]
    documented = sum(1 for row in rows if row.get("why"))
    lines.append(f"  (of the differing cases, {documented} differ only as documented)")
    return lines


def _signature(line: str) -> str | None:
    """A coarse key of one difference line, to count the kinds of differences."""
    import re

    if line.startswith(("airgraph only:", "TorchAir only:", "airgraph fails:", "TorchAir fails:")):
        return re.sub(r"x\d+", "", line)[:160]
    match = re.match(r"(\w+)#\d+(\.\w+| inputs| outputs)", line)
    if match:
        return f"{match.group(1)}{match.group(2)} differs"
    if line.startswith("graph."):
        return line.split(":")[0] + " differs"
    return None


def _frequent_differences(rows: list[dict[str, Any]], limit: int = 30) -> list[str]:
    counts: Counter[str] = Counter()
    for row in rows:
        counts.update({sig for sig in map(_signature, row["diffs"]) if sig})
    return [f"| {n} | `{sig}` |" for sig, n in counts.most_common(limit)]


def write_results(path: Path, rows: list[dict[str, Any]], seconds: float) -> None:
    """Write the per-family counts and every case's differences as markdown."""
    from normalize import CATEGORIES

    families = case_list.FAMILIES
    header = [*CATEGORIES, "of these differing: documented"]
    table = ["| family | " + " | ".join(header) + " |", "|---" * (len(header) + 1) + "|"]
    for family in (*families, "all"):
        fam_rows = [r for r in rows if family in ("all", r["case"].family)]
        counts = Counter(r["category"] for r in fam_rows)
        cells = " | ".join(str(counts.get(c, 0)) for c in CATEGORIES)
        documented = sum(1 for r in fam_rows if r.get("why"))
        table.append(f"| {'**all**' if family == 'all' else family} | {cells} | {documented} |")
    lines = [
        "# TorchAir comparison: latest results",
        "",
        "Written by `python tools/oracle/compare.py --results tools/oracle/RESULTS.md`",
        f"(`nox -s oracle`); {len(rows)} cases, comparison run {seconds:.0f} s.",
        "In the differences, the airgraph value comes first and TorchAir's second;",
        "in op listings `-` lines are airgraph's, `+` lines TorchAir's.",
        "",
        *table,
        "",
        "## Most frequent differences",
        "",
        "Cases per kind of difference (op types only on one side, or the op type",
        "and field that differs). What each means and whether it is a bug: see",
        "`docs/development/torchair-oracle.md`; the differences airgraph keeps on",
        "purpose are listed with their reasons in `tools/oracle/documented.py` and",
        "marked `differs, documented: <why>` below.",
        "",
        "| cases | difference |",
        "|---|---|",
        *_frequent_differences(rows),
        "",
        "## Cases",
        "",
    ]
    for row in rows:
        lines.append(f"### `{row['case'].name}`: {_label(row)}")
        if row["diffs"]:
            lines += ["", "```", *row["diffs"], "```"]
        lines.append("")
    path.write_text("\n".join(lines))


def _standing(label: str) -> int:
    """How well a case matches TorchAir: 2 identical, 1 differs with documented reasons, 0 not."""
    if label == "identical":
        return 2
    return 1 if "differs, documented:" in label else 0


def regressions(rows: list[dict[str, Any]], baseline: Path) -> list[str]:
    """Cases that match TorchAir less well than in ``baseline`` (a RESULTS.md), one line each.

    A case that was identical must stay identical; one whose differences were
    all documented must stay so (or become identical). A case new since the
    baseline is not compared. Update the baseline (``nox -s oracle``) with
    the change that makes a difference on purpose, and document it.
    """
    before = dict(re.findall(r"^### `([^`]+)`: (.*)$", baseline.read_text(), flags=re.M))
    worse = []
    for row in rows:
        name, label = row["case"].name, _label(row)
        if name in before and _standing(label) < _standing(before[name]):
            worse.append(f"{name}: was '{before[name][:80]}', now '{label[:80]}'")
    return worse


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("patterns", nargs="*", help="case name patterns (fnmatch) or families")
    parser.add_argument("--results", type=Path, help="also write a markdown summary here")
    parser.add_argument("--max-lines", type=int, default=12, help="difference lines per case")
    parser.add_argument("--list", action="store_true", help="list the selected cases and exit")
    parser.add_argument(
        "--check",
        type=Path,
        metavar="RESULTS_MD",
        help="exit 1 if a case matches TorchAir less well than in this earlier RESULTS.md",
    )
    parser.add_argument("--worker", choices=("airgraph", "torchair"), help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.worker:
        return run_worker(args.worker, args.out, args.patterns)
    selected = case_list.select(args.patterns)
    if args.list:
        for case in selected:
            print(f"{case.family:12} {case.name}")
        return 0

    _oracle_dir()  # fail early with a clear message
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="airgraph-oracle-") as tmp:
        dirs = {side: Path(tmp) / side for side in ("airgraph", "torchair")}
        workers = {
            side: subprocess.Popen(
                [sys.executable, __file__, "--worker", side, "--out", str(d), *args.patterns]
            )
            for side, d in dirs.items()
        }
        failed = [side for side, proc in workers.items() if proc.wait() != 0]
        if failed:
            print(f"worker(s) crashed: {', '.join(failed)}", file=sys.stderr)
            return 2
        rows = compare_all(dirs["airgraph"], dirs["torchair"], args.patterns)
    seconds = time.perf_counter() - start
    _print_report(rows, args.max_lines)
    print()
    print("\n".join(_summary(rows)))
    print(f"comparison took {seconds:.0f} s")
    print("Deliberate differences and their reasons: docs/development/torchair-oracle.md")
    if args.results:
        write_results(args.results, rows, seconds)
        print(f"results written to {args.results}")
    if args.check:
        worse = regressions(rows, args.check)
        if worse:
            print(f"{len(worse)} case(s) match TorchAir less well than in {args.check}:")
            print("\n".join(f"  {line}" for line in worse))
            return 1
        print(f"no case matches TorchAir less well than in {args.check}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
