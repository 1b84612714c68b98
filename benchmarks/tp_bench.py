"""Tensor-parallel benchmark: a TP-2 model under torchrun (gloo) vs the unsharded model, and its cache.

The model is LLaMA-style without attention (embedding, 4 blocks of RMSNorm
+ SwiGLU MLP, final norm, LM head; hidden 256, MLP 1024, vocabulary 2048,
batch 4 x sequence 32 = 128 tokens per step, fp32, inference). Its TP-2
shard has column-parallel gate/up, row-parallel down (an all-reduce per
block) and vocabulary-parallel logits (an all-gather), compiled with
``cache_compile`` on airgraph's host target (Inductor). Each rank runs with
one intra-op thread, so TP-2 uses two cores where the unsharded model uses
one.

One run of this benchmark starts two ``torchrun --nproc-per-node 2`` jobs
in one empty cache folder:

1. **cold**: each rank's first call (Dynamo trace, lowering, Inductor
   compile, publish), then interleaved rounds on rank 0 of: a TP-2 step
   (both ranks, after a barrier), the unsharded model compiled by airgraph
   (``torch.compile`` with the airgraph backend) and the unsharded model in
   eager PyTorch. Ratios are paired: the median over rounds of the two
   calls' wall-clock times in one round.
2. **warm**: each rank's first call loading its cache entry (no Dynamo).

Per job, the parent also measures the wall time from spawning ``torchrun``
to its exit. Outputs are checked against the unsharded eager model
(max |difference| recorded, 1e-4 required).

Usage: ``python benchmarks/tp_bench.py [--out benchmarks/results] [--rounds 200]``
(``benchmarks/run.py`` calls :func:`run`). Writes ``tp.json`` and ``tp.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
import torch.distributed._functional_collectives as funcol
import torch.nn.functional as F
from torch import nn

import airgraph as torchair

HERE = Path(__file__).resolve()
#: The torchrun jobs, in order: without, then with ``ge_cache`` (AOTInductor packages).
PHASES = ("cold", "warm", "cold_ge_cache", "warm_ge_cache")
VOCAB, DIM, FFN, LAYERS, BATCH, SEQ = 2048, 256, 1024, 4, 4, 32


# -- the child: one rank of a torchrun job -------------------------------------------------


class RmsNorm(nn.Module):
    """LLaMA's RMSNorm."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(DIM))

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6) * self.weight


class Block(nn.Module):
    """RMSNorm then a SwiGLU MLP of width ``ffn`` (its residual is added by the caller)."""

    def __init__(self, ffn: int) -> None:
        super().__init__()
        self.norm = RmsNorm()
        self.gate = nn.Linear(DIM, ffn, bias=False)
        self.up = nn.Linear(DIM, ffn, bias=False)
        self.down = nn.Linear(ffn, DIM, bias=False)

    def forward(self, x):
        h = self.norm(x)
        return self.down(F.silu(self.gate(h)) * self.up(h))


class Model(nn.Module):
    """The unsharded model (``ffn`` and ``vocab`` smaller for a shard)."""

    def __init__(self, ffn: int = FFN, vocab: int = VOCAB) -> None:
        super().__init__()
        self.embed = nn.Embedding(VOCAB, DIM)
        self.blocks = nn.ModuleList(Block(ffn) for _ in range(LAYERS))
        self.norm = RmsNorm()
        self.head = nn.Linear(DIM, vocab, bias=False)

    def forward(self, ids):
        x = self.embed(ids)
        for block in self.blocks:
            x = x + block(x)
        return self.head(self.norm(x))


