"""Whole-model tests: small random-weight transformers lower with zero unsupported
ops, pass GE prototype validation, and match eager PyTorch (fp32, atol 1e-4).

Models are built from tiny configs (no downloads). Interpreted runs are quick
enough for every test run; Inductor runs are marked ``slow``.
"""

from __future__ import annotations

import pytest
import torch

from airgraph_core import find_unsupported
from airgraph_core.capture import capture_aten_graph
from airgraph_core.testing import check_lowering

transformers = pytest.importorskip("transformers")

ATOL = 1e-4
RTOL = 1e-4


class LogitsOnly(torch.nn.Module):
    """Wraps a transformers model so that it returns one tensor."""

    def __init__(self, model: torch.nn.Module, field: str, names: tuple[str, ...]) -> None:
        super().__init__()
        self.model = model
        self.field = field
        self.names = names

    def forward(self, *args):
        return getattr(self.model(**dict(zip(self.names, args))), self.field)


def _gpt2(attn):
    cfg = transformers.GPT2Config(
        vocab_size=128,
        n_positions=64,
        n_embd=64,
        n_layer=2,
        n_head=4,
        use_cache=False,
        bos_token_id=0,
        eos_token_id=0,
        attn_implementation=attn,
    )
    model = transformers.GPT2LMHeadModel(cfg)
    return LogitsOnly(model, "logits", ("input_ids",)), [torch.randint(0, 128, (2, 8))]


def _llama(attn):
    cfg = transformers.LlamaConfig(
        vocab_size=128,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=64,
        use_cache=False,
        attn_implementation=attn,
    )
    model = transformers.LlamaForCausalLM(cfg)
    return LogitsOnly(model, "logits", ("input_ids",)), [torch.randint(0, 128, (2, 8))]


def _bert(attn):
    cfg = transformers.BertConfig(
        vocab_size=128,
        hidden_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=128,
        max_position_embeddings=64,
        attn_implementation=attn,
    )
    model = transformers.BertModel(cfg)
    ids = torch.randint(0, 128, (2, 8))
    mask = torch.ones(2, 8, dtype=torch.int64)
    mask[1, 6:] = 0
    return LogitsOnly(model, "last_hidden_state", ("input_ids", "attention_mask")), [ids, mask]


def _whisper(attn):
    cfg = transformers.WhisperConfig(
        vocab_size=128,
        num_mel_bins=16,
        encoder_layers=2,
        decoder_layers=2,
        encoder_attention_heads=4,
        decoder_attention_heads=4,
        encoder_ffn_dim=128,
        decoder_ffn_dim=128,
        d_model=64,
        max_source_positions=16,
        max_target_positions=32,
        use_cache=False,
        pad_token_id=0,
        decoder_start_token_id=1,
        attn_implementation=attn,
    )
    model = transformers.WhisperForConditionalGeneration(cfg)
    features = torch.randn(1, 16, 32)
    decoder_ids = torch.randint(0, 128, (1, 6))
    names = ("input_features", "decoder_input_ids")
    return LogitsOnly(model, "logits", names), [features, decoder_ids]


MODELS = {"gpt2": _gpt2, "llama": _llama, "bert": _bert, "whisper": _whisper}


def _build(name, attn):
    torch.manual_seed(0)
    model, inputs = MODELS[name](attn)
    return model.eval(), inputs


@pytest.mark.slow
@pytest.mark.parametrize("attn", ["eager", "sdpa"])
@pytest.mark.parametrize("name", list(MODELS))
def test_model_has_no_unsupported_ops(name, attn):
    model, inputs = _build(name, attn)
    gm, _ = capture_aten_graph(model, inputs)
    assert find_unsupported(gm) == []


@pytest.mark.slow
@pytest.mark.parametrize("name", list(MODELS))
def test_model_matches_eager_interpreted(name):
    model, inputs = _build(name, "sdpa")
    check_lowering(model, inputs, modes=("interpret",), atol=ATOL, rtol=RTOL, capture="dynamo")


