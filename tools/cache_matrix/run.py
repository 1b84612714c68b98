"""Run the full transformers cache matrix: every model x option combination, cold then warm.

Each case is a cold and a warm process on one fresh cache dir (see
``tests/transformers_cache_cases.py`` for what they must show); all share one
``TORCHINDUCTOR_CACHE_DIR`` (a fresh one costs ~11 s of compiler probing per
process). The cheapest cases run first: without ``ge_cache`` before with it
(an AOTInductor compile per specialization), interpret host mode before
Inductor. The results table is rewritten after every case, so an interrupted
run leaves what finished, and ``--progress`` makes a run resumable: the cases
it holds are judged again, not rerun.

Usage (from the repository root; ``nox -s cache-matrix`` runs the first)::

    python tools/cache_matrix/run.py --results tools/cache_matrix/RESULTS.md
    python tools/cache_matrix/run.py -k llama-True      # only matching case ids
    python tools/cache_matrix/run.py --models bert whisper --progress /tmp/matrix.jsonl --jobs 2

Exits 1 when a case fails.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))

from transformers_cache_cases import (  # noqa: E402  (found through tests/)
    ATOL,
    EXPECTED_WARNINGS,
    MODELS,
    Outcome,
    Start,
    case_id,
    check_case,
    full_matrix,
    judge,
)

#: Combinations of the product that are not run, with why (none today): ``dynamic`` is
#: ignored when inputs carry gears (the geared dims are the dynamic ones, see
#: airgraph_cache.recorder.record_trace), which is supported, so both values run.
SKIPPED: dict[tuple, str] = {}

HEADER = """# transformers cache matrix: latest results

Written by `python tools/cache_matrix/run.py --results tools/cache_matrix/RESULTS.md`
(`nox -s cache-matrix`). Each case: a cold process then a warm process on one
fresh cache dir (`tests/transformers_cache_script.py`); the cold one must report
`compiled` at every call and publish an entry, the warm one `hit` at every call,
a recorded hit and no new entry; both within {atol} of eager, with no warning
{expected}. Gears: batch dim geared `[2, 4]`, traced backed, calls at batch 2, 4, 2
(seq 8); without gears, calls at (batch 1, seq 8) and, with `dynamic=True`, (1, 16).
In `inductor` host mode each call is repeated with other values, and the repeat must
run compiled host code; a warm `ge_cache` start's first call must run the loaded package.
"""


def _status(start, phase_ok: bool) -> str:
    if start is None:
        return "not run"
    if start.result is None:
        return "crash"
    statuses = sorted(set(start.result["statuses"]))
    return ("" if phase_ok else "FAIL ") + "/".join(statuses)


def _row(outcome: Outcome) -> str:
    model, dynamic, ge_cache, host_mode, gears = outcome.case
    cold_ok = not any(p.startswith("cold") for p in outcome.problems)
    warm_ok = not any(p.startswith("warm") for p in outcome.problems)
    error = outcome.max_error()
    seconds = outcome.cold.seconds + (outcome.warm.seconds if outcome.warm else 0)
    cells = [
        model,
        str(dynamic),
        str(ge_cache),
        host_mode,
        str(gears),
        _status(outcome.cold, cold_ok),
        _status(outcome.warm, warm_ok),
        "-" if error is None else f"{error:.2g}",
        f"{outcome.cold.seconds:.0f} + {outcome.warm.seconds if outcome.warm else 0:.0f} = {seconds:.0f}",
        "pass" if not outcome.problems else "FAIL",
    ]
    return "| " + " | ".join(cells) + " |"


def _tree_state() -> str:
    """The commit the run's code is at, and whether the working tree had other changes."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=ROOT,
            capture_output=True,
            text=True,
        ).stdout.strip()
    except OSError:
        return "unknown (no git)"
    return f"at {head or 'unknown'}" + (" with uncommitted changes" if dirty else "")