class ParallelModel(Model):
    """One rank's TP shard of :class:`Model`, its forward pass cached by ``cache_compile``."""

    def __init__(
        self, full: Model, rank: int, world: int, cache_dir: str, ge_cache: bool = False
    ) -> None:
        super().__init__(FFN // world, VOCAB // world)

        def part(w, dim):
            n = w.shape[dim] // world
            return w.narrow(dim, rank * n, n)

        with torch.no_grad():
            self.embed.weight.copy_(full.embed.weight)
            self.norm.weight.copy_(full.norm.weight)
            self.head.weight.copy_(part(full.head.weight, 0))
            for mine, theirs in zip(self.blocks, full.blocks):
                mine.norm.weight.copy_(theirs.norm.weight)
                mine.gate.weight.copy_(part(theirs.gate.weight, 0))
                mine.up.weight.copy_(part(theirs.up.weight, 0))
                mine.down.weight.copy_(part(theirs.down.weight, 1))
        self.cached_forward = torchair.inference.cache_compile(
            self._forward, cache_dir=cache_dir, ge_cache=ge_cache
        )

    def forward(self, ids):
        return self.cached_forward(ids)

    def _forward(self, ids):
        x = self.embed(ids)
        for block in self.blocks:
            partial = block(x)
            dist.all_reduce(partial)
            x = x + partial
        logits = self.head(self.norm(x))
        return funcol.all_gather_single(logits, -1, dist.group.WORLD)


def _wall(fn) -> tuple[float, Any]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def _latency_rounds(model, full, ids, rounds: int, rank: int) -> dict[str, Any]:
    """Interleaved rounds: TP-2 step (both ranks), then on rank 0 airgraph unsharded and eager."""
    compiled_full = torch.compile(full, backend=torchair.get_npu_backend(), dynamic=False)
    if rank == 0:
        compiled_full(ids)  # compile before timing
    dist.barrier()
    times: dict[str, list[float]] = {"tp2": [], "unsharded_airgraph": [], "unsharded_eager": []}
    for _ in range(rounds):
        dist.barrier()
        times["tp2"].append(_wall(lambda: model(ids))[0])
        dist.barrier()
        if rank == 0:
            times["unsharded_airgraph"].append(_wall(lambda: compiled_full(ids))[0])
            times["unsharded_eager"].append(_wall(lambda: full(ids))[0])
    if rank != 0:
        return {}
    tp, ag, eager = times["tp2"], times["unsharded_airgraph"], times["unsharded_eager"]
    tokens = BATCH * SEQ
    return {
        "median_ms": {k: statistics.median(v) * 1e3 for k, v in times.items()},
        "tokens_per_s": {k: tokens / statistics.median(v) for k, v in times.items()},
        "tp2_over_unsharded_airgraph": statistics.median(a / b for a, b in zip(tp, ag)),
        "tp2_over_unsharded_eager": statistics.median(a / b for a, b in zip(tp, eager)),
    }


def child(phase: str, cache_dir: str, out_dir: str, rounds: int) -> None:
    """One rank: first call (cold or warm), outputs vs eager, and (cold) the latency rounds."""
    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    torch.manual_seed(0)
    full = Model().eval()
    ge_cache = phase.endswith("_ge_cache")
    model = ParallelModel(full, rank, world, cache_dir, ge_cache).eval()
    ids = torch.randint(0, VOCAB, (BATCH, SEQ), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        first_call_s, out = _wall(lambda: model(ids))
        error = float((out - full(ids)).abs().max())
        result: dict[str, Any] = {
            "rank": rank,
            "phase": phase,
            "status": model.cached_forward.status,
            "first_call_s": first_call_s,
            "max_error": error,
            "dynamo_traces": _dynamo_traces(),
        }
        if phase == "cold" and rounds:
            result["latency"] = _latency_rounds(model, full, ids, rounds, rank)
    Path(out_dir, f"{phase}_rank_{rank}.json").write_text(json.dumps(result))
    dist.destroy_process_group()


def _dynamo_traces() -> int:
    if "torch._dynamo" not in sys.modules:
        return 0
    from torch._dynamo.utils import counters

    return int(counters["stats"]["unique_graphs"])


# -- the parent ------------------------------------------------------------------------------


def _job(phase: str, cache_dir: Path, out_dir: Path, rounds: int) -> float:
    env = dict(os.environ, OMP_NUM_THREADS="1", TORCH_DEVICE_BACKEND_AUTOLOAD="0")
    env.pop("AIRGRAPH_CACHE_DIR", None)
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node=2",
        str(HERE),
        "--child",
        phase,
        "--cache-dir",
        str(cache_dir),
        "--child-out",
        str(out_dir),
        "--rounds",
        str(rounds),
    ]
    start = time.perf_counter()
    proc = subprocess.run(command, capture_output=True, text=True, env=env, timeout=3600)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"torchrun ({phase}) failed:\n{proc.stdout}\n{proc.stderr[-4000:]}")
    return seconds


