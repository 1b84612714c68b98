"""Tensor parallelism with airgraph: a LLaMA-style model sharded over 2 ranks, cached, with gears.

Each rank holds its shard of the weights: column-parallel q/k/v and gate/up
projections (its heads and its half of the MLP), row-parallel o and down
projections (their partial sums added by an all-reduce), a vocabulary-parallel
embedding (an all-reduce of each rank's rows) and vocabulary-parallel logits
(gathered from every rank). ``cache_compile`` compiles the whole forward pass,
collectives included, into one GE graph per rank with gears on the batch dim;
each rank writes its own cache entry, and a second run loads it on every rank
without Dynamo. The outputs are checked against the unsharded model in eager
PyTorch.

    torchrun --nproc-per-node 2 examples/tensor_parallel.py --cache-dir /tmp/tp_cache
    torchrun --nproc-per-node 2 examples/tensor_parallel.py --cache-dir /tmp/tp_cache  # warm

Gloo on the CPU here (airgraph's host target runs the GE graph); on NPUs,
initialize with ``"hccl"`` and move the model and inputs with ``.npu()``.
"""

from __future__ import annotations

import argparse
import json
import time

import torch
import torch.distributed as dist
import torch.nn.functional as F

import airgraph as torchair

VOCAB, DIM, HEADS, FFN, LAYERS, SEQ = 64, 32, 4, 64, 2, 8
BATCH_GEARS = [1, 2, 4]


