"""Run the GE attention pattern as ``scaled_dot_product_attention`` (host, Inductor mode).

Every SDPA variant is lowered to GE in its math form
(:mod:`airgraph_core.decompositions`, as torch's
``_scaled_dot_product_attention_math`` computes it)::

    k, v  = Reshape(BroadcastTo(Unsqueeze(k, 2)))        # GQA only: repeat each KV head
    s     = Reshape(BatchMatMul(Reshape(Mul(q, c)), Reshape(Mul(Transpose(k), c))))
    s     = Add(s, mask)                                  # a mask or is_causal only
    p     = SoftmaxV2(s)
    p     = SelectV2(ReduceAll(Equal(s, -inf)), ZerosLike(p), p)   # fully masked rows -> 0
    out   = Reshape(BatchMatMul(Reshape(p), Reshape(v)))

with ``c = sqrt(scale)``. Inductor compiles that as two batched matmuls
around a masked softmax over the whole score matrix, where a static
``torch.compile`` keeps CPU's flash-attention kernel: on a LLaMA at
sequence 128 the math form cost twice the kernel. :func:`fuse_attention`
replaces the pattern by ``F.scaled_dot_product_attention(q, k, v,
attn_mask=mask, scale=c * c, enable_gqa=...)`` on the un-repeated K/V.

The values are those of the math form: softmax of ``q k^T * scale + mask``
over the last axis, times ``v``; a row whose scores are all ``-inf`` (every
key masked) gives 0, as ``_safe_softmax`` does, and so does CPU's flash
kernel (the tests check it, for every mask kind, against the interpreted
graph). Rounding differs only in where the scale is applied (once on the
product instead of on q and k), within the host tolerances. Half inputs
are upcast to float32 by the math form before the pattern, so the fused
op runs in float32 as the math form does.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import torch
import torch.nn.functional as F
from torch.fx import Graph, Node

from airgraph_core.targets.host.rewrites import (
    GE_NODE,
    GeNode,
    erase_unused,
    ge_node,
    scalar_constant,
)

__all__ = ["fuse_attention"]

#: dtypes CPU's flash-attention kernel takes (another dtype keeps the math form).
_DTYPES = (torch.float32, torch.float64, torch.bfloat16, torch.float16)


@dataclasses.dataclass
class _Match:
    q: Node
    k: Node
    #: V as SDPA takes it, or ``None``: the 3-D reshape of V seen as ``v_shape``.
    v: Node | None
    v_shape: tuple[int, ...]
    values: Node
    mask: Node | None
    is_causal: bool
    scale: float
    gqa: bool
    #: The node the fused op replaces: the 4-D Reshape of the last BatchMatMul's
    #: ``(B*H, L, Ev)`` if it has one, else that BatchMatMul (``flat``).
    output: Node
    flat: tuple[int, ...] | None
    nodes: list[Node]


def fuse_attention(graph: Graph) -> int:
    """Replace every GE attention pattern in ``graph`` by one SDPA call; return how many."""
    count = 0
    for node in list(graph.nodes):
        if node.graph is not graph:  # erased by an earlier replacement
            continue
        match = _match(node)
        if match is None:
            continue
        with graph.inserting_before(match.output):
            v = match.v
            if v is None:
                v = graph.call_function(torch.reshape, (match.values, match.v_shape))
            fused = graph.call_function(
                F.scaled_dot_product_attention,
                (match.q, match.k, v),
                {
                    "attn_mask": match.mask,
                    "is_causal": match.is_causal,
                    "scale": match.scale,
                    "enable_gqa": match.gqa,
                },
            )
            fused.meta[GE_NODE] = match.output.meta[GE_NODE]
            if match.flat is not None:
                fused = graph.call_function(torch.reshape, (fused, match.flat))
        match.output.replace_all_uses_with(fused)
        erase_unused(graph, [match.output, *match.nodes])
        count += 1
    return count


def _single(node: Any, *op_types: str) -> GeNode | None:
    """``node``'s GE record if it is of ``op_types`` and used by one node only."""
    info = ge_node(node, *op_types)
    return info if info is not None and len(node.users) == 1 else None