def run(out: Path, rounds: int = 200) -> dict[str, Any]:
    """Run the jobs of :data:`PHASES`, write ``tp.json`` and ``tp.md`` to ``out``, return the record."""
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="airgraph-tp-bench-") as tmp:
        cache_dir, child_out = Path(tmp, "cache"), Path(tmp, "out")
        child_out.mkdir()
        jobs = {
            phase: _job(phase, cache_dir, child_out, rounds if phase == "cold" else 0)
            for phase in PHASES
        }
        ranks = {
            phase: [
                json.loads(Path(child_out, f"{phase}_rank_{r}.json").read_text()) for r in (0, 1)
            ]
            for phase in jobs
        }
    for phase, results in ranks.items():
        for r in results:
            if r["max_error"] > 1e-4:
                raise RuntimeError(f"{phase} rank {r['rank']}: output differs by {r['max_error']}")
    latency = ranks["cold"][0]["latency"]
    per_rank = []
    for r in (0, 1):
        row: dict[str, Any] = {"rank": r}
        for suffix in ("", "_ge_cache"):
            cold, warm = ranks["cold" + suffix][r], ranks["warm" + suffix][r]
            row["cold" + suffix + "_first_call_s"] = cold["first_call_s"]
            row["warm" + suffix + "_first_call_s"] = warm["first_call_s"]
            row["cold_over_warm" + suffix] = cold["first_call_s"] / warm["first_call_s"]
            row["statuses" + suffix] = [cold["status"], warm["status"]]
            row["dynamo_traces" + suffix] = [cold["dynamo_traces"], warm["dynamo_traces"]]
        per_rank.append(row)
    record = {
        "model": {
            "vocab": VOCAB,
            "dim": DIM,
            "ffn": FFN,
            "layers": LAYERS,
            "batch": BATCH,
            "seq": SEQ,
        },
        "rounds": rounds,
        # The machine's 1-minute load average before and after: TP-2 needs two free cores.
        "load_average": [load_before[0], os.getloadavg()[0]],
        "cpu_count": os.cpu_count(),
        "job_wall_s": jobs,
        "per_rank": per_rank,
        "latency": latency,
        "max_error": max(r["max_error"] for rs in ranks.values() for r in rs),
        "summary": {
            "tp2_over_unsharded_airgraph": latency["tp2_over_unsharded_airgraph"],
            "cold_over_warm_first_call": [p["cold_over_warm"] for p in per_rank],
            "cold_over_warm_first_call_ge_cache": [p["cold_over_warm_ge_cache"] for p in per_rank],
        },
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / "tp.json").write_text(json.dumps(record, indent=2) + "\n")
    (out / "tp.md").write_text(to_markdown(record))
    return record


def to_markdown(record: dict[str, Any]) -> str:
    """The record as the ``tp.md`` report."""
    m, lat = record["model"], record["latency"]
    lines = [
        "# Tensor-parallel benchmark",
        "",
        f"LLaMA-style MLP stack: {m['layers']} blocks, hidden {m['dim']}, MLP {m['ffn']}, "
        f"vocabulary {m['vocab']}; batch {m['batch']} x sequence {m['seq']} = "
        f"{m['batch'] * m['seq']} tokens per step, fp32; TP-2 under torchrun with gloo on the "
        "host target (Inductor), one intra-op thread per rank. Latency: median wall-clock "
        f"time over {record['rounds']} interleaved rounds; ratios: median over rounds of the "
        "two calls' ratio in one round. Max |output - unsharded eager| over all runs: "
        f"{record['max_error']:.1e}. Machine: {record['cpu_count']} cores, 1-minute load "
        f"average {record['load_average'][0]:.1f} before and {record['load_average'][1]:.1f} "
        "after the run (other processes share the cores; TP-2 needs two at once).",
        "",
        "## Latency per step (rank 0)",
        "",
        "| variant | ms per step | tokens/s |",
        "|---|---|---|",
    ]
    names = {
        "tp2": "airgraph TP-2 (cache_compile, 2 ranks)",
        "unsharded_airgraph": "airgraph unsharded (1 rank)",
        "unsharded_eager": "eager PyTorch unsharded (1 rank)",
    }
    for key, name in names.items():
        lines.append(f"| {name} | {lat['median_ms'][key]:.2f} | {lat['tokens_per_s'][key]:.0f} |")
    lines += [
        "",
        f"TP-2 / airgraph unsharded: {lat['tp2_over_unsharded_airgraph']:.2f}; "
        f"TP-2 / eager unsharded: {lat['tp2_over_unsharded_eager']:.2f} (paired).",
        "",
        "## Compile and warm start per rank",
        "",
        "First call of the cached method in a fresh torchrun job: cold (trace, lower, compile, "
        "publish) then warm (load the rank's entry). Without ``ge_cache`` a warm start "
        "compiles the host program with Inductor again (from the Inductor cache the jobs "
        "share); with ``ge_cache=True`` it loads the AOTInductor packages of the entry.",
        "",
        "| rank | ge_cache | cold (s) | warm (s) | cold / warm | status | Dynamo traces |",
        "|---|---|---|---|---|---|---|",
    ]
    for p in record["per_rank"]:
        for suffix, label in (("", "off"), ("_ge_cache", "on")):
            lines.append(
                f"| {p['rank']} | {label} | {p['cold' + suffix + '_first_call_s']:.2f} | "
                f"{p['warm' + suffix + '_first_call_s']:.3f} | "
                f"{p['cold_over_warm' + suffix]:.0f} | {' -> '.join(p['statuses' + suffix])} | "
                f"{' -> '.join(map(str, p['dynamo_traces' + suffix]))} |"
            )
    jobs = record["job_wall_s"]
    lines += [
        "",
        "torchrun jobs, spawn to exit (s): "
        + ", ".join(f"{phase} {seconds:.1f}" for phase, seconds in jobs.items())
        + " (cold includes the latency rounds).",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE.parent / "results")
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--child", choices=PHASES, help=argparse.SUPPRESS)
    parser.add_argument("--cache-dir", help=argparse.SUPPRESS)
    parser.add_argument("--child-out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.child, args.cache_dir, args.child_out, args.rounds)
        return 0
    record = run(args.out, args.rounds)
    print(to_markdown(record))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