@pytest.mark.slow
@pytest.mark.parametrize("name", ["gpt2", "llama"])
def test_model_matches_eager_with_dynamic_shapes(name):
    model, inputs = _build(name, "eager")
    check_lowering(model, inputs, modes=("interpret",), dynamic=True, atol=ATOL, rtol=RTOL)


@pytest.mark.slow
@pytest.mark.parametrize("name", list(MODELS))
def test_model_matches_eager_with_inductor(name):
    model, inputs = _build(name, "eager")
    check_lowering(model, inputs, modes=("inductor",), atol=ATOL, rtol=RTOL, capture="dynamo")


class DecoderStep(torch.nn.Module):
    """A Whisper-style decoder layer step: self-attention over a KV cache
    updated in place at ``pos``, cross-attention over encoder k/v, GELU MLP."""

    def __init__(self, mode: str, d: int = 64, heads: int = 4) -> None:
        super().__init__()
        self.mode, self.heads, self.dh = mode, heads, d // heads
        self.ln1, self.ln2, self.ln3 = (torch.nn.LayerNorm(d) for _ in range(3))
        self.q, self.k, self.v, self.o = (torch.nn.Linear(d, d) for _ in range(4))
        self.cq, self.co = torch.nn.Linear(d, d), torch.nn.Linear(d, d)
        self.fc1, self.fc2 = torch.nn.Linear(d, 4 * d), torch.nn.Linear(4 * d, d)

    def split(self, x):
        b, n, _ = x.shape
        return x.view(b, n, self.heads, self.dh).transpose(1, 2)

    def forward(self, x, pos, k_cache, v_cache, cross_k, cross_v):
        b = x.shape[0]
        h = self.ln1(x)
        q, k, v = self.split(self.q(h)), self.split(self.k(h)), self.split(self.v(h))
        if self.mode == "setitem":
            k_cache[:, :, pos] = k
            v_cache[:, :, pos] = v
        else:
            k_cache.index_copy_(2, pos, k)
            v_cache.index_copy_(2, pos, v)
        mask = torch.arange(k_cache.shape[2]) <= pos
        att = (q @ k_cache.transpose(-1, -2)) * self.dh**-0.5
        att = att.masked_fill(~mask, float("-inf")).softmax(-1)
        x = x + self.o((att @ v_cache).transpose(1, 2).reshape(b, 1, -1))
        c = torch.nn.functional.scaled_dot_product_attention(
            self.split(self.cq(self.ln2(x))), cross_k, cross_v
        )
        x = x + self.co(c.transpose(1, 2).reshape(b, 1, -1))
        return x + self.fc2(torch.nn.functional.gelu(self.fc1(self.ln3(x))))


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["setitem", "index_copy"])
def test_decoder_step_updates_kv_cache_in_place(mode):
    torch.manual_seed(0)
    step = DecoderStep(mode).eval()
    inputs = [
        torch.randn(1, 1, 64),
        torch.tensor([3]),
        torch.randn(1, 4, 16, 16),
        torch.randn(1, 4, 16, 16),
        torch.randn(1, 4, 10, 16),
        torch.randn(1, 4, 10, 16),
    ]
    graph = check_lowering(step, inputs, atol=ATOL, rtol=RTOL)
    assert graph.ops_of_type("Assign"), "in-place cache writes must become Assign ops"


def test_gpt2_block_dump_shows_only_ge_ops():
    from airgraph_core import dump_text
    from airgraph_core.ir import known_op_types

    model, inputs = _build("gpt2", "eager")
    block = model.model.transformer.h[0]
    hidden = torch.randn(2, 8, 64)
    graph = check_lowering(lambda h: block(h)[0], [hidden], atol=ATOL, rtol=RTOL)
    text = dump_text(graph)
    types = {
        line.split("=", 1)[1].split("(")[0].strip()
        for line in text.splitlines()
        if " = " in line and line.strip().startswith("%")
    }
    assert types <= known_op_types()
    assert {"MatMulV2", "SoftmaxV2", "LayerNormV4"} & types
