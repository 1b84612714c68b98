"""Static marks under ``dynamic=True``: a Whisper-style decoder step (MISSION.md, feature 2).

The decoder takes the token ``x``, the encoder output ``xa``, the positional
embedding table, a dict of per-layer self-/cross-attention K/V caches that it
updates in place (self-attention at ``updated_kv_positions``), the number of
valid cache slots ``actual_seq_len`` (a Python int: symbolic under
``dynamic=True``) and the cache's left padding ``kv_padding_size``.
"""

from __future__ import annotations

import logging

import torch
import torch._dynamo
import torch.nn.functional as F
from torch import nn

from airgraph_dynamo import get_npu_backend
from airgraph_dynamo.static_marks import dynamic_descs

B, VOCAB, D, HEADS, LAYERS, N_CTX, CACHE_LEN, AUDIO_LEN = 2, 64, 32, 4, 2, 16, 12, 6
KV_NAMES = ("self_k", "self_v", "cross_k", "cross_v")


def attention(q, k, v, heads, mask=None):
    b, lq, d = q.shape
    dh = d // heads
    q = q.view(b, lq, heads, dh).transpose(1, 2)
    k = k.reshape(b, -1, heads, dh).transpose(1, 2)
    v = v.reshape(b, -1, heads, dh).transpose(1, 2)
    scores = (q @ k.transpose(-1, -2)) * dh**-0.5
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    return (scores.softmax(-1) @ v).transpose(1, 2).reshape(b, lq, d)


