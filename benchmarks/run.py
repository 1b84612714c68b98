"""Run the airgraph benchmarks and write their results as JSON (and markdown).

Records the environment the benchmarks ran in (``environment.json``, with a
summary of every benchmark) and runs each benchmark, which writes its own
files next to it:

- ``gears_bench.py``: one trace for 16 gears vs torch.compile's recompiles,
  and per-gear latency vs static compiles (``gears.json``, ``gears.md``);
  with ``--gears-llama`` also the same on a ``transformers`` LLaMA
  (``gears_llama.json``, ``gears_llama.md``; off by default: it serves
  16 gears of a real model, several minutes more).
- ``cache_bench.py``: the compile cache's warm starts and per-call overhead on
  a plain-torch GPT-2 (``cache.json``, ``cache.md``).
- ``cache_hf_bench.py``: warm starts on ``transformers`` GPT-2, airgraph (with
  and without ``ge_cache``) vs torch.compile's warm caches, and key-building
  time (``cache_hf.json``, ``cache_hf.md``).
- ``scaling_bench.py``: compile and warm-start time against model depth (2, 4,
  8, 16 layers of a ``transformers`` LLaMA), airgraph vs torch.compile
  (``scaling.json``, ``scaling.md``).
- ``tp_bench.py``: a TP-2 model under torchrun (gloo) vs the unsharded model,
  and its compile and warm start per rank (``tp.json``, ``tp.md``).

The helpers the benchmarks share (:func:`timed_work_dir`, :func:`median_record`,
:func:`format_cell`, :func:`write_atomic`) live here too; the benchmarks import
them from this file (``from run import ...``: the benchmarks folder is on
``sys.path`` when a benchmark runs as a script).

Usage: ``python benchmarks/run.py [--out benchmarks/results] [--rounds 200] [--gears-llama]``
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import importlib.metadata
import json
import os
import platform
import shutil
import statistics
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

DISTRIBUTIONS = (
    "torch",
    "airgraph",
    "airgraph-core",
    "airgraph-gears",
    "airgraph-dynamo",
    "airgraph-cache",
    "airgraph-cli",
)


def environment_record() -> dict[str, object]:
    """Return what a reader needs to compare two benchmark runs."""
    versions = {}
    for dist in DISTRIBUTIONS:
        try:
            versions[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            versions[dist] = None
    import torch

    return {
        "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": platform.processor(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "versions": versions,
    }


@contextlib.contextmanager
def timed_work_dir(record: dict[str, Any], prefix: str) -> Iterator[Path]:
    """A scratch folder for one benchmark run, removed afterwards; times the run.

    Args:
        record: the benchmark's record; on success its ``environment`` gets ``loadavg_end``
            and the record gets ``total_s`` (seconds from entering the block).
        prefix: the scratch folder's name prefix (``tempfile.mkdtemp``).

    Yields:
        The scratch folder.
    """
    started = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield work
    finally:
        shutil.rmtree(work, ignore_errors=True)
    record["environment"]["loadavg_end"] = list(os.getloadavg())
    record["total_s"] = time.monotonic() - started


def median_record(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The first run's record with each float field replaced by its median over ``runs``.

    Runs where that field is missing or not a float are left out of its median.
    """
    out = dict(runs[0])
    for key, value in runs[0].items():
        if isinstance(value, float):
            out[key] = statistics.median(r[key] for r in runs if isinstance(r.get(key), float))
    return out


def format_cell(v: Any, digits: int = 3) -> str:
    """A value as a markdown table cell: ``–`` for None, yes/no, floats to ``digits`` places."""
    if v is None:
        return "–"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:.{digits}f}"
    return str(v)


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a rename, so an interrupted run never leaves half a file."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)


def _cache_bench(out: Path) -> dict[str, object]:
    """The compile-cache benchmark (``cache_bench.py``); it writes ``cache.json`` and ``cache.md``."""
    import cache_bench  # beside this file, on sys.path when run as a script

    result = cache_bench.run(out)
    return {"benchmark": "cache", "files": ["cache.json", "cache.md"], "summary": result["summary"]}


def _cache_hf_bench(out: Path) -> dict[str, object]:
    """The transformers warm-start benchmark (``cache_hf_bench.py``)."""
    import cache_hf_bench  # beside this file, on sys.path when run as a script

    result = cache_hf_bench.run(out)
    return {
        "benchmark": "cache_hf",
        "files": ["cache_hf.json", "cache_hf.md"],
        "summary": result["summary"],
    }


def _scaling_bench(out: Path) -> dict[str, object]:
    """Compile and warm-start time against depth (``scaling_bench.py``)."""
    import scaling_bench  # beside this file, on sys.path when run as a script

    result = scaling_bench.run(out)
    return {
        "benchmark": "scaling",
        "files": ["scaling.json", "scaling.md"],
        "summary": result["summary"],
    }


def _tp_bench(out: Path, rounds: int) -> dict[str, object]:
    """The tensor-parallel benchmark (``tp_bench.py``); it writes ``tp.json`` and ``tp.md``."""
    import tp_bench  # beside this file, on sys.path when run as a script

    result = tp_bench.run(out, rounds)
    return {"benchmark": "tp", "files": ["tp.json", "tp.md"], "summary": result["summary"]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out",
        type=Path,
        default=Path(__file__).parent / "results",
        help="folder for the result files (default: benchmarks/results)",
    )
    parser.add_argument(
        "--rounds", type=int, default=200, help="timed calls per variant and shape (default 200)"
    )
    parser.add_argument(
        "--gears-llama",
        action="store_true",
        help="also run the gears benchmark on a transformers LLaMA (gears_llama.json/.md)",
    )
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    record = {"environment": environment_record(), "results": []}

    import gears_bench  # beside this file, on sys.path when run as a script

    for model in ("tinygpt", "llama") if args.gears_llama else ("tinygpt",):
        gears = gears_bench.run(rounds=args.rounds, model=model)
        paths = gears_bench.write(gears, args.out)
        record["results"].append(
            {
                "benchmark": "gears" if model == "tinygpt" else f"gears_{model}",
                "files": [p.name for p in paths],
                "compile": gears["compile"],
                "summary": gears["summary"],
            }
        )
        print(gears_bench.to_markdown(gears))
    record["results"].append(_cache_bench(args.out))
    record["results"].append(_cache_hf_bench(args.out))
    record["results"].append(_scaling_bench(args.out))
    record["results"].append(_tp_bench(args.out, args.rounds))
    path = args.out / "environment.json"
    write_atomic(path, json.dumps(record, indent=2) + "\n")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
