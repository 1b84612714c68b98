"""Per-call cost outside the compiled code: one gear of a geared compile vs a static compile.

The gears benchmark's small shapes (the LLaMA at batch 1 x sequence 16:
~600 µs a call) show every microsecond a geared call spends outside
Inductor's code. This script compiles ``gears_bench``'s model geared
(``gear_compile="lazy"``: only the measured gear is compiled) and statically
at one shape, then in one process, interleaved:

1. full calls: median CPU time per call and the median over rounds of the
   paired ratio geared/static (as ``gears_bench`` reports it);
2. the same calls with Inductor's compiled code replaced by a stub that
   returns its outputs, min over repeats: what remains is Dynamo (guards,
   the transformed frame), AOTAutograd's runtime wrapper and airgraph's
   dispatch; and the compiled function Dynamo calls (AOTAutograd's wrapper
   and what is under it) on its own.

The static compile here is ``torch.compile(backend=compile_fx)`` with
Inductor's defaults (its compiled graph captured to stub it); its full calls
are also compared with ``torch.compile(dynamic=False)``.

Usage: ``python benchmarks/gears_overhead.py [--model llama|tinygpt] [--shape 1,16]
[--rounds 400]`` (prints; writes nothing).
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import timeit
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).parent))
import gears_bench as gb  # noqa: E402


def _dynamo_compiled_fn(code_fn: Any, call: Callable[[], Any]) -> tuple[Callable, tuple]:
    """The function Dynamo's transformed frame of ``code_fn`` calls, and its arguments."""
    from torch._dynamo.eval_frame import _debug_get_cache_entry_list

    (entry,) = _debug_get_cache_entry_list(code_fn.__func__.__code__)
    name = next(n for n in entry.code.co_names if n.startswith("__compiled_fn"))
    namespace = code_fn.__func__.__globals__
    real, seen = namespace[name], []
    namespace[name] = lambda *args: seen.append(args) or real(*args)
    try:
        call()
    finally:
        namespace[name] = real
    return real, seen[0]


def _compiled_graph(entry: Any) -> Any:
    """Inductor's ``CompiledFxGraph`` under a gear's table entry."""
    from torch._inductor.output_code import CompiledFxGraph

    obj = entry
    for _ in range(6):
        if isinstance(obj, CompiledFxGraph):
            return obj
        obj = next(getattr(obj, a) for a in ("_graph", "graph", "direct", "fn") if hasattr(obj, a))
    raise TypeError(f"no compiled graph under {entry!r}")


def _min_us(fns: dict[str, Callable[[], Any]], repeats: int = 25, number: int = 200) -> dict:
    best = dict.fromkeys(fns, float("inf"))
    for _ in range(repeats):
        names = list(fns)
        random.shuffle(names)
        for name in names:
            t = min(timeit.repeat(fns[name], number=number, repeat=3)) / number * 1e6
            best[name] = min(best[name], t)
    return best


def run(model: str, shape: tuple[int, int], rounds: int) -> None:
    import torch._functorch.config as functorch_config
    from torch._inductor.compile_fx import compile_fx, compile_fx_inner

    from airgraph_dynamo import CompilerConfig, get_npu_backend
    from airgraph_gears import set_dim_gears, set_gear_tracing

    torch.set_num_threads(1)
    functorch_config.enable_autograd_cache = False  # the static compiles must really compile
    w = gb.workload(model)
    with torch.no_grad():
        config = CompilerConfig()
        config.airgraph_config.target = "host"
        config.airgraph_config.host_mode = "inductor"
        config.airgraph_config.gear_compile = "lazy"
        config.inference_config.dynamic_gears_merge_policy = "product"
        backend = get_npu_backend(compiler_config=config)
        geared_code = gb._own_code(w, "geared")
        geared = torch.compile(geared_code, backend=backend, fullgraph=True)
        first = gb._ids(shape)
        set_gear_tracing(w.gear_tracing)
        try:
            set_dim_gears(first, {0: list(w.batches), 1: list(w.seqs)})
        finally:
            set_gear_tracing("unbacked")
        geared(first)
        inner: list[Any] = []

        def inner_compile(gm: Any, example_inputs: Any, **kwargs: Any) -> Any:
            inner.append(compile_fx_inner(gm, example_inputs, **kwargs))
            return inner[-1]

        static_code = gb._own_code(w, "static")
        static = torch.compile(
            static_code,
            backend=lambda gm, ex: compile_fx(gm, ex, inner_compile=inner_compile),
            dynamic=False,
        )
        plain = torch.compile(gb._own_code(w, "dynamic_false"), dynamic=False)
        x = gb._ids(shape, 7)
        torch.testing.assert_close(geared(x), static(x), rtol=1e-4, atol=1e-4)
        plain(x)
        (entry,) = backend.compiled[0].gear_runner._table.values()
        print(f"{w.description}; shape {shape}; 1 thread; gear entry {type(entry).__name__}")

        fns = {
            "geared": lambda: geared(x),
            "static": lambda: static(x),
            "dynamic_false": lambda: plain(x),
        }
        times, cpu = gb._interleaved(fns, rounds)
        for name, t in times.items():
            print(f"full call {name:14s} median CPU {t['cpu_us']:8.1f} us")
        for other in ("static", "dynamic_false"):
            diff = statistics.median(a - b for a, b in zip(cpu["geared"], cpu[other]))
            print(f"paired geared/{other}: {gb._paired(cpu, 'geared', other):.4f} ({diff:+.1f} us)")

        geared_fn, geared_args = _dynamo_compiled_fn(geared_code, lambda: geared(x))
        static_fn, static_args = _dynamo_compiled_fn(static_code, lambda: static(x))
        graphs = {"geared": _compiled_graph(entry), "static": inner[0]}
        outputs = {"geared": geared(x), "static": static(x)}
        real = {k: g.current_callable for k, g in graphs.items()}
        try:
            for k, g in graphs.items():
                g.current_callable = lambda args, out=outputs[k]: (out,)
            best = _min_us(
                {
                    "geared: whole call": lambda: geared(x),
                    "static: whole call": lambda: static(x),
                    "geared: Dynamo's compiled fn": lambda: geared_fn(*geared_args),
                    "static: Dynamo's compiled fn": lambda: static_fn(*static_args),
                }
            )
        finally:
            for k, g in graphs.items():
                g.current_callable = real[k]
        print("Inductor's code stubbed out (min over repeats):")
        for name, t in best.items():
            print(f"  {name:30s} {t:8.2f} us")
        for part in ("whole call", "Dynamo's compiled fn"):
            print(
                f"  geared - static, {part}: {best[f'geared: {part}'] - best[f'static: {part}']:+.2f} us"
            )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=gb.MODELS, default="llama")
    parser.add_argument("--shape", default="1,16", help="batch,sequence (a gear of the plan)")
    parser.add_argument("--rounds", type=int, default=400, help="interleaved full-call rounds")
    args = parser.parse_args(argv)
    shape = tuple(int(v) for v in args.shape.split(","))
    if len(shape) != 2 or shape not in gb.SHAPES:
        parser.error(f"--shape: expected one of {gb.SHAPES}, got {args.shape!r}")
    run(args.model, shape, args.rounds)  # type: ignore[arg-type]
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