def write_results(path: Path, outcomes: list[Outcome], pending: list[tuple]) -> None:
    """Write the markdown table and counts of the cases run so far to ``path``."""
    order = {case: i for i, case in enumerate(full_matrix())}
    outcomes = sorted(outcomes, key=lambda o: order.get(o.case, len(order)))
    passed = sum(not o.problems for o in outcomes)
    seconds = sum(o.cold.seconds + (o.warm.seconds if o.warm else 0) for o in outcomes)
    patterns = ", ".join(f"`` {p} ``" for p in EXPECTED_WARNINGS)
    expected = f"other than torch's own, matching {patterns}" if EXPECTED_WARNINGS else "at all"
    lines = [HEADER.format(atol=ATOL, expected=expected)]
    lines.append(
        f"{len(outcomes) + len(pending) + len(SKIPPED)} configs: {len(outcomes)} run, "
        f"{passed} pass, {len(outcomes) - passed} fail, {len(SKIPPED)} skipped, "
        f"{len(pending)} not run yet. Processes took {seconds / 60:.0f} min in all, on "
        f"{platform.machine()} ({os.cpu_count()} CPUs, shared), python {platform.python_version()}, "
        f"table written with the working tree {_tree_state()}.\n"
    )
    lines.append(
        "| model | dynamic | ge_cache | host mode | gears | cold | warm | max abs diff | s (cold + warm) | result |"
    )
    lines.append("|---|---|---|---|---|---|---|---|---|---|")
    lines += [_row(o) for o in outcomes]
    lines += [
        f"| {' | '.join(map(str, c))} | skipped: {why} | | | | |" for c, why in SKIPPED.items()
    ]
    failures = [o for o in outcomes if o.problems]
    if failures:
        lines.append("\n## Failures\n")
        for outcome in failures:
            lines.append(f"- `{case_id(outcome.case)}`: " + "; ".join(outcome.problems))
    if pending:
        lines.append("\n## Not run yet\n")
        lines += [f"- `{case_id(c)}`" for c in pending]
    path.write_text("\n".join(lines) + "\n")


def _save(path: Path, outcome: Outcome) -> None:
    starts = {"cold": outcome.cold, "warm": outcome.warm}
    record = {"case": outcome.case, **{k: s and dataclasses.asdict(s) for k, s in starts.items()}}
    with path.open("a") as out:
        out.write(json.dumps(record) + "\n")


def _load(path: Path) -> dict[tuple, Outcome]:
    """The outcomes saved in a progress file, judged again (with today's expected warnings)."""
    done = {}
    for line in path.read_text().splitlines():
        record = json.loads(line)
        case = tuple(record["case"])
        cold, warm = (Start(**record[k]) if record[k] else None for k in ("cold", "warm"))
        done[case] = judge(case, cold, warm)
    return done


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS))
    parser.add_argument("-k", dest="pattern", help="run only cases whose id contains this")
    parser.add_argument("--results", type=Path, help="write the markdown results table here")
    parser.add_argument(
        "--progress",
        type=Path,
        help="append each finished case here (JSON lines: statuses, errors, warnings, log tail); "
        "the cases it already holds are not run again",
    )
    parser.add_argument("--work", type=Path, help="folder for the cache dirs (default: a temp dir)")
    parser.add_argument("--jobs", type=int, default=1, help="cases run at once (default 1)")
    parser.add_argument(
        "--report-only",
        action="store_true",
        help="run nothing: judge the cases saved in --progress and write --results",
    )
    args = parser.parse_args(argv)

    work = args.work or Path(tempfile.mkdtemp(prefix="cache-matrix-"))
    work.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(work / "inductor"))
    cases = [c for c in full_matrix(tuple(args.models)) if c not in SKIPPED]
    cases = [c for c in cases if not args.pattern or args.pattern in case_id(c)]
    # Cheapest first, so a short run covers every model and host mode: ge_cache (an
    # AOTInductor package per specialization, in either host mode) last, interpret first.
    cases.sort(key=lambda c: (c[2], c[3] != "interpret"))
    done = _load(args.progress) if args.progress and args.progress.exists() else {}
    outcomes = [done[c] for c in cases if c in done]
    todo = [c for c in cases if c not in done]
    pending = list(todo)
    if args.report_only:
        todo = []
        if args.results:
            write_results(args.results, outcomes, pending)
    lock = threading.Lock()

    def run(case: tuple) -> None:
        cache_dir = work / case_id(case)
        shutil.rmtree(cache_dir, ignore_errors=True)  # fresh, also when run again
        outcome = check_case(case, cache_dir)
        with lock:
            outcomes.append(outcome)
            pending.remove(case)
            count = f"[{len(todo) - len(pending)}/{len(todo)}]"
            print(f"{count} {_row(outcome)} {'; '.join(outcome.problems)}", flush=True)
            if args.progress:
                _save(args.progress, outcome)
            if args.results:
                write_results(args.results, outcomes, pending)

    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        list(pool.map(run, todo))
    failed = sum(bool(o.problems) for o in outcomes)
    print(
        f"{len(outcomes)} run, {len(outcomes) - failed} pass, {failed} fail, {len(SKIPPED)} skipped"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
