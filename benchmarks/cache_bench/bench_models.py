"""A small GPT-2-style decoder in plain torch, the model of the cache benchmark.

Every process builds it after ``torch.manual_seed(0)`` from this module, imported
under the fixed name ``bench_models`` (``benchmarks/cache_bench`` is put on
``sys.path``), so its qualified names and sources (part of airgraph's cache key)
are the same in every process.
"""

from __future__ import annotations

import math

import torch
from torch import nn

VOCAB = 512
EMBED = 128
HEADS = 4
LAYERS = 6
SEQ = 32
BATCH = 1


class Attention(nn.Module):
    """Causal multi-head self-attention with a fused qkv projection (GPT-2's ``c_attn``)."""

    def __init__(self, embed: int, heads: int, seq: int) -> None:
        super().__init__()
        self.heads = heads
        self.c_attn = nn.Linear(embed, 3 * embed)
        self.c_proj = nn.Linear(embed, embed)
        mask = torch.tril(torch.ones(seq, seq, dtype=torch.bool)).view(1, 1, seq, seq)
        self.register_buffer("mask", mask, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, c = x.shape
        q, k, v = self.c_attn(x).split(c, dim=2)
        d = c // self.heads
        q = q.view(b, t, self.heads, d).transpose(1, 2)
        k = k.view(b, t, self.heads, d).transpose(1, 2)
        v = v.view(b, t, self.heads, d).transpose(1, 2)
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(d))
        att = att.masked_fill(~self.mask[:, :, :t, :t], float("-inf"))
        att = torch.softmax(att, dim=-1)
        y = (att @ v).transpose(1, 2).reshape(b, t, c)
        return self.c_proj(y)


class Mlp(nn.Module):
    def __init__(self, embed: int) -> None:
        super().__init__()
        self.c_fc = nn.Linear(embed, 4 * embed)
        self.c_proj = nn.Linear(4 * embed, embed)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.c_proj(nn.functional.gelu(self.c_fc(x), approximate="tanh"))


class Block(nn.Module):
    def __init__(self, embed: int, heads: int, seq: int) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(embed)
        self.attn = Attention(embed, heads, seq)
        self.ln_2 = nn.LayerNorm(embed)
        self.mlp = Mlp(embed)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class Gpt2(nn.Module):
    """Token ids ``[batch, seq]`` (int64) to logits ``[batch, seq, vocab]``."""

    def __init__(
        self,
        vocab: int = VOCAB,
        embed: int = EMBED,
        heads: int = HEADS,
        layers: int = LAYERS,
        seq: int = SEQ,
    ) -> None:
        super().__init__()
        self.wte = nn.Embedding(vocab, embed)
        self.wpe = nn.Embedding(seq, embed)
        self.h = nn.ModuleList(Block(embed, heads, seq) for _ in range(layers))
        self.ln_f = nn.LayerNorm(embed)
        self.lm_head = nn.Linear(embed, vocab, bias=False)
        self.register_buffer("pos", torch.arange(seq), persistent=False)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        return self._forward(idx)

    def _forward(self, idx: torch.Tensor) -> torch.Tensor:
        t = idx.shape[1]
        x = self.wte(idx) + self.wpe(self.pos[:t])
        for block in self.h:
            x = block(x)
        return self.lm_head(self.ln_f(x))


class Add(nn.Module):
    """The tiny graph of the per-call overhead measurement: ``x + y``."""

    def _forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return x + y


class TinyLinear(nn.Module):
    """A one-layer Linear: the tiny graph with module state (weights as inputs)."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x)


class Guarded(nn.Module):
    """``x + y`` whose trace depends on an optional tensor and an int: per-call checks run."""

    def _forward(
        self, x: torch.Tensor, y: torch.Tensor, mask: torch.Tensor | None = None, n: int = 1
    ) -> torch.Tensor:
        h = x + y
        if mask is not None:
            h = h * mask
        if n > 2:
            h = h + n
        return h


class CopyInto(nn.Module):
    """Writes ``y`` in place, then reads both: the per-call check of distinct, non-overlapping
    tensor inputs runs (idempotent, so repeated calls give one result)."""

    def _forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        y.copy_(x)
        return x + y


def build(kind: str = "gpt2") -> nn.Module:
    """The model of ``kind`` (``gpt2``, ``add``, ``linear``, ``guarded``, ``inplace``), seeded,
    in eval mode."""
    torch.manual_seed(0)
    kinds = {"gpt2": Gpt2, "add": Add, "linear": TinyLinear, "guarded": Guarded}
    model = {**kinds, "inplace": CopyInto}[kind]()
    return model.eval()


def example_input() -> torch.Tensor:
    g = torch.Generator().manual_seed(1)
    return torch.randint(0, VOCAB, (BATCH, SEQ), generator=g)
