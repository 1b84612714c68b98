"""One scenario of the cache benchmark, run in a fresh process by ``benchmarks/cache_bench.py``.

Usage: ``python child.py <scenario> '<json params>'``. The result is one JSON
object on the last line of stdout. Times come from ``time.monotonic()``
(CLOCK_MONOTONIC, shared by all processes on Linux), so the parent's spawn
time (``CACHE_BENCH_SPAWN``) and this process's clock can be subtracted.

Scenarios:

- ``gpt2``: import, build the model, make the first call, then time steady
  calls. ``params["mode"]`` picks how the function is made:
  ``eager``, ``torch`` (``torch.compile``, Inductor), ``torch_mega``
  (``torch.compiler.load_cache_artifacts`` then ``torch.compile``),
  ``torch_aot`` (``torch.compiler.load_compiled_function``) or ``airgraph``
  (``cache_compile``). The first-call time runs from making the function
  (``torch.compile`` / loading artifacts / ``cache_compile``) to the first
  result, so lazy imports such as Dynamo's count where they happen.
- ``aot_save``: ``torch.compile(fn, fullgraph=True).aot_compile(...)`` and
  ``save_compiled_function`` (preparation of ``torch_aot``).
- ``percall_prep`` / ``percall``: the per-call overhead on tiny graphs; see
  :func:`percall`.
"""

from __future__ import annotations

import time

T_START = time.monotonic()

import gc  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
from typing import Any  # noqa: E402


def _modules() -> dict[str, bool]:
    return {
        "dynamo_imported": "torch._dynamo" in sys.modules,
        "inductor_imported": "torch._inductor" in sys.modules,
        "inductor_compiler_imported": "torch._inductor.compile_fx" in sys.modules,
    }


def _torch_cache_counters() -> dict[str, dict[str, int]]:
    """Dynamo/Inductor/AOTAutograd counters about caches (empty if Dynamo never ran)."""
    if "torch._dynamo" not in sys.modules:
        return {}
    from torch._dynamo.utils import counters

    out: dict[str, dict[str, int]] = {}
    for group in ("inductor", "aot_autograd", "dynamo_cache", "stats"):
        sub = {k: int(v) for k, v in counters[group].items() if "cache" in k or "captured" in k}
        if sub:
            out[group] = sub
    return out


def gpt2(params: dict[str, Any]) -> dict[str, Any]:
    mode = params["mode"]
    t0 = time.monotonic()
    import torch

    t1 = time.monotonic()
    if mode == "airgraph":
        from airgraph_cache import cache_compile
    t2 = time.monotonic()
    import bench_models

    model = bench_models.build("gpt2")
    x = bench_models.example_input()
    t3 = time.monotonic()
    extra: dict[str, Any] = {}
    with torch.no_grad():
        if mode == "eager":
            fn = model._forward
            y = fn(x)
        elif mode == "torch":
            fn = torch.compile(model._forward, fullgraph=True)
            y = fn(x)
        elif mode == "torch_mega":
            with open(params["mega_path"], "rb") as f:
                info = torch.compiler.load_cache_artifacts(f.read())
            fn = torch.compile(model._forward, fullgraph=True)
            y = fn(x)
            extra["loaded_artifacts"] = (
                {k: len(v) for k, v in info.artifacts.items()} if info is not None else None
            )
        elif mode == "torch_aot":
            with open(params["aot_path"], "rb") as f:
                aot = torch.compiler.load_compiled_function(f)

            def fn(x: torch.Tensor) -> torch.Tensor:  # the saved function takes self
                return aot(model, x)

            y = fn(x)
        elif mode == "airgraph":
            fn = cache_compile(
                model._forward, cache_dir=params["cache_dir"], ge_cache=params["ge_cache"]
            )
            y = fn(x)
        else:
            raise ValueError(f"mode: unknown {mode!r}")
        t4 = time.monotonic()
        after_first = _modules()
        for _ in range(params.get("warmup", 2)):
            fn(x)
        steady = []
        for _ in range(params.get("steady_n", 30)):
            a = time.perf_counter()
            fn(x)
            steady.append(time.perf_counter() - a)
        ref = model._forward(x)
        err = float((y - ref).abs().max())
    if mode == "torch" and params.get("mega_path"):
        saved = torch.compiler.save_cache_artifacts()
        if saved is not None:
            with open(params["mega_path"], "wb") as f:
                f.write(saved[0])
            extra["saved_artifacts"] = {k: len(v) for k, v in saved[1].artifacts.items()}
            extra["mega_bytes"] = len(saved[0])
    if mode == "airgraph":
        extra["status"] = fn.status
        extra["entry_dir"] = str(fn.entry_dir)
    if "torch._inductor" in sys.modules:
        from torch._functorch import config as functorch_config
        from torch._inductor import config as inductor_config

        extra["fx_graph_cache"] = bool(inductor_config.fx_graph_cache)
        extra["autograd_cache"] = bool(functorch_config.enable_autograd_cache)
    steady_s = statistics.median(steady)
    return {
        "mode": mode,
        "import_torch_s": t1 - t0,
        "import_ours_s": t2 - t1,
        "build_model_s": t3 - t2,
        "first_call_s": t4 - t3,
        "steady_call_s": steady_s,
        "steady_min_s": min(steady),
        "warm_start_overhead_s": (t4 - t3) - steady_s,
        "ttfr_s": t4 - float(os.environ["CACHE_BENCH_SPAWN"]),
        "max_abs_err": err,
        "after_first_call": after_first,
        "at_exit": _modules(),
        "torch_cache_counters": _torch_cache_counters(),
        **extra,
    }


