"""airgraph demo: a GPT-2-style model compiled to one GE graph with gears, run on this machine.

Without an Ascend NPU, airgraph's host target runs the very GE graph the NPU
would receive (here compiled by Inductor, or interpreted with --interpret).
The demo shows each step as it happens: what is compiled, the GE graph it
became, the gear plan, one compile per gear on first use and no Dynamo
recompile, timings, and the results against eager PyTorch.

    python examples/demo.py                      # Inductor on the host
    python examples/demo.py --interpret          # reference interpreter, no C++ compile
    python examples/demo.py --vs-torch-compile   # also stock torch.compile (Inductor)
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterator

import torch
from rich.console import Console
from rich.table import Table

import airgraph as torchair

SEQ = 16
VOCAB = 256
BATCHES = (1, 2, 4)

console = Console(highlight=False, width=None if Console().is_terminal else 110)


class Block(torch.nn.Module):
    """A pre-norm transformer block: causal self-attention, then a GELU MLP."""

    def __init__(self, dim: int = 64, heads: int = 4) -> None:
        super().__init__()
        self.heads = heads
        self.ln1 = torch.nn.LayerNorm(dim)
        self.qkv = torch.nn.Linear(dim, 3 * dim)
        self.proj = torch.nn.Linear(dim, dim)
        self.ln2 = torch.nn.LayerNorm(dim)
        self.fc1 = torch.nn.Linear(dim, 4 * dim)
        self.fc2 = torch.nn.Linear(4 * dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, s, d = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(d, dim=-1)
        q, k, v = (t.view(b, s, self.heads, d // self.heads).transpose(1, 2) for t in (q, k, v))
        att = torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.proj(att.transpose(1, 2).reshape(b, s, d))
        return x + self.fc2(torch.nn.functional.gelu(self.fc1(self.ln2(x))))


class TinyGpt(torch.nn.Module):
    """Token and position embeddings, two blocks, a final norm and the LM head (GPT-2's shape)."""

    def __init__(self, dim: int = 64, layers: int = 2) -> None:
        super().__init__()
        self.tokens = torch.nn.Embedding(VOCAB, dim)
        self.positions = torch.nn.Embedding(SEQ, dim)
        self.blocks = torch.nn.ModuleList(Block(dim) for _ in range(layers))
        self.ln_f = torch.nn.LayerNorm(dim)
        self.head = torch.nn.Linear(dim, VOCAB, bias=False)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        x = self.tokens(ids) + self.positions.weight[: ids.shape[1]]
        for block in self.blocks:
            x = block(x)
        return self.head(self.ln_f(x))


class _Progress(logging.Handler):
    """Shows airgraph's own log records of the steps inside a call (lowering, gear compiles)."""

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if message.startswith("lowered ") or " compiled in " in message:
            console.print(f"    [dim]airgraph: {message}[/]")


def show_progress() -> None:
    """Route the airgraph loggers' step messages to the console (the demo's choice, not a default)."""
    for name in ("airgraph.core", "airgraph.dynamo"):
        logger = logging.getLogger(name)
        logger.setLevel(logging.DEBUG)
        logger.addHandler(_Progress())


@contextlib.contextmanager
def step(text: str) -> Iterator[dict[str, float]]:
    """Say what is about to happen (a spinner on a terminal), then how long it took."""
    timing: dict[str, float] = {}
    start = time.perf_counter()
    with console.status(f"{text} ..."):
        if not console.is_terminal:
            console.print(f"[dim]... {text}[/]")
        yield timing
    timing["seconds"] = time.perf_counter() - start
    console.print(f"[green]done[/] {text} [dim]({timing['seconds']:.1f} s)[/]")


def per_call_us(fn: Callable[[], object], repeat: int = 30) -> float:
    """The best wall time of one call out of ``repeat``, in microseconds.

    The best, not the median: on a shared machine other processes only ever add time.
    """
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best * 1e6


def show_ge_graph(backend: torchair.NpuBackend) -> None:
    record = backend.compiled[-1]
    graph = record.ge_graph
    counts = Counter(op.type for op in graph.ops)
    data = graph.data_ops
    dynamic = [op.name for op in data if -1 in (op.output_descs[0].shape or ())]
    console.print(
        f"\n[bold]GE graph[/] {graph.name}: {len(graph.ops)} ops of {len(counts)} types, "
        f"{len(data)} Data inputs (weights and ids), dynamic dims in {', '.join(dynamic)}"
    )
    grid = Table.grid(padding=(0, 1))
    for _ in range(5):
        grid.add_column()
        grid.add_column(justify="right", style="bold")
        grid.add_column(width=2)
    items = counts.most_common()
    for start in range(0, len(items), 5):
        row: list[str] = []
        for op_type, n in items[start : start + 5]:
            row += [f"  {op_type}", str(n), ""]
        grid.add_row(*row)
    console.print(grid)
    console.print(
        "  [dim](`airgraph check` and `airgraph dump` show the same for any model, "
        "without running it)[/]"
    )
    if record.gears is not None:
        console.print("\n[bold]Gear plan[/] (fixed at the one Dynamo trace)")
        console.print(record.gears.plan.describe().rstrip(), markup=False)


def run_stock_torch_compile(model: torch.nn.Module, inputs: dict[int, torch.Tensor]) -> dict:
    """Stock torch.compile (Inductor) on the same batches: traces, first-result time, accuracy."""
    from torch._inductor.compile_fx import compile_fx

    traces = 0

    def counting_inductor(gm: torch.fx.GraphModule, example_inputs: list) -> Callable:
        nonlocal traces
        traces += 1
        return compile_fx(gm, example_inputs)

    torch.compiler.reset()
    compiled = torch.compile(model, backend=counting_inductor)
    seconds = {}
    worst = 0.0
    for batch, ids in inputs.items():
        with step(f"stock torch.compile: batch {batch}"):
            start = time.perf_counter()
            got = compiled(ids)
            seconds[batch] = time.perf_counter() - start
        worst = max(worst, (got - model(ids)).abs().max().item())
    return {"traces": traces, "seconds": seconds, "max_err": worst}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--interpret", action="store_true", help="use the reference interpreter")
    parser.add_argument(
        "--vs-torch-compile",
        action="store_true",
        help="also run stock torch.compile (Inductor) on the same batches (slower)",
    )
    args = parser.parse_args()
    wall = time.perf_counter()
    show_progress()
    mode = "interpret" if args.interpret else "inductor"

    torch.manual_seed(0)
    model = TinyGpt().eval()
    params = sum(p.numel() for p in model.parameters())
    console.print(
        f"[bold]airgraph demo[/]: TinyGpt ({params / 1e3:.0f} k parameters: embeddings, 2 "
        f"transformer blocks, LM head) on token ids of shape (batch, {SEQ}).\n"
        f"torch.compile(backend=airgraph) lowers it to one GE graph (Ascend IR); with no NPU "
        f"here, the host target runs that GE graph on the CPU ({mode}).\n"
        f"Gears: the batch is one of {list(BATCHES)}; one trace serves all of them."
    )

    config = torchair.CompilerConfig()
    config.airgraph_config.host_mode = mode
    config.airgraph_config.gear_compile = "lazy"  # one compile per gear, on its first call
    backend = torchair.get_npu_backend(compiler_config=config)
    compiled = torch.compile(model, fullgraph=True, backend=backend)

    inputs = {batch: torch.randint(0, VOCAB, (batch, SEQ)) for batch in BATCHES}
    first_ids = inputs[2]
    torchair.inference.set_dim_gears(first_ids, dim_gears={0: list(BATCHES)})

    rows = []
    with torch.no_grad():
        with step("first call (batch 2): Dynamo trace, lower to GE, compile gear batch=2") as t:
            got = compiled(first_ids)
        first_result = t["seconds"]
        show_ge_graph(backend)
        console.print()
        first_calls = {2: first_result}
        for batch in (1, 4):
            with step(f"batch {batch}: first call compiles its gear (no Dynamo recompile)") as t:
                compiled(inputs[batch])
            first_calls[batch] = t["seconds"]
        for batch, ids in inputs.items():
            got, want = compiled(ids), model(ids)
            err = (got - want).abs().max().item()
            torch.testing.assert_close(got, want, atol=1e-4, rtol=1e-4)
            ours = per_call_us(lambda ids=ids: compiled(ids))
            eager = per_call_us(lambda ids=ids: model(ids))
            rows.append((batch, first_calls[batch], ours, eager, err))

        table = Table(title="airgraph (host target) vs eager PyTorch", title_justify="left")
        for name in (
            "batch",
            "first call",
            "airgraph / call*",
            "eager / call*",
            "max |Δ| vs eager",
        ):
            table.add_column(name, justify="right")
        for batch, first, ours, eager, err in rows:
            table.add_row(
                str(batch), f"{first:.2f} s", f"{ours:.0f} µs", f"{eager:.0f} µs", f"{err:.1e}"
            )
        console.print()
        console.print(table)
        console.print("[dim]* best of 30 calls[/]")
        gears = backend.compiled[-1].gears
        console.print(
            f"Dynamo traces: [bold]{len(backend.compiled)}[/] for {len(BATCHES)} batch sizes; "
            f"gears compiled: {len(gears.compiled) if gears else 0} "
            f"({', '.join(f'{s:.1f} s' for s in (gears.compiled.values() if gears else []))})"
        )

        if args.vs_torch_compile:
            console.print()
            stock = run_stock_torch_compile(model, inputs)
            table = Table(title="the same batches, first call each", title_justify="left")
            for name in ("", "Dynamo traces", "time to first results", "max |Δ| vs eager"):
                table.add_column(name, justify="right")
            table.add_row(
                f"airgraph (gears, {mode})",
                str(len(backend.compiled)),
                f"{sum(first_calls.values()):.1f} s",
                f"{max(r[4] for r in rows):.1e}",
            )
            table.add_row(
                "stock torch.compile",
                str(stock["traces"]),
                f"{sum(stock['seconds'].values()):.1f} s",
                f"{stock['max_err']:.1e}",
            )
            console.print(table)
    console.print(f"[dim]demo wall time: {time.perf_counter() - wall:.1f} s[/]")


if __name__ == "__main__":
    main()