class Block(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.attn_ln, self.cross_ln, self.mlp_ln = nn.LayerNorm(d), nn.LayerNorm(d), nn.LayerNorm(d)
        self.query, self.key, self.value, self.out = (nn.Linear(d, d) for _ in range(4))
        self.key.bias = None  # Whisper's key projections have no bias
        self.cross_query, self.cross_key, self.cross_value, self.cross_out = (
            nn.Linear(d, d) for _ in range(4)
        )
        self.cross_key.bias = None
        self.mlp1, self.mlp2 = nn.Linear(d, 4 * d), nn.Linear(4 * d, d)


class WhisperDecoder(nn.Module):
    """A tiny Whisper-style text decoder with an in-place KV cache.

    ``slice_cache=False``: attention covers the whole (static) cache with a
    mask built from ``kv_padding_size`` and ``actual_seq_len``: no dynamic
    shape anywhere. ``slice_cache=True``: attention reads the cache sliced to
    ``actual_seq_len`` slots (no padding): static inputs, dynamic inside.
    """

    def __init__(self, slice_cache: bool = False):
        super().__init__()
        self.slice_cache = slice_cache
        self.token_embedding = nn.Embedding(VOCAB, D)
        self.blocks = nn.ModuleList(Block(D) for _ in range(LAYERS))
        self.ln = nn.LayerNorm(D)

    def decode(
        self,
        x,
        xa,
        positional_embedding,
        kv_cache,
        updated_kv_positions,
        actual_seq_len,
        kv_padding_size,
    ):
        position = updated_kv_positions - kv_padding_size
        h = self.token_embedding(x) + positional_embedding.index_select(0, position)
        mask = None
        if not self.slice_cache:
            slots = torch.arange(CACHE_LEN, device=x.device)
            valid = (slots >= kv_padding_size) & (slots < kv_padding_size + actual_seq_len)
            mask = valid.view(1, 1, 1, CACHE_LEN)
        for i, blk in enumerate(self.blocks):
            self_k, self_v = kv_cache[f"layer{i}.self_k"], kv_cache[f"layer{i}.self_v"]
            cross_k, cross_v = kv_cache[f"layer{i}.cross_k"], kv_cache[f"layer{i}.cross_v"]
            a = blk.attn_ln(h)
            self_k.index_copy_(1, updated_kv_positions, blk.key(a))
            self_v.index_copy_(1, updated_kv_positions, blk.value(a))
            if self.slice_cache:
                k, v = self_k[:, :actual_seq_len], self_v[:, :actual_seq_len]
            else:
                k, v = self_k, self_v
            h = h + blk.out(attention(blk.query(a), k, v, HEADS, mask))
            cross_k.copy_(blk.cross_key(xa))
            cross_v.copy_(blk.cross_value(xa))
            c = blk.cross_ln(h)
            h = h + blk.cross_out(attention(blk.cross_query(c), cross_k, cross_v, HEADS))
            h = h + blk.mlp2(F.gelu(blk.mlp1(blk.mlp_ln(h))))
        return self.ln(h) @ self.token_embedding.weight.t()


def make_inputs(seed: int = 0, actual_seq_len: int = 5, kv_padding_size: int = 0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, VOCAB, (B, 1), generator=g)
    xa = torch.randn(B, AUDIO_LEN, D, generator=g)
    positional_embedding = torch.randn(N_CTX, D, generator=g)
    kv_cache = {}
    for i in range(LAYERS):
        for name in KV_NAMES:
            length = CACHE_LEN if name.startswith("self") else AUDIO_LEN
            kv_cache[f"layer{i}.{name}"] = torch.randn(B, length, D, generator=g)
    position = kv_padding_size + actual_seq_len - 1
    updated_kv_positions = torch.tensor([position])
    padding = torch.tensor([kv_padding_size])
    return [x, xa, positional_embedding, kv_cache, updated_kv_positions, actual_seq_len, padding]


def mark_static(inputs):
    x, xa, positional_embedding, kv_cache, _positions, _len, kv_padding_size = inputs
    for t in (x, xa, positional_embedding, kv_padding_size, *kv_cache.values()):
        torch._dynamo.mark_static(t)


def clone(inputs):
    return [
        {k: v.clone() for k, v in a.items()}
        if isinstance(a, dict)
        else a.clone()
        if isinstance(a, torch.Tensor)
        else a
        for a in inputs
    ]


def assert_same(eager_inputs, got_inputs, expected, got):
    torch.testing.assert_close(got, expected, atol=1e-4, rtol=1e-4)
    for name, t in eager_inputs[3].items():
        torch.testing.assert_close(got_inputs[3][name], t, atol=1e-5, rtol=1e-5, msg=name)


def _compile(decoder, config):
    backend = get_npu_backend(compiler_config=config)
    return backend, torch.compile(decoder.decode, dynamic=True, fullgraph=True, backend=backend)


def test_all_static_inputs_give_a_fully_static_graph(make_config, skip_if_missing_converters):
    torch.manual_seed(0)
    decoder = WhisperDecoder().eval()
    backend, decode = _compile(decoder, make_config("interpret"))
    inputs = make_inputs(actual_seq_len=5, kv_padding_size=2)
    eager_inputs = clone(inputs)
    mark_static(inputs)
    with torch.no_grad():
        expected = decoder.decode(*eager_inputs)
        got = skip_if_missing_converters(decode, *inputs)
    assert_same(eager_inputs, inputs, expected, got)

    graph = backend.graphs[-1]
    report = backend.compiled[-1].static_marks
    assert report.violations == ()
    assert report.shape_of("L['x']") == (B, 1)
    assert report.shape_of("L['xa']") == (B, AUDIO_LEN, D)
    assert report.shape_of("L['positional_embedding']") == (N_CTX, D)
    assert report.shape_of("L['kv_padding_size']") == (1,)
    for i in range(LAYERS):
        assert report.shape_of(f"L['kv_cache']['layer{i}.self_k']") == (B, CACHE_LEN, D)
        assert report.shape_of(f"L['kv_cache']['layer{i}.cross_v']") == (B, AUDIO_LEN, D)
    # Every Data op is concrete; actual_seq_len is a host scalar (shape ()).
    for op in graph.data_ops:
        assert all(d >= 0 for d in op.output_descs[0].shape), op.name
    assert dynamic_descs(graph) == [], "a -1 dim is left somewhere in the graph"
    assert report.graph_is_static


def test_static_graph_serves_other_lengths_without_recompiling(
    make_config, skip_if_missing_converters
):
    torch.manual_seed(0)
    decoder = WhisperDecoder().eval()
    backend, decode = _compile(decoder, make_config("interpret"))
    for step, (length, padding) in enumerate([(5, 2), (7, 2), (3, 0)]):
        inputs = make_inputs(seed=step, actual_seq_len=length, kv_padding_size=padding)
        eager_inputs = clone(inputs)
        mark_static(inputs)
        with torch.no_grad():
            expected = decoder.decode(*eager_inputs)
            got = skip_if_missing_converters(decode, *inputs)
        assert_same(eager_inputs, inputs, expected, got)
    assert len(backend.compiled) == 1, "actual_seq_len and kv_padding_size must not recompile"


def test_static_inputs_with_dynamic_shapes_inside(make_config, skip_if_missing_converters):
    torch.manual_seed(0)
    decoder = WhisperDecoder(slice_cache=True).eval()
    backend, decode = _compile(decoder, make_config("interpret"))
    for step, length in enumerate([5, 9]):
        inputs = make_inputs(seed=step, actual_seq_len=length)
        eager_inputs = clone(inputs)
        mark_static(inputs)
        with torch.no_grad():
            expected = decoder.decode(*eager_inputs)
            got = skip_if_missing_converters(decode, *inputs)
        assert_same(eager_inputs, inputs, expected, got)
    assert len(backend.compiled) == 1
    graph = backend.graphs[-1]
    report = backend.compiled[-1].static_marks
    assert report.violations == ()
    marked = [d for d in report.inputs if d.marked_static]
    assert len(marked) == 4 + 4 * LAYERS
    assert all(d.is_static for d in marked)
    assert dynamic_descs(graph), "the sliced cache should be dynamic inside the graph"
    assert not report.graph_is_static


def test_without_marks_dynamic_true_leaves_inputs_dynamic(make_config):
    backend = get_npu_backend(compiler_config=make_config("interpret"))
    add = torch.compile(lambda x, y: x + y, dynamic=True, fullgraph=True, backend=backend)
    with torch.no_grad():
        add(torch.ones(3, 4), torch.ones(3, 4))
    shapes = [op.output_descs[0].shape for op in backend.graphs[-1].data_ops]
    assert (-1, -1) in shapes


def test_marked_inputs_are_static_and_others_stay_dynamic(make_config):
    backend = get_npu_backend(compiler_config=make_config("interpret"))
    fn = torch.compile(lambda x, y: (x * 2, y + 1), dynamic=True, fullgraph=True, backend=backend)
    x, y = torch.ones(3, 4), torch.ones(5, 6)
    torch._dynamo.mark_static(x)
    with torch.no_grad():
        out = fn(x, y)
    torch.testing.assert_close(out[0], x * 2)
    report = backend.compiled[-1].static_marks
    assert report.shape_of("L['x']") == (3, 4)
    assert report.shape_of("L['y']") == (-1, -1)


def test_partial_dim_marks(make_config):
    backend = get_npu_backend(compiler_config=make_config("interpret"))
    fn = torch.compile(lambda x: x + x, dynamic=True, fullgraph=True, backend=backend)
    x = torch.ones(3, 4)
    torch._dynamo.mark_static(x, 1)
    with torch.no_grad():
        fn(x)
    report = backend.compiled[-1].static_marks
    assert report.shape_of("L['x']") == (-1, 4)
    assert report.input("L['x']").marked_static == frozenset({1})


def test_mark_dynamic_wins_and_is_reported(make_config, caplog):
    backend = get_npu_backend(compiler_config=make_config("interpret"))
    fn = torch.compile(lambda x: x + x, dynamic=True, fullgraph=True, backend=backend)
    x = torch.ones(3, 4)
    torch._dynamo.mark_static(x, 0)
    torch._dynamo.mark_dynamic(x, 0)
    with caplog.at_level(logging.WARNING, logger="airgraph.dynamo"), torch.no_grad():
        fn(x)
    report = backend.compiled[-1].static_marks
    assert report.shape_of("L['x']")[0] == -1
    assert len(report.violations) == 1 and "dim 0 is marked static" in report.violations[0]
    assert "marked static" in caplog.text