def aot_save(params: dict[str, Any]) -> dict[str, Any]:
    import bench_models
    import torch

    model = bench_models.build("gpt2")
    x = bench_models.example_input()
    with torch.no_grad():
        a = time.monotonic()
        aot = torch.compile(model._forward, fullgraph=True).aot_compile(((x,), {}))
        b = time.monotonic()
        aot.save_compiled_function(params["aot_path"])
        c = time.monotonic()
        err = float((aot(model, x) - model._forward(x)).abs().max())
    return {
        "aot_compile_s": b - a,
        "save_s": c - b,
        "bytes": os.path.getsize(params["aot_path"]),
        "max_abs_err": err,
        "torch_cache_counters": _torch_cache_counters(),
    }


# -- per-call overhead on tiny graphs ---------------------------------------


def _tiny_inputs(kind: str) -> tuple:
    import torch

    g = torch.Generator().manual_seed(2)
    if kind in ("add", "inplace"):
        return (torch.randn(4, generator=g), torch.randn(4, generator=g))
    if kind == "guarded":  # mask None and n == 3: two per-call checks besides the tensors'
        return (torch.randn(4, generator=g), torch.randn(4, generator=g), None, 3)
    return (torch.randn(1, 4, generator=g),)


def percall_prep(params: dict[str, Any]) -> dict[str, Any]:
    """Cold-compile the tiny graphs with ``ge_cache=True`` so that :func:`percall` loads them warm."""
    import bench_models
    import torch

    from airgraph_cache import cache_compile

    out = {}
    for kind in params["kinds"]:
        model = bench_models.build(kind)
        args = _tiny_inputs(kind)
        with torch.no_grad():
            a = time.monotonic()
            f = cache_compile(model._forward, cache_dir=params["cache_dir"], ge_cache=True)
            f(*args)
            out[kind] = {"status": f.status, "cold_first_call_s": time.monotonic() - a}
    return out


def _filled(cell: Any) -> bool:
    try:
        cell.cell_contents  # noqa: B018
    except ValueError:  # an empty cell
        return False
    return True


def _aoti_loader(run: Any) -> Any:
    """The ``AOTIModelPackageLoader`` inside the host program's installed runner."""
    import torch

    # Through nested wrappers (closures) and bound methods (``loader.run``).
    pending, seen = [run], set()
    while pending:
        obj = pending.pop()
        if isinstance(obj, torch._C._aoti.AOTIModelPackageLoader):
            return obj
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        cells = getattr(obj, "__closure__", None) or ()
        pending += [c.cell_contents for c in cells if _filled(c)]
        if hasattr(obj, "__self__"):
            pending.append(obj.__self__)
    raise RuntimeError("the installed host runner holds no AOTI loader (was ge_cache used?)")


