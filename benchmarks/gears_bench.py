"""Gears benchmark: one trace for 16 shapes, at the speed of static compiles.

A small GPT-2-style model (2 layers, embedding 64, 4 heads, vocabulary 256)
is served for batch {1, 2, 4, 8} x sequence {16, 32, 64, 128}: 16 shapes.

Compile cost, to serve every shape once:
  (a) airgraph gears (host target, Inductor, product policy) with
      ``gear_compile="background"``: every shape is served at once by the
      interpreted GE graph while a thread compiles the gears; timed to the
      16 first results, and to the moment every gear is compiled
      (``wait_for_gears``);
  (b) the same with ``gear_compile="eager"`` (all 16 gears compiled at the
      first call);
  (c) ``torch.compile(dynamic=False)``: a recompile per shape until Dynamo's
      recompile limit (8), then eager PyTorch;
  (d) ``torch.compile()`` with its default automatic dynamic shapes.

The airgraph variants run first, in ``--variants`` order (default:
background, then eager). With the FX-graph cache off, a later variant can
still reuse C++ kernels an earlier one compiled (Inductor's in-process code
cache): the first variant is the cold one.

Latency per shape (median over interleaved rounds) of airgraph (each
variant, after its compiles finished) vs a static ``torch.compile`` of that
very shape (Inductor) and vs ``torch.compile(dynamic=True)``. The ratios are
paired: the median over rounds of airgraph's time over the other variant's
time in the same round.

Every variant gets its own copy of ``forward``'s code object, so Dynamo's
cache of one variant never holds another's entries (a shared cache would
add guard checks to some calls and share the recompile limit). Inductor's
FX-graph and AOTAutograd caches are off, so every compile is real; the
vector-ISA probe is paid once before any timing.

Latency is measured as CPU time of the calling thread with one intra-op
thread (``--threads``): on a shared machine, wall-clock medians mostly
measure the other processes. Wall-clock medians are recorded too.

``--model llama`` measures the same on a ``transformers`` LLaMA of the same
size (2 layers, hidden 64, 4 heads, 2 key-value heads, vocabulary 256, random
weights), called as users call it: ``model(input_ids=ids)`` with the default
sdpa attention; its gears are traced with ``set_gear_tracing("backed")``
(branches on the sizes trace, with guards the backend checks per gear). It
writes ``gears_llama.json`` and ``gears_llama.md`` (the TinyGPT run writes
``gears.json`` and ``gears.md``).

Usage: ``python benchmarks/gears_bench.py [--out benchmarks/results] [--rounds 200]
[--variants background,eager] [--model tinygpt|llama] [--quick]``
(``benchmarks/run.py`` calls it; ``--quick --rounds 5`` is a smoke run: 2 x 2
gears, batch {1, 4} x sequence {16, 64}).
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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

BATCHES = (1, 2, 4, 8)
SEQS = (16, 32, 64, 128)
SHAPES = [(b, s) for b in BATCHES for s in SEQS]
#: The reduced plan of ``--quick`` (a smoke run).
QUICK_BATCHES = (1, 4)
QUICK_SEQS = (16, 64)
VOCAB = 256
MODELS = ("tinygpt", "llama")


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


def _llama_forward(model: nn.Module, ids: torch.Tensor) -> torch.Tensor:
    """The plain ``transformers`` call, its logits (the compiled function of ``--model llama``)."""
    return model(input_ids=ids).logits


@dataclass(frozen=True)
class Workload:
    """What is served: the model, the function compiled per variant, the gear plan."""

    name: str
    description: str
    model: nn.Module
    #: ``(model, ids) -> logits``; every variant compiles its own copy of its code.
    forward: Callable[[nn.Module, torch.Tensor], torch.Tensor]
    batches: tuple[int, ...]
    seqs: tuple[int, ...]
    #: ``set_gear_tracing`` mode for the airgraph variants.
    gear_tracing: str = "unbacked"

    @property
    def shapes(self) -> list[tuple[int, int]]:
        return [(b, s) for b in self.batches for s in self.seqs]


def workload(name: str = "tinygpt", quick: bool = False) -> Workload:
    """The model ``name`` (one of :data:`MODELS`) and its plan (2 x 2 gears if ``quick``)."""
    batches, seqs = (QUICK_BATCHES, QUICK_SEQS) if quick else (BATCHES, SEQS)
    torch.manual_seed(0)
    if name == "tinygpt":
        return Workload(
            name,
            "TinyGPT: 2 layers, d=64, 4 heads, vocab 256",
            TinyGPT().eval(),
            TinyGPT.forward,
            batches,
            seqs,
        )
    if name != "llama":
        raise ValueError(f"name must be one of {list(MODELS)}, got {name!r}")
    import transformers

    config = transformers.LlamaConfig(
        vocab_size=VOCAB,
        hidden_size=64,
        num_attention_heads=4,
        num_key_value_heads=2,
        num_hidden_layers=2,
        intermediate_size=176,
        max_position_embeddings=max(SEQS),
    )
    return Workload(
        name,
        "transformers LlamaForCausalLM: 2 layers, hidden 64, 4 heads (2 key-value), "
        "vocab 256, random weights; model(input_ids=ids), sdpa attention; "
        'gears traced with set_gear_tracing("backed")',
        transformers.LlamaForCausalLM(config).eval(),
        _llama_forward,
        batches,
        seqs,
        gear_tracing="backed",
    )


def _own_code(w: Workload, tag: str) -> Callable[[torch.Tensor], torch.Tensor]:
    """``w.forward`` bound to the model, with a code object of its own (its own Dynamo cache)."""
    f = w.forward
    code = f.__code__.replace(co_name=f"forward_{tag}")
    return types.MethodType(types.FunctionType(code, f.__globals__, code.co_name), w.model)


def _ids(shape: tuple[int, int], seed: int = 0) -> torch.Tensor:
    return torch.randint(0, VOCAB, shape, generator=torch.Generator().manual_seed(seed))


def _traces() -> int:
    from torch._dynamo.utils import counters

    return int(counters["stats"]["unique_graphs"])


def _serve_all(w: Workload, fn: Callable, first: torch.Tensor | None = None) -> tuple[float, int]:
    """Call ``fn`` once per shape; return (wall seconds, Dynamo traces)."""
    from torch._dynamo.utils import counters

    counters.clear()
    start = time.perf_counter()
    for i, shape in enumerate(w.shapes):
        fn(first if i == 0 and first is not None else _ids(shape, i))
    return time.perf_counter() - start, _traces()


def _airgraph(w: Workload, gear_compile: str) -> tuple[Callable, Any, torch.Tensor]:
    from airgraph_dynamo import CompilerConfig, get_npu_backend
    from airgraph_gears import set_dim_gears, set_gear_tracing

    config = CompilerConfig()
    config.airgraph_config.target = "host"
    config.airgraph_config.host_mode = "inductor"
    config.airgraph_config.gear_compile = gear_compile
    config.inference_config.dynamic_gears_merge_policy = "product"
    backend = get_npu_backend(compiler_config=config)
    code = _own_code(w, f"airgraph_{gear_compile}")
    compiled = torch.compile(code, backend=backend, fullgraph=True)
    first = _ids(w.shapes[0])
    set_gear_tracing(w.gear_tracing)
    try:
        set_dim_gears(first, {0: list(w.batches), 1: list(w.seqs)})
    finally:
        set_gear_tracing("unbacked")
    return compiled, backend, first


def _progress(message: str) -> None:
    print(f"[gears_bench] {message}", file=sys.stderr, flush=True)


def _serve_airgraph(w: Workload, gear_compile: str) -> tuple[Callable, Any, dict[str, Any]]:
    """Serve every shape once with airgraph gears; wait until every gear is compiled.

    Returns the compiled function, its gear setup and the variant's compile record.
    CPU seconds are the whole process's (the background thread's compiles included).
    """
    from airgraph_dynamo import wait_for_gears

    compiled, backend, first = _airgraph(w, gear_compile)
    cpu = time.process_time()
    seconds, traces = _serve_all(w, compiled, first)
    served_cpu = time.process_time() - cpu
    start = time.perf_counter()
    assert wait_for_gears(), "a background gear compile failed (see the log)"
    ready = seconds + time.perf_counter() - start
    ready_cpu = time.process_time() - cpu
    gears = backend.compiled[0].gears
    for i, shape in enumerate(w.shapes):
        x = _ids(shape, 100 + i)
        torch.testing.assert_close(compiled(x), w.forward(w.model, x), rtol=1e-4, atol=1e-4)
    assert _traces() == traces == 1, f"{_traces()} traces: a gear shape retraced"
    assert len(gears.compiled) == len(w.shapes), f"{len(gears.compiled)} gears compiled"
    _progress(
        f"airgraph gears ({gear_compile}): {traces} trace(s), first results {seconds:.1f} s, "
        f"every gear compiled {ready:.1f} s"
    )
    return (
        compiled,
        gears,
        {
            "traces": traces,
            "seconds": seconds,
            "cpu_seconds": served_cpu,
            "all_compiled_seconds": ready,
            "all_compiled_cpu_seconds": ready_cpu,
            "gears_compiled": len(gears.compiled),
            "gear_compile_seconds": sum(gears.compiled.values()),
        },
    )


def _interleaved(
    fns: dict[str, Callable[[], Any]], rounds: int
) -> tuple[dict[str, dict[str, float]], dict[str, list[float]]]:
    """Time the variants side by side, interleaved per round (the order rotating).

    Returns the median CPU-thread and wall microseconds per call of each
    variant, and each variant's CPU microseconds per round (for paired ratios:
    calls made moments apart, which a busy spell on the machine slows alike).
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
    return times, cpu