def _plain_batch_matmul(node: Any) -> bool:
    info = _single(node, "BatchMatMul", "BatchMatMulV2")
    return (
        info is not None
        and len(node.args) == 2
        and all(v is None for v in info.fixed.values())
        and not info.attrs.get("adj_x1", False)
        and not info.attrs.get("adj_x2", False)
    )


def _scaled(node: Any) -> tuple[Node, float, Node] | None:
    """``Mul(x, c)`` (either order, ``c`` a 0-d literal) -> ``(x, c, c's node)``."""
    if _single(node, "Mul") is None or len(node.args) != 2:
        return None
    for x, c in (node.args, node.args[::-1]):
        literal = scalar_constant(c)
        if literal is not None and isinstance(x, Node):
            return x, float(literal[0]), c
    return None


def _ungrouped(node: Any, shape: tuple[int, ...]) -> tuple[Node, int, list[Node]] | None:
    """The K/V before a GQA repeat, its group size and the repeat's nodes; ``None`` if none.

    ``shape`` is the repeated ``(B, H, S, E)``; the repeat is
    ``Reshape(BroadcastTo(Unsqueeze(x, 2), (B, KV, G, S, E)), (B, KV*G, S, E))``,
    or the ``BroadcastTo`` alone (where a later reshape merges further).
    """
    nodes = []
    if _single(node, "Reshape") is not None and ge_node(node, "Reshape").shape == tuple(shape):
        nodes.append(node)
        node = node.args[0]
    broadcast = _single(node, "BroadcastTo")
    if broadcast is None or len(broadcast.shape or ()) != 5:
        return None
    unsqueeze = _single(node.args[0], "Unsqueeze")
    if unsqueeze is None or tuple(unsqueeze.attrs.get("axes", ())) not in ((2,), (-3,)):
        return None
    b, kv, g, s, e = broadcast.shape
    if unsqueeze.shape != (b, kv, 1, s, e) or (b, kv * g, s, e) != tuple(shape):
        return None
    return node.args[0].args[0], g, [*nodes, node, node.args[0]]


def _mask_of(scores: Node) -> tuple[Node | None, Node | None]:
    """``(mask, logits)``: ``Add(logits, mask)`` (either order), or no mask and the logits."""
    add = ge_node(scores, "Add")
    if add is None:
        return None, scores
    if len(scores.args) != 2:
        return None, None
    for logits, mask in (scores.args, scores.args[::-1]):
        reshape = _single(logits, "Reshape")
        if reshape is not None and isinstance(mask, Node) and reshape.shape == add.shape:
            return mask, logits
    return None, None


def _causal(mask: Node, length: int) -> list[Node] | None:
    """The nodes of ``SelectV2(Tril(Fill(True)), 0, -inf)`` (square, ``length``), else ``None``.

    That is how the math form builds ``is_causal``'s mask; SDPA's
    ``is_causal=True`` means the same mask (top-left aligned, as the square
    makes sure) and lets the kernel skip the keys above the diagonal.
    """
    select = ge_node(mask, "SelectV2")
    if select is None or select.shape != (length, length) or len(mask.args) != 3:
        return None
    cond, zero, neg_inf = mask.args
    tril = ge_node(cond, "Tril")
    if tril is None or tril.attrs.get("diagonal", 0) != 0 or not isinstance(cond.args[0], Node):
        return None
    fill = ge_node(cond.args[0], "Fill")
    true = scalar_constant(cond.args[0].args[0]) if fill is not None else None
    if true is None or true[0] is not True or fill.shape != (length, length):
        return None
    literals = scalar_constant(zero), scalar_constant(neg_inf)
    if None in literals or (literals[0][0], literals[1][0]) != (0.0, -math.inf):
        return None
    return [mask, cond, cond.args[0], cond.args[0].args[0], zero, neg_inf]


