"""The host's attention rewrite: the GE math form of SDPA run as ``scaled_dot_product_attention``.

Cases are generated (seeded) over shapes, GQA groups, mask kinds (none,
causal, additive float and boolean masks with fully masked rows, broadcast
masks), scales and dtypes. Each case lowers ``F.scaled_dot_product_attention``
to GE, specializes it, rewrites it as the Inductor mode does, and runs the
rewritten graph eagerly (the very kernel Inductor calls): it must have
fused the pattern and give the values of the interpreted GE graph (the math
form, the reference) and of eager PyTorch, within the host tolerances. A few
cases also run through Inductor.
"""

from __future__ import annotations

import dataclasses
import random

import pytest
import torch
import torch.nn.functional as F

from airgraph_core import HostProgram
from airgraph_core.lowered import lowered_of
from airgraph_core.outputs import rebuild_outputs
from airgraph_core.targets.host.attention import fuse_attention
from airgraph_core.targets.host.program import specialize
from airgraph_core.targets.host.rewrites import rewrite_for_inductor
from airgraph_core.testing import TOLERANCES, check_lowering

MASKS = ("none", "causal", "float", "bool", "float_2d", "bool_heads")


@dataclasses.dataclass(frozen=True)
class Case:
    batch: int
    kv_heads: int
    group: int
    q_len: int
    kv_len: int
    head_dim: int
    value_dim: int
    mask: str
    scale: float | None
    dtype: torch.dtype
    seed: int = 0

    def inputs(self) -> list[torch.Tensor]:
        g = torch.Generator().manual_seed(self.seed)
        b, h, kv = self.batch, self.kv_heads * self.group, self.kv_heads
        shapes = [
            (b, h, self.q_len, self.head_dim),
            (b, kv, self.kv_len, self.head_dim),
            (b, kv, self.kv_len, self.value_dim),
        ]
        tensors = [torch.randn(s, generator=g).to(self.dtype) for s in shapes]
        if self.mask in ("none", "causal"):
            return tensors
        heads = {"float_2d": (), "bool_heads": (b, h)}.get(self.mask, (b, 1))
        shape = (*heads, self.q_len, self.kv_len)
        keep = torch.rand(shape, generator=g) > 0.3
        keep[..., 0, :] = False  # a fully masked row: 0 in the math form and in SDPA
        if self.mask.startswith("bool"):
            return [*tensors, keep]
        mask = torch.randn(shape, generator=g).masked_fill(~keep, float("-inf"))
        return [*tensors, mask.to(self.dtype)]

    def fn(self):
        causal, scale, gqa = self.mask == "causal", self.scale, self.group > 1
        return lambda q, k, v, *m: F.scaled_dot_product_attention(
            q, k, v, attn_mask=m[0] if m else None, is_causal=causal, scale=scale, enable_gqa=gqa
        )


def generate(n: int, seed: int) -> list[Case]:
    rng = random.Random(seed)
    cases = []
    for i in range(n):
        q_len = rng.choice([1, 5, 16, 33])  # 1: decoding
        mask = MASKS[i % len(MASKS)]
        # (A single key is not generated: the lowering simplifies its product, no pattern.)
        square = mask == "causal" and q_len > 1 and rng.random() < 0.7
        kv_len = q_len if square else rng.choice([7, 16, 40])
        cases.append(
            Case(
                batch=rng.choice([1, 2, 3]),
                kv_heads=rng.choice([1, 2]),
                group=rng.choice([1, 1, 2, 4]),
                q_len=q_len,
                kv_len=kv_len,
                head_dim=rng.choice([8, 16]),
                value_dim=rng.choice([8, 12]),
                mask=mask,
                scale=rng.choice([None, 0.3]),
                dtype=rng.choice([torch.float32, torch.float32, torch.bfloat16]),
                seed=i,
            )
        )
    return cases


def _close(got: torch.Tensor, want: torch.Tensor, dtype: torch.dtype, what: str, case: Case):
    atol, rtol = TOLERANCES[dtype]
    torch.testing.assert_close(
        got, want, atol=atol, rtol=rtol, msg=lambda m: f"{what}: {m}\nreproducer: {case}"
    )


@pytest.mark.parametrize("case", generate(36, seed=4), ids=str)
def test_the_rewritten_graph_computes_the_math_form(case: Case):
    fn, inputs = case.fn(), case.inputs()
    graph = check_lowering(fn, inputs, capture="aot")  # interpret vs eager
    gm, tensors, (reference,) = specialize(graph, inputs)
    assert rewrite_for_inductor(gm)["attention"] == 1, f"not fused: {case}"
    calls = [n.target for n in gm.graph.nodes if n.op == "call_function"]
    assert F.scaled_dot_product_attention in calls
    assert not any(getattr(t, "__name__", "") == "ge_SoftmaxV2" for t in calls)
    (got,) = gm(*tensors)
    _close(got, reference, case.dtype, "rewritten vs interpreted GE graph", case)
    lowered = lowered_of(graph)
    (got,) = rebuild_outputs([got], tensors, lowered.output_kinds, lowered.output_views)
    with torch.no_grad():
        _close(got, fn(*inputs), case.dtype, "rewritten vs eager", case)


