"""Gears on plain ``transformers`` calls (tiny configs, random weights, default sdpa attention).

``set_dim_gears`` on the inputs of ``model(input_ids=...)`` (and with
``attention_mask`` and ``position_ids``) must trace once and serve every
gear, gear 1 included. With the default unbacked tracing it cannot:
transformers branches on the batch and sequence sizes (``q_length == 1`` in
its sdpa path, its mask code). With ``set_gear_tracing("backed")`` it traces
once and every gear is served without a retrace, numerically as eager (fp32,
``rtol=atol=1e-4``), whether the first call is at batch 1 (the size hint is
1) or at batch 4 (gear 1 must not break a guard taken at 4).
"""

from __future__ import annotations

import pytest
import torch
import torch._dynamo
from torch._dynamo.utils import counters

from airgraph_dynamo import CompilerConfig, get_npu_backend
from airgraph_gears import set_dim_gears, set_gear_tracing

transformers = pytest.importorskip("transformers")

pytestmark = pytest.mark.slow

_VOCAB = 64
_COMMON = dict(
    vocab_size=_VOCAB,
    hidden_size=16,
    num_attention_heads=2,
    num_hidden_layers=1,
    intermediate_size=32,
    max_position_embeddings=64,
)


def _model(name: str) -> torch.nn.Module:
    torch.manual_seed(0)
    if name == "llama":
        model = transformers.LlamaForCausalLM(
            transformers.LlamaConfig(num_key_value_heads=1, **_COMMON)
        )
    elif name == "qwen2":
        model = transformers.Qwen2ForCausalLM(
            transformers.Qwen2Config(num_key_value_heads=1, **_COMMON)
        )
    elif name == "gpt2":
        model = transformers.GPT2LMHeadModel(
            transformers.GPT2Config(
                vocab_size=_VOCAB, n_embd=16, n_head=2, n_layer=1, n_positions=64
            )
        )
    else:
        model = transformers.BertModel(transformers.BertConfig(**_COMMON))
    return model.eval()


def _inputs(batch: int, seq: int, extras: bool) -> tuple[torch.Tensor, dict]:
    ids = torch.randint(0, _VOCAB, (batch, seq))
    kwargs = {}
    if extras:
        mask = torch.ones(batch, seq, dtype=torch.long)
        mask[0, :2] = 0  # left padding in the first row
        kwargs = {"attention_mask": mask, "position_ids": torch.arange(seq).repeat(batch, 1)}
    return ids, kwargs


@pytest.fixture(autouse=True)
def _fresh():
    torch._dynamo.reset()
    counters.clear()
    yield
    set_gear_tracing("unbacked")
    torch._dynamo.reset()


def _serve(name: str, extras: bool, combos: list[tuple[int, int]]):
    """Compile ``name`` with gears over ``combos`` (zip), call every gear; backend and worst error."""
    model = _model(name)
    config = CompilerConfig()
    config.airgraph_config.target = "host"
    config.airgraph_config.host_mode = "interpret"
    backend = get_npu_backend(compiler_config=config)
    compiled = torch.compile(model, backend=backend, fullgraph=True)
    spec = {0: [b for b, _ in combos], 1: [s for _, s in combos]}
    torch.manual_seed(1)
    ids, kwargs = _inputs(*combos[0], extras)
    for tensor in (ids, *kwargs.values()):
        set_dim_gears(tensor, spec)
    with torch.no_grad():
        for index, (batch, seq) in enumerate(combos):
            if index:
                ids, kwargs = _inputs(batch, seq, extras)
            got = compiled(input_ids=ids, **kwargs)[0]
            torch.testing.assert_close(got, model(input_ids=ids, **kwargs)[0], rtol=1e-4, atol=1e-4)
    return backend


_MODELS = [
    ("llama", False),
    ("llama", True),
    ("qwen2", False),
    ("qwen2", True),
    ("gpt2", False),
    ("gpt2", True),
    ("bert", False),
    ("bert", True),
]
_GEARS = [(1, 8), (1, 16), (4, 8), (4, 16)]


@pytest.mark.parametrize(("name", "extras"), _MODELS)
def test_backed_gears_trace_once_and_serve_every_gear(name, extras):
    set_gear_tracing("backed")
    # Plain calls start at batch 1, calls with mask and position ids at batch 4.
    backend = _serve(name, extras, _GEARS[::-1] if extras else _GEARS)
    gears = backend.compiled[0].gears
    assert gears.infeasible == {}
    assert sorted(gears.compiled) == [0, 1, 2, 3]
    assert counters["stats"]["unique_graphs"] == 1 and len(backend.compiled) == 1


def test_unbacked_gears_cannot_trace_transformers_sdpa():
    """The default tracing, documented: a branch on a geared size is a data-dependent error."""
    with pytest.raises(Exception, match="data-dependent"):
        _serve("llama", False, [(2, 8), (4, 16)])
