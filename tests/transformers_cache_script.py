"""One cold or warm start of a small ``transformers`` model through ``cache_compile``.

Run as a fresh process (``python transformers_cache_script.py MODEL DYNAMIC
GE_CACHE HOST_MODE GEARS CACHE_DIR``, flags ``0``/``1``); it prints one line
``RESULT{json}`` with, per call, the cached function's ``status``, the max
absolute difference from eager, whether it repeats the call before and how
many calls of compiled host code it made (``compiled_runs``, counted by
``compiled_host_runs``), the published rank folders and their hit counts,
and every Python warning and log record at WARNING or above. Shared by
``tests/test_cache_compile_transformers*.py`` and the full matrix
(``tests/transformers_cache_cases.py``, ``nox -s cache-matrix``).

In ``inductor`` host mode the first call of a new shape runs the graph op by
op while Inductor compiles it, so every call is followed by a repeat: same
shapes, other values (seeded ``compiled_host_runs.REPEAT_SEED`` + call), which
must run the compiled code.

Models are built from small configs (random weights, no download). With
``GEARS=1`` the batch dim of every input is geared ``[2, 4]`` and traced
backed (``set_gear_tracing("backed")``): transformers' mask and sdpa code
branch on the batch size, which unbacked (default) gears cannot trace.
"""

import json
import logging
import sys
import warnings

import compiled_host_runs  # beside this script: its folder is first on sys.path
import torch
import transformers

import airgraph as torchair
from airgraph_cache import ArtifactStore, describe_ranks
from airgraph_gears import set_gear_tracing

MODEL, DYNAMIC, GE_CACHE, HOST_MODE, GEARS, CACHE = sys.argv[1:7]
DYNAMIC, GE_CACHE, GEARS = DYNAMIC == "1", GE_CACHE == "1", GEARS == "1"
SMALL = dict(
    hidden_size=64,
    intermediate_size=128,
    num_hidden_layers=2,
    num_attention_heads=4,
    vocab_size=100,
    max_position_embeddings=64,
)


def build():
    if MODEL == "gpt2":
        return transformers.GPT2LMHeadModel(
            transformers.GPT2Config(
                n_layer=2, n_embd=64, n_head=4, vocab_size=100, n_positions=64,
                bos_token_id=0, eos_token_id=0,
            )
        )  # fmt: skip
    if MODEL == "llama":
        return transformers.LlamaForCausalLM(
            transformers.LlamaConfig(num_key_value_heads=2, **SMALL)
        )
    if MODEL == "qwen2":
        return transformers.Qwen2ForCausalLM(
            transformers.Qwen2Config(num_key_value_heads=2, **SMALL)
        )
    if MODEL == "bert":
        return transformers.BertModel(transformers.BertConfig(**SMALL))
    return transformers.WhisperForConditionalGeneration(
        transformers.WhisperConfig(
            d_model=64, encoder_layers=2, decoder_layers=2, encoder_attention_heads=4,
            decoder_attention_heads=4, encoder_ffn_dim=128, decoder_ffn_dim=128,
            num_mel_bins=16, max_source_positions=32, max_target_positions=64,
            vocab_size=100, pad_token_id=0, bos_token_id=1, eos_token_id=2,
            decoder_start_token_id=1,
        )
    )  # fmt: skip


def inputs(seq, batch, g):
    ids = torch.randint(0, 100, (batch, seq), generator=g)
    if MODEL == "bert":
        mask = torch.ones(batch, seq, dtype=torch.long)
        mask[0, -2:] = 0  # padding: the mask reaches the attention
        return ids, mask
    if MODEL == "whisper":
        return torch.randn(batch, 16, 64, generator=g), ids
    return ids, None


class Model(torch.nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.net = build().eval()
        options = torchair.CompilerConfig()
        options.airgraph_config.host_mode = HOST_MODE
        self.cached = torchair.inference.cache_compile(
            self._forward, config=options, dynamic=DYNAMIC, ge_cache=GE_CACHE, cache_dir=CACHE
        )

    def forward(self, a, b=None):
        return self.cached(a, b)

    def _forward(self, a, b=None):
        if MODEL == "gpt2":  # transformers' default use_cache: its cache helpers are traced too
            return self.net(input_ids=a).logits
        if MODEL == "bert":
            return self.net(input_ids=a, attention_mask=b).last_hidden_state
        if MODEL == "whisper":
            return self.net(input_features=a, decoder_input_ids=b, use_cache=False).logits
        return self.net(input_ids=a, use_cache=False).logits


class Collect(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.seen = []

    def emit(self, record):
        self.seen.append(f"{record.name}: {record.getMessage()}"[:500])


def calls(shapes, g):
    """Per call: its inputs and whether it repeats the call before (inductor mode)."""
    for call, (seq, batch) in enumerate(shapes):
        yield inputs(seq, batch, g), False
        if HOST_MODE == "inductor":
            repeat = torch.Generator().manual_seed(compiled_host_runs.REPEAT_SEED + call)
            yield inputs(seq, batch, repeat), True


def main():
    logs = Collect()
    for name in ("", "torch", "airgraph"):  # torch's and airgraph's may not propagate
        logging.getLogger(name).addHandler(logs)
    g = torch.Generator().manual_seed(1)
    if GEARS:  # the batch dim geared: one program serves 2 and 4
        set_gear_tracing("backed")
        shapes = [(8, 2), (8, 4), (8, 2)]
    else:
        shapes = [(8, 1), (16, 1)] if DYNAMIC else [(8, 1)]
    statuses, errors, repeats, compiled_runs = [], [], [], []
    with warnings.catch_warnings(record=True) as caught, compiled_host_runs.counting() as runs:
        warnings.simplefilter("always")
        model = Model()
        with torch.no_grad():
            for args, repeat in calls(shapes, g):
                if GEARS:
                    for t in args:
                        if t is not None:
                            torchair.inference.set_dim_gears(t, dim_gears={0: [2, 4]})
                before = runs.count
                got = model(*args)
                compiled_runs.append(runs.count - before)
                errors.append(float((got - model._forward(*args)).abs().max()))
                statuses.append(model.cached.status)
                repeats.append(repeat)
    ranks = describe_ranks(ArtifactStore(CACHE))
    seen = {f"{w.category.__name__}: {w.message}"[:500] for w in caught}
    result = {
        "statuses": statuses,
        "errors": errors,
        "repeats": repeats,
        "compiled_runs": compiled_runs,
        "published": len(ranks),
        "hits": sum(r.hits for r in ranks),
        "warnings": sorted(seen | set(logs.seen)),
    }
    print("RESULT" + json.dumps(result))


if __name__ == "__main__":
    main()