def test_fully_masked_rows_are_zero_as_in_the_math_form():
    case = Case(2, 2, 2, 9, 70, 16, 16, "bool", None, torch.float32)  # keys span blocks
    fn, inputs = case.fn(), case.inputs()
    inputs[3][:, :, 4] = False
    graph = check_lowering(fn, inputs, capture="aot")
    gm, tensors, (reference,) = specialize(graph, inputs)
    assert rewrite_for_inductor(gm)["attention"] == 1
    lowered = lowered_of(graph)
    kinds, views = lowered.output_kinds, lowered.output_views
    (got,) = rebuild_outputs(gm(*tensors), tensors, kinds, views)
    (reference,) = rebuild_outputs([reference], tensors, kinds, views)
    rows = [0, 4]  # (N, H, L, E): the masked queries
    assert torch.equal(reference[:, :, rows], torch.zeros_like(reference[:, :, rows]))
    assert torch.equal(got[:, :, rows], reference[:, :, rows])
    assert got[:, :, [1, 2, 3]].abs().sum() > 0


@pytest.mark.parametrize(
    ("mask", "q_len", "kv_len", "causal"),
    [("causal", 16, 16, True), ("causal", 5, 16, False), ("float", 16, 16, False)],
)
def test_only_the_square_causal_mask_becomes_is_causal(mask, q_len, kv_len, causal):
    case = Case(1, 2, 1, q_len, kv_len, 8, 8, mask, None, torch.float32)
    graph = check_lowering(case.fn(), case.inputs(), capture="aot")
    gm, tensors, (reference,) = specialize(graph, case.inputs())
    assert fuse_attention(gm.graph) == 1
    (sdpa,) = [n for n in gm.graph.nodes if n.target is F.scaled_dot_product_attention]
    assert sdpa.kwargs["is_causal"] is causal
    assert (sdpa.kwargs["attn_mask"] is None) is (causal or mask == "none")
    gm.recompile()
    _close(gm(*tensors)[0], reference, torch.float32, "rewritten", case)


def test_gqa_runs_on_the_unrepeated_keys_and_values():
    case = Case(2, 2, 3, 8, 8, 8, 8, "none", None, torch.float32)
    graph = check_lowering(case.fn(), case.inputs(), capture="aot")
    gm, tensors, (reference,) = specialize(graph, case.inputs())
    assert fuse_attention(gm.graph) == 1
    (sdpa,) = [n for n in gm.graph.nodes if n.target is F.scaled_dot_product_attention]
    assert sdpa.kwargs["enable_gqa"] is True
    types = {getattr(n.target, "__name__", "") for n in gm.graph.nodes}
    assert "ge_BroadcastTo" not in types  # the repeats are gone
    gm.recompile()
    _close(gm(*tensors)[0], reference, torch.float32, "rewritten", case)


def test_attention_written_out_without_the_guard_is_left_alone():
    def gpt2(q, k, v):  # no fully-masked-row guard: not the SDPA math form
        s = (q @ k.transpose(-1, -2)) * 0.25
        return (
            s.masked_fill(~torch.ones(8, 8, dtype=torch.bool).tril(), float("-inf")).softmax(-1) @ v
        )

    inputs = [torch.randn(1, 2, 8, 16) for _ in range(3)]
    graph = check_lowering(gpt2, inputs, capture="aot")
    gm, _, _ = specialize(graph, inputs)
    assert fuse_attention(gm.graph) == 0


@pytest.mark.slow
@pytest.mark.parametrize(
    "case",
    [
        Case(2, 2, 2, 16, 16, 16, 16, "causal", None, torch.float32),
        Case(2, 1, 2, 7, 33, 8, 12, "bool", 0.3, torch.float32),
        Case(1, 2, 1, 16, 16, 16, 16, "float", None, torch.bfloat16),
    ],
    ids=str,
)
def test_inductor_compiles_the_fused_attention(case: Case):
    fn, inputs = case.fn(), case.inputs()
    graph = check_lowering(fn, inputs, capture="aot")
    lowered = lowered_of(graph)
    interpreted = HostProgram(graph, mode="interpret")(*inputs)
    program = HostProgram(graph, mode="inductor")
    program(*inputs)  # specializes and compiles (this call's results are the math form's)
    got = program(*inputs)
    (got,) = rebuild_outputs(got, inputs, lowered.output_kinds, lowered.output_views)
    (interpreted,) = rebuild_outputs(
        interpreted, inputs, lowered.output_kinds, lowered.output_views
    )
    (signature,) = program.signatures
    calls = [n.target for n in program.specialized_module(signature).graph.nodes]
    assert F.scaled_dot_product_attention in calls
    _close(got, interpreted, case.dtype, "Inductor vs interpreted", case)
    with torch.no_grad():
        _close(got, fn(*inputs), case.dtype, "Inductor vs eager", case)
