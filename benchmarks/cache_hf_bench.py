"""Warm starts on real models: ``transformers`` GPT-2 and LLaMA, airgraph vs torch.compile.

Every scenario runs in a fresh process (``benchmarks/cache_bench/hf_child.py``)
on each model of :data:`MODELS`: ``transformers.GPT2LMHeadModel`` and
``LlamaForCausalLM`` from small configs (4 layers, hidden 128, 4 heads, vocab
512; random weights), ``_forward(ids)`` returning logits of a ``(1, 32)``
batch, under ``torch.no_grad()``:

=====  =====================================================================
k0     ``build_key`` alone, source text by ``inspect.getsource`` per object
       (how keys were built before issue 12)
k1     ``build_key`` alone, current code
T2     torch.compile cold, empty Inductor cache dir
T3     torch.compile warm: FX graph + AOTAutograd caches in T2's dir
A4     airgraph ``cache_compile(dynamic=False)`` cold
A4g    the same with ``ge_cache=True``
A5     airgraph warm, ``ge_cache=False``, in A4's Inductor dir
A6     airgraph warm, ``ge_cache=True``, in A4g's Inductor dir
A7     airgraph warm, ``ge_cache=True``, fresh Inductor dir and TMPDIR
=====  =====================================================================

Each airgraph process also reports the time spent building the cache key
(``build_key``, sources included). Warm rows are medians over ``repeats``
processes. Ratios are taken within this one run: torch's warm start ÷
airgraph's, on the overhead (first call − fastest steady call).

Usage: ``python benchmarks/cache_hf_bench.py [--out benchmarks/results]
[--repeats 3] [--models gpt2,llama] [--quick]``; ``--quick`` runs every row
once per model (one warm process each, the k0 "before" key figure left out),
to check that the rows run. ``benchmarks/run.py`` calls :func:`run`. Writes
``cache_hf.json`` and ``cache_hf.md`` (one section per model).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from cache_bench import HERE, _Runner, environment
from run import format_cell, median_record, timed_work_dir, write_atomic

CHILD = HERE / "cache_bench" / "hf_child.py"

#: Issue 12's targets.
KEY_TARGET_S = 0.050
WARM_GE_RATIO_TARGET = 20.0
WARM_NO_GE_RATIO_TARGET = 2.0

#: The models (``hf_child.py``'s ``params["model"]``) and their descriptions.
MODELS = {
    "gpt2": "transformers GPT2LMHeadModel, 4 layers, n_embd 128, 4 heads, vocab 512, "
    "ids (1, 32), random weights",
    "llama": "transformers LlamaForCausalLM, 4 layers, hidden 128, MLP 256, 4 heads "
    "(2 key/value heads), vocab 512, ids (1, 32), random weights",
}

SCENARIOS = {
    "k0": "build_key alone, inspect.getsource per object (before)",
    "k1": "build_key alone, current code",
    "T2": "torch.compile cold (empty Inductor cache dir)",
    "T3": "torch.compile warm: FX graph + AOTAutograd caches (T2's dir)",
    "A4": "airgraph cache_compile cold, ge_cache=False",
    "A4g": "airgraph cache_compile cold, ge_cache=True",
    "A5": "airgraph warm, ge_cache=False (A4's Inductor dir)",
    "A6": "airgraph warm, ge_cache=True (A4g's Inductor dir)",
    "A7": "airgraph warm, ge_cache=True, fresh Inductor dir + TMPDIR",
}


def run(
    out: Path,
    *,
    repeats: int = 3,
    key_repeats: int = 1,
    models: tuple[str, ...] = tuple(MODELS),
    before_key: bool = True,
    verbose: bool = True,
) -> dict[str, Any]:
    """Run every scenario on each of ``models``; write ``cache_hf.json`` and ``cache_hf.md``.

    ``before_key=False`` leaves out k0 (the key as built before issue 12, ~15 s a process).
    """
    out.mkdir(parents=True, exist_ok=True)
    record: dict[str, Any] = {
        "benchmark": "cache_hf",
        "environment": environment(),
        "models": {name: MODELS[name] for name in models},
        "repeats": repeats,
        "key_repeats": key_repeats,
        "scenarios": {},
    }
    with timed_work_dir(record, "airgraph-hf-bench-") as work:
        runner = _Runner(work, verbose)
        for name in models:
            record["scenarios"][name] = _scenarios(
                runner, repeats, key_repeats, {"model": name}, before_key
            )
    record["summary"] = {name: _summary(s) for name, s in record["scenarios"].items()}
    write_atomic(out / "cache_hf.json", json.dumps(record, indent=1) + "\n")
    write_atomic(out / "cache_hf.md", _markdown(record))
    if verbose:
        print(f"wrote {out / 'cache_hf.json'} and {out / 'cache_hf.md'}")
    return record


def _scenarios(
    runner: _Runner, repeats: int, key_repeats: int, model: dict[str, str], before_key: bool
) -> dict[str, Any]:
    s: dict[str, Any] = {}
    name = model["model"]

    def spawn(params: dict[str, Any], inductor_dir: Path, label: str) -> dict[str, Any]:
        return runner.spawn(
            "hf",
            {**params, **model},
            inductor_dir=inductor_dir,
            label=f"{name}:{label}",
            child=CHILD,
        )

    def many(n: int, label: str, params: dict[str, Any], inductor_dir: Path | None = None):
        runs = []
        for i in range(n):
            d = inductor_dir if inductor_dir is not None else runner.fresh(f"{label}_inductor")
            runs.append(spawn(params, d, f"{label}#{i}"))
        return {"median": median_record(runs), "runs": runs}

    torch_dir = runner.fresh("torch_inductor")
    ag_dir = runner.fresh("ag_inductor")
    ge_dir = runner.fresh("ag_ge_inductor")
    ag = {"mode": "airgraph", "cache_dir": str(runner.fresh("ag_cache")), "ge_cache": False}
    ge = {"mode": "airgraph", "cache_dir": str(runner.fresh("ag_ge_cache")), "ge_cache": True}
    # Alternate old and new key building so that load changes hit both alike.
    k0: list[dict[str, Any]] = []
    k1: list[dict[str, Any]] = []
    for i in range(key_repeats):
        for mode, runs in (("key_inspect", k0), ("key_new", k1)):
            if mode == "key_inspect" and not before_key:
                continue
            runs.append(spawn({"mode": mode, "repeats": 2}, torch_dir, f"{mode}#{i}"))
    if k0:
        s["k0"] = {"median": median_record(k0), "runs": k0}
    s["k1"] = {"median": median_record(k1), "runs": k1}
    s["T2"] = many(1, "T2_torch_cold", {"mode": "torch"}, torch_dir)
    s["A4"] = many(1, "A4_cold", ag, ag_dir)
    s["A4g"] = many(1, "A4g_cold_ge", ge, ge_dir)
    # Warm starts interleaved, one of each per round. A cold start that did not cache
    # (cache_compile refused the method: its warning is recorded) has no warm start.
    cached = all(r.get("status") == "compiled" for k in ("A4", "A4g") for r in s[k]["runs"])
    rounds: dict[str, list[dict[str, Any]]] = {"T3": []}
    if cached:
        rounds.update(A5=[], A6=[], A7=[])
    else:
        s["not_cached"] = sorted({w for k in ("A4", "A4g") for w in s[k]["runs"][0]["warnings"]})
    for i in range(repeats):
        rounds["T3"].append(spawn({"mode": "torch"}, torch_dir, f"T3#{i}"))
        if not cached:
            continue
        rounds["A5"].append(spawn(ag, ag_dir, f"A5#{i}"))
        rounds["A6"].append(spawn(ge, ge_dir, f"A6#{i}"))
        rounds["A7"].append(spawn(ge, runner.fresh("A7_inductor"), f"A7#{i}"))
    for key, runs in rounds.items():
        s[key] = {"median": median_record(runs), "runs": runs}
    for key, want in (
        ("A4", "compiled"),
        ("A4g", "compiled"),
        ("A5", "hit"),
        ("A6", "hit"),
        ("A7", "hit"),
    ):
        if key in s:
            s[key]["status_ok"] = all(r.get("status") == want for r in s[key]["runs"])
    return s


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def _summary(s: dict[str, Any]) -> dict[str, Any]:
    ov = {
        k: s[k]["median"]["warm_start_overhead_best_s"]
        for k in SCENARIOS
        if k in s and "warm_start_overhead_best_s" in s[k]["median"]
    }
    ov.update({k: None for k in ("A5", "A6", "A7") if k not in ov})
    first = {k: s[k]["median"]["first_call_s"] for k in ov if k in s}
    key = {k: s[k]["median"].get("key_s") for k in ("A4", "A4g", "A5", "A6", "A7") if k in s}
    k0 = s["k0"]["median"] if "k0" in s else {}
    key_alone = {
        "before_first_s": k0.get("key_first_s"),
        "after_first_s": s["k1"]["median"]["key_first_s"],
        "before_again_s": k0.get("key_again_s"),
        "after_again_s": s["k1"]["median"]["key_again_s"],
    }
    ratios = {
        "T3/A5 (warm, no ge_cache)": _ratio(ov["T3"], ov["A5"]),
        "T3/A6 (warm, ge_cache)": _ratio(ov["T3"], ov["A6"]),
        "T3/A7 (warm, ge_cache, fresh dir)": _ratio(ov["T3"], ov["A7"]),
        "A4/T2 (cold)": _ratio(first["A4"], first["T2"]),
        "A4g/T2 (cold, ge_cache)": _ratio(first["A4g"], first["T2"]),
        "key before/after (first build in a process)": _ratio(
            key_alone["before_first_s"], key_alone["after_first_s"]
        ),
    }
    warm_keys = [v for k, v in key.items() if k in ("A5", "A6", "A7") and v is not None]
    return {
        "warm_start_overhead_s": ov,
        "first_call_s": first,
        "key_s_in_cache_compile": key,
        "key_alone": key_alone,
        "ratios": ratios,
        "key_target_met": bool(warm_keys) and max(warm_keys) <= KEY_TARGET_S,
        "warm_ge_target_met": min(
            ratios["T3/A6 (warm, ge_cache)"] or 0, ratios["T3/A7 (warm, ge_cache, fresh dir)"] or 0
        )
        >= WARM_GE_RATIO_TARGET,
        "warm_no_ge_target_met": (ratios["T3/A5 (warm, no ge_cache)"] or 0)
        >= WARM_NO_GE_RATIO_TARGET,
        "statuses_ok": all(s[k]["status_ok"] for k in ("A4", "A4g", "A5", "A6", "A7") if k in s)
        and "not_cached" not in s,
        "not_cached": s.get("not_cached"),
    }


def _markdown(record: dict[str, Any]) -> str:
    env = record["environment"]
    lines = [
        "# Warm starts on transformers models",
        "",
        f"Generated by `benchmarks/cache_hf_bench.py` on {env['created']}: torch "
        f"{env['versions']['torch']}, Python {env['python']}, {env['cpu_count']} CPUs, "
        f"load average {env['loadavg_start'][0]:.1f} at the start and "
        f"{env['loadavg_end'][0]:.1f} at the end (shared machine: compare ratios, not "
        f"seconds). Whole run: {record['total_s']:.0f} s.",
        "",
        f"Each row is a fresh process; warm rows are the median of {record['repeats']} "
        f"processes, k0/k1 of {record['key_repeats']}, run interleaved. *First call* runs from "
        "making the compiled function to its first result (lazy imports count); *overhead* = "
        "first call − fastest steady call; *key* = time in `build_key` (sources included).",
        "",
    ]
    for name, title in record["models"].items():
        lines += _model_markdown(title, record["scenarios"][name], record["summary"][name])
    return "\n".join(lines)


def _model_markdown(title: str, s: dict[str, Any], summ: dict[str, Any]) -> list[str]:
    lines = [
        f"## {title}",
        "",
        "| # | scenario | first call (s) | overhead (s) | key (s) | steady (ms) | status |",
        "|---|---|---|---|---|---|---|",
    ]
    for k, scenario in SCENARIOS.items():
        if k not in s:
            why = "left out (--quick)" if k == "k0" else "the cold starts did not cache"
            lines.append(f"| {k} | {scenario} | not run: {why} | | | | |")
            continue
        r = s[k]["median"]
        if k in ("k0", "k1"):
            lines.append(
                f"| {k} | {scenario} | – | – | {format_cell(r['key_first_s'])} "
                "(again in-process: "
                f"{format_cell(r['key_again_s'])}; {r['sources']} sources) | – | – |"
            )
            continue
        lines.append(
            f"| {k} | {scenario} | {format_cell(r['first_call_s'], 2)} "
            f"| {format_cell(r['warm_start_overhead_best_s'], 3)} | {format_cell(r.get('key_s'))} "
            f"| {format_cell(r['steady_call_s'] * 1e3, 2)} | {r.get('status', '')} |"
        )
    lines += ["", "| ratio | value |", "|---|---|"]
    for name, value in summ["ratios"].items():
        lines.append(f"| {name} | {format_cell(value, 2)}× |")
    lines += [
        "",
        f"Targets of issue 12: key building ≤ {KEY_TARGET_S * 1e3:.0f} ms on a warm start: "
        f"**{format_cell(summ['key_target_met'])}**; warm start with ge_cache ≥ "
        f"{WARM_GE_RATIO_TARGET:.0f}× below torch's warm caches: "
        f"**{format_cell(summ['warm_ge_target_met'])}**; without ge_cache ≥ "
        f"{WARM_NO_GE_RATIO_TARGET:.0f}×: **{format_cell(summ['warm_no_ge_target_met'])}**. "
        f"Cache statuses as expected (compiled, compiled, hit, hit, hit): "
        f"**{format_cell(summ['statuses_ok'])}**.",
        "",
    ]
    if summ.get("not_cached"):
        lines += ["cache_compile did not cache the model; its warning:", ""]
        lines += [f"> {w}" for w in summ["not_cached"]] + [""]
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE / "results")
    parser.add_argument("--repeats", type=int, default=3, help="processes per warm scenario")
    parser.add_argument(
        "--key-repeats", type=int, default=1, help="processes for k0/k1 (k0 takes ~15 s each)"
    )
    parser.add_argument(
        "--models",
        default=",".join(MODELS),
        help=f"comma-separated models to run (default and choices: {','.join(MODELS)})",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="every row once per model, k0 left out: checks that the rows run (~10 min)",
    )
    args = parser.parse_args(argv)
    if args.repeats < 1 or args.key_repeats < 1:
        parser.error("--repeats and --key-repeats must be >= 1")
    models = tuple(m for m in args.models.split(",") if m)
    unknown = [m for m in models if m not in MODELS]
    if unknown or not models:
        parser.error(f"--models: {unknown or 'none'} not among {', '.join(MODELS)}")
    repeats = 1 if args.quick else args.repeats
    run(
        args.out,
        repeats=repeats,
        key_repeats=args.key_repeats,
        models=models,
        before_key=not args.quick,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