def _time_side_by_side(
    candidates: dict[str, Any], repeats: int, batch_s: float
) -> dict[str, dict[str, float]]:
    """Per-call seconds of each zero-argument callable: median and min over ``repeats`` batches.

    Candidates are interleaved (each repeat runs every candidate once, in a
    rotated order) so that load changes on a shared machine hit them alike.
    """
    loops = {}
    for name, fn in candidates.items():
        for _ in range(20):
            fn()
        n, elapsed = 10, 0.0
        while elapsed < batch_s / 4:
            n *= 2
            a = time.perf_counter()
            for _ in range(n):
                fn()
            elapsed = time.perf_counter() - a
        loops[name] = max(50, int(n * batch_s / elapsed))
    samples: dict[str, list[float]] = {name: [] for name in candidates}
    names = list(candidates)
    gc_was = gc.isenabled()
    gc.disable()
    try:
        for r in range(repeats):
            for name in names[r % len(names) :] + names[: r % len(names)]:
                fn, n = candidates[name], loops[name]
                a = time.perf_counter()
                for _ in range(n):
                    fn()
                samples[name].append((time.perf_counter() - a) / n)
    finally:
        if gc_was:
            gc.enable()
    return {
        name: {
            "median_us": statistics.median(s) * 1e6,
            "min_us": min(s) * 1e6,
            "loops": loops[name],
        }
        for name, s in samples.items()
    }


def percall(params: dict[str, Any]) -> dict[str, Any]:
    """Per-call time of one tiny graph through every layer, measured side by side.

    The cached function is loaded warm first (and Dynamo must not be imported
    by then); ``torch.compile`` comes after it in the same process.
    """
    return {kind: _percall_one(kind, params) for kind in params["kinds"]}


def _percall_one(kind: str, params: dict[str, Any]) -> dict[str, Any]:
    import bench_models
    import torch

    from airgraph_cache import cache_compile

    model = bench_models.build(kind)
    args = _tiny_inputs(kind)
    res: dict[str, Any] = {}
    with torch.no_grad():
        cached = cache_compile(model._forward, cache_dir=params["cache_dir"], ge_cache=True)
        cached(*args)
        nocheck = cache_compile(
            model._forward, cache_dir=params["cache_dir"], ge_cache=True, check_inputs=False
        )
        nocheck(*args)
        res["status"] = [cached.status, nocheck.status]
        res["after_cached_load"] = _modules()
        program = cached._program
        executable = program.executable
        host = executable.program
        inputs = program.binding.inputs(model, args, {})
        tensors = [inputs[i] for i in host._tensor_pos]
        run = host._compiled[host.signature(inputs)]
        loader = _aoti_loader(run)

        compiled = torch.compile(model._forward, fullgraph=True)
        compiled(*args)
        from torch._inductor.compile_fx import compile_fx

        captured: dict[str, Any] = {}

        def capture(gm: torch.fx.GraphModule, example_inputs: list) -> Any:
            captured["fn"] = compile_fx(gm, example_inputs)
            captured["inputs"] = list(example_inputs)
            return captured["fn"]

        torch.compile(model._forward, fullgraph=True, backend=capture)(*args)
        bare, bare_inputs = captured["fn"], captured["inputs"]
        aot = torch.compile(model._forward, fullgraph=True).aot_compile((args, {}))
        aot.disable_guard_check()

        want = model._forward(*args)
        for name, got in (
            ("cached", cached(*args)),
            ("torch_compile", compiled(*args)),
            ("torch_bare", bare(*bare_inputs)[0]),
            ("aoti_bare", loader.run(tensors)[0]),
            ("torch_aot_noguard", aot(model, *args)),
        ):
            err = float((got - want).abs().max())
            if err > 1e-5:
                raise AssertionError(f"{kind}: {name} differs from eager by {err}")

        fwd = model._forward
        candidates = {
            "eager": lambda: fwd(*args),
            "torch_compile": lambda: compiled(*args),
            "torch_bare": lambda: bare(*bare_inputs),
            "torch_aot_noguard": lambda: aot(model, *args),
            "cached": lambda: cached(*args),
            "cached_nocheck": lambda: nocheck(*args),
            "layer_program": lambda: program(args, {}),
            "layer_binding": lambda: program.binding.inputs(model, args, {}),
            "layer_executable": lambda: executable(inputs),
            "layer_host_program": lambda: host(*inputs),
            "layer_host_signature": lambda: host.signature(inputs),
            "layer_runner": lambda: run(*tensors),
            "aoti_bare": lambda: loader.run(tensors),
            "empty_lambda": lambda: None,
        }
        res["per_call"] = _time_side_by_side(
            candidates, params.get("repeats", 15), params.get("batch_s", 0.02)
        )
    return res


SCENARIOS = {
    "gpt2": gpt2,
    "aot_save": aot_save,
    "percall_prep": percall_prep,
    "percall": percall,
}


def main() -> int:
    name, params = sys.argv[1], json.loads(sys.argv[2])
    result = SCENARIOS[name](params)
    result["interpreter_start_s"] = T_START - float(os.environ["CACHE_BENCH_SPAWN"])
    sys.stdout.flush()
    print("\n" + json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