class RmsNorm(torch.nn.Module):
    def __init__(self, dim: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.eps = eps
        self.weight = torch.nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


class Block(torch.nn.Module):
    """A LLaMA block holding ``heads`` attention heads and ``ffn`` MLP columns."""

    def __init__(self, heads: int = HEADS, ffn: int = FFN) -> None:
        super().__init__()
        self.heads = heads
        width = heads * (DIM // HEADS)
        self.attn_norm = RmsNorm(DIM)
        self.q = torch.nn.Linear(DIM, width, bias=False)
        self.k = torch.nn.Linear(DIM, width, bias=False)
        self.v = torch.nn.Linear(DIM, width, bias=False)
        self.o = torch.nn.Linear(width, DIM, bias=False)
        self.mlp_norm = RmsNorm(DIM)
        self.gate = torch.nn.Linear(DIM, ffn, bias=False)
        self.up = torch.nn.Linear(DIM, ffn, bias=False)
        self.down = torch.nn.Linear(ffn, DIM, bias=False)

    def attention(self, x: torch.Tensor) -> torch.Tensor:
        """This block's heads, projected by ``o``: a partial sum when ``o`` is a row shard."""
        b, s, _ = x.shape
        h = self.attn_norm(x)
        q, k, v = (
            p(h).view(b, s, self.heads, -1).transpose(1, 2) for p in (self.q, self.k, self.v)
        )
        att = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.o(att.transpose(1, 2).reshape(b, s, -1))

    def mlp(self, x: torch.Tensor) -> torch.Tensor:
        h = self.mlp_norm(x)
        return self.down(F.silu(self.gate(h)) * self.up(h))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attention(x)
        return x + self.mlp(x)


class Llama(torch.nn.Module):
    """The unsharded model: embedding, blocks, final norm, LM head."""

    def __init__(self, heads: int = HEADS, ffn: int = FFN, vocab: int = VOCAB) -> None:
        super().__init__()
        self.embed = torch.nn.Embedding(vocab, DIM)
        self.blocks = torch.nn.ModuleList(Block(heads, ffn) for _ in range(LAYERS))
        self.norm = RmsNorm(DIM)
        self.head = torch.nn.Linear(DIM, vocab, bias=False)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        x = self.embed(ids)
        for block in self.blocks:
            x = block(x)
        return self.head(self.norm(x))


def _rows(weight: torch.Tensor, rank: int, world: int) -> torch.Tensor:
    n = weight.shape[0] // world
    return weight[rank * n : (rank + 1) * n]


class ParallelLlama(Llama):
    """One rank's shard of :class:`Llama`, its forward pass compiled and cached by airgraph."""

    def __init__(self, full: Llama, rank: int, world: int, config, cache_dir: str) -> None:
        super().__init__(HEADS // world, FFN // world, VOCAB // world)
        self.world = world
        self.vocab_start = rank * (VOCAB // world)
        with torch.no_grad():
            self.embed.weight.copy_(_rows(full.embed.weight, rank, world))  # vocabulary-parallel
            self.head.weight.copy_(_rows(full.head.weight, rank, world))
            self.norm.weight.copy_(full.norm.weight)
            for mine, theirs in zip(self.blocks, full.blocks):
                for name in ("q", "k", "v", "gate", "up"):  # column-parallel: output rows
                    getattr(mine, name).weight.copy_(
                        _rows(getattr(theirs, name).weight, rank, world)
                    )
                for name in ("o", "down"):  # row-parallel: input columns
                    cols = _rows(getattr(theirs, name).weight.t(), rank, world).t()
                    getattr(mine, name).weight.copy_(cols)
                mine.attn_norm.weight.copy_(theirs.attn_norm.weight)
                mine.mlp_norm.weight.copy_(theirs.mlp_norm.weight)
        self.cached_forward = torchair.inference.cache_compile(
            self._forward, config=config, cache_dir=cache_dir
        )

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.cached_forward(ids)

    def _forward(self, ids: torch.Tensor) -> torch.Tensor:
        local = ids - self.vocab_start
        mine = (local >= 0) & (local < self.embed.num_embeddings)
        x = self.embed(torch.where(mine, local, 0)) * mine.unsqueeze(-1)
        dist.all_reduce(x)  # each token's row comes from the rank that holds it
        for block in self.blocks:
            partial = block.attention(x)
            dist.all_reduce(partial)  # row-parallel o: sum the ranks' heads
            x = x + partial
            partial = block.mlp(x)
            dist.all_reduce(partial)  # row-parallel down
            x = x + partial
        logits = self.head(self.norm(x))  # this rank's slice of the vocabulary
        gathered = logits.new_empty((self.world * logits.shape[0], *logits.shape[1:]))
        dist.all_gather_into_tensor(gathered, logits)  # every rank's logits, stacked on dim 0
        parts = gathered.view(self.world, *logits.shape).unbind(0)  # one per rank
        return torch.cat(parts, dim=-1)  # the whole vocabulary


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache-dir", required=True, help="the compile cache's root folder")
    parser.add_argument(
        "--host-mode",
        choices=("inductor", "interpret"),
        default="inductor",
        help="how the host target runs the GE graph",
    )
    args = parser.parse_args(argv)

    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    torch.manual_seed(0)  # the same full weights on every rank
    full = Llama().eval()
    config = torchair.CompilerConfig()
    config.airgraph_config.host_mode = args.host_mode
    model = ParallelLlama(full, rank, world, config, args.cache_dir).eval()

    start = time.perf_counter()
    error = 0.0
    with torch.no_grad():
        for step, batch in enumerate([2, *BATCH_GEARS]):  # the first call fixes the gears
            gen = torch.Generator().manual_seed(step)
            ids = torch.randint(0, VOCAB, (batch, SEQ), generator=gen)
            if step == 0:
                torchair.inference.set_dim_gears(ids, dim_gears={0: BATCH_GEARS})
            error = max(error, (model(ids) - full(ids)).abs().max().item())
    result = {
        "rank": rank,
        "status": model.cached_forward.status,
        "entry": str(model.cached_forward.entry_dir),
        "seconds": round(time.perf_counter() - start, 2),
        "max_error": error,
    }
    print(
        f"rank {rank}: cache {result['status']} ({result['entry']}), "
        f"max |compiled TP-{world} - unsharded eager| = {error:.1e}, "
        f"{result['seconds']} s",
        flush=True,
    )
    print("RESULT " + json.dumps(result), flush=True)
    dist.destroy_process_group()
    if error > 1e-4:
        raise SystemExit(f"rank {rank}: compiled output differs from eager by {error}")
    return result


if __name__ == "__main__":
    main()