def _paired(cpu: dict[str, list[float]], a: str, b: str) -> float:
    """The median over rounds of a's CPU time over b's in the same round."""
    return statistics.median(x / y for x, y in zip(cpu[a], cpu[b]))


def _geomean(values: list[float]) -> float:
    return math.exp(statistics.fmean(math.log(v) for v in values))


def run(
    rounds: int = 200,
    threads: int = 1,
    variants: tuple[str, ...] = ("background", "eager"),
    model: str = "tinygpt",
    quick: bool = False,
) -> dict[str, Any]:
    """Run the benchmark on ``model`` (one of :data:`MODELS`) and return its record.

    ``quick`` serves the 2 x 2 plan of :data:`QUICK_BATCHES` x :data:`QUICK_SEQS`
    (a smoke run). See the module docstring for what is measured.
    """
    import torch._dynamo
    import torch._functorch.config
    import torch._inductor.config as inductor_config

    torch.set_num_threads(threads)
    inductor_config.fx_graph_cache = False
    inductor_config.autotune_local_cache = False
    torch._functorch.config.enable_autograd_cache = False
    w = workload(model, quick)
    compile_record: dict[str, Any] = {}
    airgraph: dict[str, tuple[Callable, Any]] = {}
    with torch.no_grad():
        # Pay Inductor's one-off vector-ISA probe before any timing.
        torch.compile(lambda x: x * 2 + 1, dynamic=False)(torch.ones(8))
        torch._dynamo.reset()

        for variant in variants:
            compiled, gears, record = _serve_airgraph(w, variant)
            airgraph[variant] = (compiled, gears)
            compile_record[f"airgraph_{variant}"] = record

        b_seconds, b_traces = _serve_all(w, torch.compile(_own_code(w, "static"), dynamic=False))
        _progress(f"dynamic=False: {b_traces} trace(s), {b_seconds:.1f} s")
        c_seconds, c_traces = _serve_all(w, torch.compile(_own_code(w, "auto"), dynamic=None))
        _progress(f"automatic dynamic: {c_traces} trace(s), {c_seconds:.1f} s")
        compile_record["dynamic_false"] = {"traces": b_traces, "seconds": b_seconds}
        compile_record["automatic_dynamic"] = {"traces": c_traces, "seconds": c_seconds}

        dynamic = torch.compile(_own_code(w, "dynamic"), dynamic=True)
        per_gear = []
        for i, shape in enumerate(w.shapes):
            x = _ids(shape, 200 + i)
            static = torch.compile(_own_code(w, f"static_{i}"), dynamic=False)
            start = time.perf_counter()
            static(x)
            static_compile = time.perf_counter() - start
            dynamic(x)
            fns: dict[str, Callable[[], Any]] = {
                v: (lambda x=x, f=f: f(x)) for v, (f, _) in airgraph.items()
            }
            fns["static"] = lambda x=x, static=static: static(x)
            fns["dynamic"] = lambda x=x: dynamic(x)
            times, cpu = _interleaved(fns, rounds)
            _progress(
                f"latency {shape}: "
                + ", ".join(f"{k} {v['cpu_us']:.0f} us" for k, v in times.items())
            )
            entry: dict[str, Any] = {"shape": list(shape), "static_compile_s": static_compile}
            for v, (_, gears) in airgraph.items():
                entry[f"{v}_compile_s"] = gears.compiled[gears.plan.lookup([shape])]
                entry[f"{v}_vs_static"] = _paired(cpu, v, "static")
                entry[f"{v}_vs_dynamic"] = _paired(cpu, v, "dynamic")
            for name, t in times.items():
                entry.update({f"{name}_{k}": value for k, value in t.items()})
            per_gear.append(entry)
    summary = {}
    for v in airgraph:
        ratios = [g[f"{v}_vs_static"] for g in per_gear]
        summary[v] = {
            "vs_static_geomean": _geomean(ratios),
            "vs_static_max": max(ratios),
            "vs_dynamic_geomean": _geomean([g[f"{v}_vs_dynamic"] for g in per_gear]),
            "gears_within_5pct_of_static": sum(r <= 1.05 for r in ratios),
        }
    record: dict[str, Any] = {
        "benchmark": "gears",
        "model": w.description,
        "shapes": [list(s) for s in w.shapes],
        "threads": threads,
        "rounds": rounds,
        "variants": list(variants),
        "compile": compile_record,
        "latency": per_gear,
        "summary": summary,
    }
    if w.name != "tinygpt":  # the TinyGPT record keeps its original keys
        record["model_name"] = w.name
    return record


