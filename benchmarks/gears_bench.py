"""Gears benchmark: one trace for 16 shapes, at the speed of static compiles.

A small GPT-2-style model (2 layers, embedding 64, 4 heads, vocabulary 256)
is served for batch {1, 2, 4, 8} x sequence {16, 32, 64, 128}: 16 shapes.

Compile cost, to serve every shape once:
  (a) airgraph gears (host target, Inductor, ``gear_compile="eager"``, product policy);
  (b) ``torch.compile(dynamic=False)``: a recompile per shape until Dynamo's
      recompile limit (8), then eager PyTorch;
  (c) ``torch.compile()`` with its default automatic dynamic shapes.

Latency per shape (median over interleaved rounds) of airgraph vs a static
``torch.compile`` of that very shape (Inductor) and vs
``torch.compile(dynamic=True)``. The ratios are paired: the median over
rounds of airgraph's time over the other variant's time in the same round.

Every variant gets its own copy of ``forward``'s code object, so Dynamo's
cache of one variant never holds another's entries (a shared cache would
add guard checks to some calls and share the recompile limit). Inductor's
FX-graph and AOTAutograd caches are off, so every compile is real; the
vector-ISA probe is paid once before any timing.

Latency is measured as CPU time of the calling thread with one intra-op
thread (``--threads``): on a shared machine, wall-clock medians mostly
measure the other processes. Wall-clock medians are recorded too.

Usage: ``python benchmarks/gears_bench.py [--out benchmarks/results] [--rounds 200]``
(``benchmarks/run.py`` calls it).
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

BATCHES = (1, 2, 4, 8)
SEQS = (16, 32, 64, 128)
SHAPES = [(b, s) for b in BATCHES for s in SEQS]
VOCAB = 256


class Block(nn.Module):
    """A GPT-2 block: pre-norm causal self-attention and a GELU MLP."""

    def __init__(self, d: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.qkv, self.proj = nn.Linear(d, 3 * d), nn.Linear(d, d)
        self.fc, self.out = nn.Linear(d, 4 * d), nn.Linear(4 * d, d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(d, dim=-1)
        q, k, v = (y.view(b, t, self.heads, d // self.heads).transpose(1, 2) for y in (q, k, v))
        # Attention written out as GPT-2 does: scaled_dot_product_attention
        # cannot be traced with an unbacked (geared) sequence length in torch 2.13.
        scores = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(d // self.heads))
        causal = torch.ones(t, t, dtype=torch.bool, device=x.device).tril()
        att = scores.masked_fill(~causal, float("-inf")).softmax(dim=-1) @ v
        x = x + self.proj(att.transpose(1, 2).reshape(b, t, d))
        return x + self.out(F.gelu(self.fc(self.ln2(x))))


class TinyGPT(nn.Module):
    """Token + position embeddings, ``layers`` blocks, final norm, LM head."""

    def __init__(self, d: int = 64, heads: int = 4, layers: int = 2) -> None:
        super().__init__()
        self.tok = nn.Embedding(VOCAB, d)
        self.pos = nn.Embedding(max(SEQS), d)
        self.blocks = nn.ModuleList(Block(d, heads) for _ in range(layers))
        self.ln = nn.LayerNorm(d)
        self.head = nn.Linear(d, VOCAB, bias=False)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        t = ids.shape[1]
        x = self.tok(ids) + self.pos(torch.arange(t, device=ids.device))
        for block in self.blocks:
            x = block(x)
        return self.head(self.ln(x))


def _own_code(model: TinyGPT, tag: str) -> Callable[[torch.Tensor], torch.Tensor]:
    """``model.forward`` with a code object of its own (its own Dynamo cache)."""
    f = TinyGPT.forward
    code = f.__code__.replace(co_name=f"forward_{tag}")
    return types.MethodType(types.FunctionType(code, f.__globals__, code.co_name), model)


def _ids(shape: tuple[int, int], seed: int = 0) -> torch.Tensor:
    return torch.randint(0, VOCAB, shape, generator=torch.Generator().manual_seed(seed))


def _traces() -> int:
    from torch._dynamo.utils import counters

    return int(counters["stats"]["unique_graphs"])


def _serve_all(fn: Callable, first: torch.Tensor | None = None) -> tuple[float, int]:
    """Call ``fn`` once per shape; return (wall seconds, Dynamo traces)."""
    from torch._dynamo.utils import counters

    counters.clear()
    start = time.perf_counter()
    for i, shape in enumerate(SHAPES):
        fn(first if i == 0 and first is not None else _ids(shape, i))
    return time.perf_counter() - start, _traces()


def _airgraph(model: TinyGPT) -> tuple[Callable, Any, torch.Tensor]:
    from airgraph_dynamo import CompilerConfig, get_npu_backend
    from airgraph_gears import set_dim_gears

    config = CompilerConfig()
    config.airgraph_config.target = "host"
    config.airgraph_config.host_mode = "inductor"
    config.airgraph_config.gear_compile = "eager"
    config.inference_config.dynamic_gears_merge_policy = "product"
    backend = get_npu_backend(compiler_config=config)
    compiled = torch.compile(_own_code(model, "airgraph"), backend=backend, fullgraph=True)
    first = _ids(SHAPES[0])
    set_dim_gears(first, {0: list(BATCHES), 1: list(SEQS)})
    return compiled, backend, first


def _progress(message: str) -> None:
    print(f"[gears_bench] {message}", file=sys.stderr, flush=True)


def _interleaved(
    fns: dict[str, Callable[[], Any]], rounds: int
) -> tuple[dict[str, dict[str, float]], dict[str, float]]:
    """Time the variants side by side, interleaved per round (the order rotating).

    Returns the median CPU-thread and wall microseconds per call of each
    variant, and for every variant after the first the median over rounds of
    (first variant's CPU time / its CPU time in the same round): a ratio of
    calls made moments apart, which a busy spell on the machine slows alike.
    """
    names = list(fns)
    cpu: dict[str, list[float]] = {name: [] for name in fns}
    wall: dict[str, list[float]] = {name: [] for name in fns}
    for fn in fns.values():
        for _ in range(3):
            fn()
    for r in range(rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            t0, w0 = time.thread_time_ns(), time.perf_counter_ns()
            fns[name]()
            cpu[name].append((time.thread_time_ns() - t0) / 1e3)
            wall[name].append((time.perf_counter_ns() - w0) / 1e3)
    times = {
        name: {"cpu_us": statistics.median(cpu[name]), "wall_us": statistics.median(wall[name])}
        for name in fns
    }
    first = names[0]
    ratios = {
        name: statistics.median(a / b for a, b in zip(cpu[first], cpu[name])) for name in names[1:]
    }
    return times, ratios


def run(rounds: int = 200, threads: int = 1) -> dict[str, Any]:
    """Run the benchmark and return its record (see the module docstring)."""
    import torch._dynamo
    import torch._functorch.config
    import torch._inductor.config as inductor_config

    torch.set_num_threads(threads)
    inductor_config.fx_graph_cache = False
    inductor_config.autotune_local_cache = False
    torch._functorch.config.enable_autograd_cache = False
    torch.manual_seed(0)
    model = TinyGPT().eval()
    with torch.no_grad():
        # Pay Inductor's one-off vector-ISA probe before any timing.
        torch.compile(lambda x: x * 2 + 1, dynamic=False)(torch.ones(8))
        torch._dynamo.reset()

        compiled, backend, first = _airgraph(model)
        a_seconds, a_traces = _serve_all(compiled, first)
        _progress(f"airgraph gears: {a_traces} trace(s), {a_seconds:.1f} s")
        gears = backend.compiled[0].gears
        for i, shape in enumerate(SHAPES):
            x = _ids(shape, 100 + i)
            torch.testing.assert_close(compiled(x), model(x), rtol=1e-4, atol=1e-4)
        assert _traces() == a_traces == 1, f"{_traces()} traces: a gear shape retraced"

        b_seconds, b_traces = _serve_all(torch.compile(_own_code(model, "static"), dynamic=False))
        _progress(f"dynamic=False: {b_traces} trace(s), {b_seconds:.1f} s")
        c_seconds, c_traces = _serve_all(torch.compile(_own_code(model, "auto"), dynamic=None))
        _progress(f"automatic dynamic: {c_traces} trace(s), {c_seconds:.1f} s")

        dynamic = torch.compile(_own_code(model, "dynamic"), dynamic=True)
        per_gear = []
        for i, shape in enumerate(SHAPES):
            x = _ids(shape, 200 + i)
            static = torch.compile(_own_code(model, f"static_{i}"), dynamic=False)
            start = time.perf_counter()
            static(x)
            static_compile = time.perf_counter() - start
            dynamic(x)
            times, ratios = _interleaved(
                {
                    "airgraph": lambda x=x: compiled(x),
                    "static": lambda x=x, static=static: static(x),
                    "dynamic": lambda x=x: dynamic(x),
                },
                rounds,
            )
            _progress(
                f"latency {shape}: "
                + ", ".join(f"{k} {v['cpu_us']:.0f} us" for k, v in times.items())
            )
            per_gear.append(
                {
                    "shape": list(shape),
                    "airgraph_compile_s": gears.compiled[gears.plan.lookup([shape])],
                    "static_compile_s": static_compile,
                    **{f"{name}_{k}": v for name, t in times.items() for k, v in t.items()},
                    "vs_static": ratios["static"],
                    "vs_dynamic": ratios["dynamic"],
                }
            )
    ratios = [g["vs_static"] for g in per_gear]
    return {
        "benchmark": "gears",
        "model": "TinyGPT: 2 layers, d=64, 4 heads, vocab 256",
        "shapes": [list(s) for s in SHAPES],
        "threads": threads,
        "rounds": rounds,
        "compile": {
            "airgraph_gears": {
                "traces": a_traces,
                "seconds": a_seconds,
                "gears_compiled": len(gears.compiled),
                "gear_compile_seconds": sum(gears.compiled.values()),
            },
            "dynamic_false": {"traces": b_traces, "seconds": b_seconds},
            "automatic_dynamic": {"traces": c_traces, "seconds": c_seconds},
        },
        "latency": per_gear,
        "summary": {
            "vs_static_geomean": math.exp(statistics.fmean(math.log(r) for r in ratios)),
            "vs_static_max": max(ratios),
            "vs_dynamic_geomean": math.exp(
                statistics.fmean(math.log(g["vs_dynamic"]) for g in per_gear)
            ),
            "gears_within_5pct_of_static": sum(r <= 1.05 for r in ratios),
        },
    }


def to_markdown(record: dict[str, Any]) -> str:
    """The record as a short markdown report."""
    c = record["compile"]
    lines = [
        "# Gears benchmark",
        "",
        f"{record['model']}; shapes batch {list(BATCHES)} x seq {list(SEQS)} "
        f"({len(record['shapes'])}); {record['threads']} thread(s); "
        f"latency = median CPU time of {record['rounds']} interleaved rounds; "
        "ratios = median over rounds of the ratio of the two calls in one round.",
        "",
        "## Serving every shape once",
        "",
        "| variant | Dynamo traces | seconds |",
        "|---|---|---|",
        f"| airgraph gears (eager compile, {c['airgraph_gears']['gears_compiled']} gears) "
        f"| {c['airgraph_gears']['traces']} | {c['airgraph_gears']['seconds']:.1f} |",
        f"| torch.compile dynamic=False | {c['dynamic_false']['traces']} "
        f"| {c['dynamic_false']['seconds']:.1f} |",
        f"| torch.compile automatic dynamic | {c['automatic_dynamic']['traces']} "
        f"| {c['automatic_dynamic']['seconds']:.1f} |",
        "",
        "## Latency per gear (µs)",
        "",
        "| shape | airgraph | static | dynamic=True | airgraph/static | airgraph/dynamic |",
        "|---|---|---|---|---|---|",
    ]
    for g in record["latency"]:
        lines.append(
            f"| {tuple(g['shape'])} | {g['airgraph_cpu_us']:.0f} | {g['static_cpu_us']:.0f} "
            f"| {g['dynamic_cpu_us']:.0f} | {g['vs_static']:.3f} | {g['vs_dynamic']:.3f} |"
        )
    s = record["summary"]
    lines += [
        "",
        f"Geometric mean airgraph/static {s['vs_static_geomean']:.3f} (max "
        f"{s['vs_static_max']:.3f}; {s['gears_within_5pct_of_static']} of "
        f"{len(record['latency'])} gears within 5%); airgraph/dynamic "
        f"{s['vs_dynamic_geomean']:.3f}.",
        "",
    ]
    return "\n".join(lines)


def write(record: dict[str, Any], out: Path) -> list[Path]:
    """Write ``gears.json`` and ``gears.md`` into ``out`` (atomically)."""
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, text in (
        ("gears.json", json.dumps(record, indent=2) + "\n"),
        ("gears.md", to_markdown(record)),
    ):
        path = out / name
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(text)
        tmp.replace(path)
        paths.append(path)
    return paths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    parser.add_argument("--rounds", type=int, default=200, help="timed calls per variant and gear")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    args = parser.parse_args(argv)
    record = run(args.rounds, args.threads)
    for path in write(record, args.out):
        print(f"wrote {path}")
    print(to_markdown(record))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
