"""airgraph demo: compile a small transformer block to a GE graph and run it here.

Runs on any machine: without an Ascend NPU, airgraph's host target executes
the very GE graph that the NPU would receive (compiled by Inductor).

    python examples/demo.py            # Inductor on the host (first compile takes a while)
    python examples/demo.py --interpret  # reference interpreter, no C++ compile
"""

from __future__ import annotations

import argparse
import time

import torch

import airgraph as torchair
from airgraph_core import dump_text


class Block(torch.nn.Module):
    """A pre-norm transformer block: attention with a causal mask, then a GELU MLP."""

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--interpret", action="store_true", help="use the reference interpreter")
    args = parser.parse_args()

    torch.manual_seed(0)
    model = Block().eval()
    config = torchair.CompilerConfig()
    config.airgraph_config.host_mode = "interpret" if args.interpret else "inductor"
    backend = torchair.get_npu_backend(compiler_config=config)
    compiled = torch.compile(model, fullgraph=True, backend=backend)

    # Gears: the batch is 1, 2 or 4; one trace serves all three shapes.
    x = torch.randn(2, 16, 64)
    torchair.inference.set_dim_gears(x, dim_gears={0: [1, 2, 4]})
    with torch.no_grad():
        start = time.perf_counter()
        compiled(x)
        first = time.perf_counter() - start
        graph = backend.graphs[-1]
        print(f"GE graph: {len(graph.ops)} ops of {len(graph.op_types())} types")
        print("op types:", ", ".join(graph.op_types()))
        print("first lines of the text dump:")
        ops = [line for line in dump_text(graph).splitlines() if line.lstrip().startswith("%")]
        print("\n".join(ops[:6]))
        print(f"first call (trace + lower + compile): {first:.1f} s")
        for batch in (1, 2, 4):
            xb = torch.randn(batch, 16, 64)
            got, want = compiled(xb), model(xb)
            err = (got - want).abs().max().item()
            print(f"batch {batch}: max |airgraph - eager| = {err:.2e}")
            torch.testing.assert_close(got, want, atol=1e-4, rtol=1e-4)
    print(f"Dynamo traces: {len(backend.graphs)} for 3 batch sizes")


if __name__ == "__main__":
    main()