def _stem(record: dict[str, Any]) -> str:
    """``gears`` for the TinyGPT record, ``gears_<model>`` for the others."""
    name = record.get("model_name", "tinygpt")
    return "gears" if name == "tinygpt" else f"gears_{name}"


def to_markdown(record: dict[str, Any]) -> str:
    """The record as a short markdown report."""
    c = record["compile"]
    variants = record["variants"]
    batches = sorted({s[0] for s in record["shapes"]})
    seqs = sorted({s[1] for s in record["shapes"]})
    lines = [
        "# Gears benchmark" + ("" if _stem(record) == "gears" else f" ({record['model_name']})"),
        "",
        f"{record['model']}; shapes batch {batches} x seq {seqs} "
        f"({len(record['shapes'])}); {record['threads']} thread(s); "
        f"latency = median CPU time of {record['rounds']} interleaved rounds; "
        "ratios = median over rounds of the ratio of the two calls in one round.",
        "",
        "## Serving every shape once",
        "",
        f"Seconds to the {len(record['shapes'])} first results; for airgraph also until every gear is "
        "compiled, and CPU seconds of the whole process (its compile thread included). "
        f"The airgraph variants ran in this order: {', '.join(variants)} (a later one may "
        "reuse C++ kernels an earlier one compiled).",
        "",
        "| variant | Dynamo traces | seconds | every gear compiled (s) | CPU s (first results / all) |",
        "|---|---|---|---|---|",
    ]
    for v in variants:
        a = c[f"airgraph_{v}"]
        lines.append(
            f"| airgraph gears ({v} compile, {a['gears_compiled']} gears) | {a['traces']} "
            f"| {a['seconds']:.1f} | {a['all_compiled_seconds']:.1f} "
            f"| {a['cpu_seconds']:.1f} / {a['all_compiled_cpu_seconds']:.1f} |"
        )
    lines += [
        f"| torch.compile dynamic=False | {c['dynamic_false']['traces']} "
        f"| {c['dynamic_false']['seconds']:.1f} | | |",
        f"| torch.compile automatic dynamic | {c['automatic_dynamic']['traces']} "
        f"| {c['automatic_dynamic']['seconds']:.1f} | | |",
        "",
        "## Latency per gear (µs), after every gear is compiled",
        "",
        "| shape | "
        + " | ".join(variants)
        + " | static | dynamic=True | "
        + " | ".join(f"{v}/static" for v in variants)
        + " | "
        + " | ".join(f"{v}/dynamic" for v in variants)
        + " |",
        "|---" * (1 + 3 * len(variants) + 2) + "|",
    ]
    for g in record["latency"]:
        cells = [f"{g[f'{v}_cpu_us']:.0f}" for v in variants]
        cells += [f"{g['static_cpu_us']:.0f}", f"{g['dynamic_cpu_us']:.0f}"]
        cells += [f"{g[f'{v}_vs_static']:.3f}" for v in variants]
        cells += [f"{g[f'{v}_vs_dynamic']:.3f}" for v in variants]
        lines.append(f"| {tuple(g['shape'])} | " + " | ".join(cells) + " |")
    lines.append("")
    for v in variants:
        s = record["summary"][v]
        lines.append(
            f"{v}: geometric mean airgraph/static {s['vs_static_geomean']:.3f} (max "
            f"{s['vs_static_max']:.3f}; {s['gears_within_5pct_of_static']} of "
            f"{len(record['latency'])} gears within 5%); airgraph/dynamic "
            f"{s['vs_dynamic_geomean']:.3f}."
        )
    lines.append("")
    return "\n".join(lines)