def _guarded_softmax(probs: Node) -> tuple[Node, list[Node]] | None:
    """The scores of ``SelectV2(ReduceAll(Equal(s, -inf)), ZerosLike(p), SoftmaxV2(s))``."""
    select = probs.args[0]
    if _single(select, "SelectV2") is None or len(select.args) != 3:
        return None
    all_masked, zeros, softmax = select.args
    sm = ge_node(softmax, "SoftmaxV2")
    if sm is None or len(softmax.users) != 2 or sm.attrs.get("half_to_float", False):
        return None
    if _single(zeros, "ZerosLike") is None or zeros.args[0] is not softmax:
        return None
    if tuple(a % 4 for a in sm.attrs.get("axes", (-1,))) != (3,):
        return None
    reduce_all = _single(all_masked, "ReduceAll")
    if reduce_all is None or not reduce_all.attrs.get("keep_dims", False):
        return None
    if [a % 4 for a in reduce_all.fixed.get(1, ())] != [3]:
        return None
    equal = all_masked.args[0]
    scores = softmax.args[0]
    if _single(equal, "Equal") is None or equal.args[0] is not scores or len(scores.users) != 2:
        return None
    neg_inf = scalar_constant(equal.args[1])
    if neg_inf is None or neg_inf[0] != -math.inf:
        return None
    return scores, [select, all_masked, zeros, softmax, equal, equal.args[1]]


def _match(pv: Node) -> _Match | None:
    """The attention pattern ending at ``pv`` (the last BatchMatMul), if it is one."""
    if not _plain_batch_matmul(pv):
        return None
    probs, values = pv.args
    if _single(probs, "Reshape") is None or _single(values, "Reshape") is None:
        return None
    guarded = _guarded_softmax(probs)
    if guarded is None:
        return None
    scores, nodes = guarded
    mask, logits = _mask_of(scores)
    if logits is None or not _plain_batch_matmul(logits.args[0]):
        return None
    qk = logits.args[0]
    q_rows, k_cols = qk.args
    if _single(q_rows, "Reshape") is None or _single(k_cols, "Reshape") is None:
        return None
    q_scaled, k_scaled = _scaled(q_rows.args[0]), _scaled(k_cols.args[0])
    if q_scaled is None or k_scaled is None:
        return None
    k_t = k_scaled[0]
    transpose = _single(k_t, "Transpose")
    if transpose is None or tuple(transpose.fixed.get(1, ())) != (0, 1, 3, 2):
        return None
    b, h, lq, e = ge_node(q_rows.args[0], "Mul").shape
    s, ev = transpose.shape[3], ge_node(pv, "BatchMatMul", "BatchMatMulV2").shape[2]
    expected = (
        (q_rows, (b * h, lq, e)),
        (k_cols, (b * h, e, s)),
        (k_t, (b, h, e, s)),
        (logits, (b, h, lq, s)),
        (probs, (b * h, lq, s)),
        (values, (b * h, s, ev)),
        (pv, (b * h, lq, ev)),
    )
    if any(node.meta[GE_NODE].shape != shape for node, shape in expected):
        return None
    dtype = ge_node(pv, "BatchMatMul", "BatchMatMulV2").dtype
    if dtype not in _DTYPES or ge_node(probs, "Reshape").dtype != dtype:
        return None
    (output,) = pv.users
    if ge_node(output, "Reshape") is not None and output.meta[GE_NODE].shape == (b, h, lq, ev):
        nodes.append(pv)
        flat = None
    else:
        output, flat = pv, (b * h, lq, ev)
    nodes += [probs, qk, q_rows, k_cols, q_rows.args[0], k_cols.args[0], k_t]
    nodes += [q_scaled[2], k_scaled[2], logits] + ([scores] if scores is not logits else [])
    k_repeat = _ungrouped(k_t.args[0], (b, h, s, e))
    v_repeat = _ungrouped(values.args[0], (b, h, s, ev))
    if k_repeat is not None and v_repeat is not None and k_repeat[1] == v_repeat[1]:
        nodes += [values, *k_repeat[2], *v_repeat[2]]
        k, v, gqa = k_repeat[0], v_repeat[0], True
    else:
        k, v, gqa = k_t.args[0], None, False
    causal = _causal(mask, lq) if mask is not None and lq == s else None
    if causal is not None:
        nodes += causal
        mask = None
    scale = q_scaled[1] * k_scaled[1]
    return _Match(
        q_scaled[0],
        k,
        v,
        (b, h, s, ev),
        values,
        mask,
        causal is not None,
        scale,
        gqa,
        output,
        flat,
        nodes,
    )