def write(record: dict[str, Any], out: Path) -> list[Path]:
    """Write ``gears.json`` and ``gears.md`` into ``out`` (atomically).

    A record of another model than TinyGPT goes to ``gears_<model>.json`` and ``.md``.
    """
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    stem = _stem(record)
    for name, text in (
        (f"{stem}.json", json.dumps(record, indent=2) + "\n"),
        (f"{stem}.md", to_markdown(record)),
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
    parser.add_argument(
        "--variants",
        default="background,eager",
        help="airgraph gear_compile values to run, in order (comma-separated)",
    )
    parser.add_argument(
        "--model",
        choices=MODELS,
        default="tinygpt",
        help="tinygpt (plain torch, writes gears.*) or llama (transformers, writes gears_llama.*)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"smoke run: 2 x 2 gears, batch {list(QUICK_BATCHES)} x seq {list(QUICK_SEQS)}",
    )
    args = parser.parse_args(argv)
    variants = tuple(v for v in args.variants.split(",") if v)
    unknown = set(variants) - {"background", "eager", "lazy"}
    if not variants or unknown:
        parser.error(f"--variants: expected background, eager and/or lazy, got {args.variants!r}")
    if args.rounds < 1:
        parser.error(f"--rounds: expected a positive count, got {args.rounds}")
    record = run(args.rounds, args.threads, variants, args.model, args.quick)
    for path in write(record, args.out):
        print(f"wrote {path}")
    print(to_markdown(record))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
