"""Models for ``test_cache_compile_binding.py``, run as children (:func:`main`).

- :class:`OtherSelfName`: the cached method's first parameter is not named
  ``self`` (``def _forward(m, x)``), and it reads parameters and a buffer.
- :class:`SlicedLayers`: the forward slices its ``ModuleList`` (as transformers'
  LLaMA does, ``self.layers[: n]``), which registers the layers in a new
  ``ModuleList`` on every call, eager and traced alike.
- :class:`TransformersLlama`: transformers' LLaMA itself, whose slice Dynamo
  traces through ``ModuleList.__getitem__`` (the registration hooks run).

The module has a fixed name so the models' qualified names (part of the key)
are the same in every process.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import torch

from airgraph_cache import cache_compile
from airgraph_dynamo import CompilerConfig


def _config() -> CompilerConfig:
    config = CompilerConfig()
    config.airgraph_config.host_mode = "interpret"
    return config


class OtherSelfName(torch.nn.Module):
    def __init__(self, cache_dir: str) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(4, 4)
        self.register_buffer("shift", torch.linspace(-1.0, 1.0, 4))
        self.cached = cache_compile(self._forward, cache_dir=cache_dir, config=_config())

    def _forward(m, x):  # noqa: N805  (the point of the test)
        return torch.relu(m.linear(x)) + m.shift


class SlicedLayers(torch.nn.Module):
    def __init__(self, cache_dir: str) -> None:
        super().__init__()
        self.layers = torch.nn.ModuleList(torch.nn.Linear(4, 4) for _ in range(3))
        self.used = 2
        self.cached = cache_compile(self._forward, cache_dir=cache_dir, config=_config())

    def _forward(self, x):
        for layer in self.layers[: self.used]:
            x = torch.tanh(layer(x))
        return x


class TransformersLlama(torch.nn.Module):
    """transformers' LLaMA (2 layers, random weights): its forward slices ``self.layers``
    inside a wrapped ``forward``, where Dynamo runs ``ModuleList.__getitem__``'s code."""

    def __init__(self, cache_dir: str) -> None:
        super().__init__()
        import transformers

        config = transformers.LlamaConfig(
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
            vocab_size=64,
        )
        self.llama = transformers.LlamaForCausalLM(config)
        self.layers = self.llama.model.layers
        self.cached = cache_compile(self._forward, cache_dir=cache_dir, config=_config())

    def _forward(self, x):
        ids = (x.abs() * 10).long() % 64
        return self.llama(input_ids=ids).logits


MODELS = {
    "other_self_name": OtherSelfName,
    "sliced_layers": SlicedLayers,
    "transformers_llama": TransformersLlama,
}


def run(name: str, cache_dir: str, eager_first: int) -> dict[str, Any]:
    """``eager_first`` eager calls, then cached calls; between the cached calls a parameter
    is replaced by a new one (which the cache must read). Statuses and errors vs eager."""
    torch.manual_seed(0)
    x = torch.randn(2, 4, generator=torch.Generator().manual_seed(1))
    if name == "transformers_llama":
        # Another cached method first (as prefill before decode): the cache watches module
        # state from then on, so the LLaMA is traced with that watch in place.
        with torch.no_grad():
            OtherSelfName(cache_dir).cached(x)
    model = MODELS[name](cache_dir).eval()
    with torch.no_grad():
        for _ in range(eager_first):
            model._forward(x)
        statuses, errors = [], []
        for step in range(3):
            if step:
                linear = model.linear if name == "other_self_name" else model.layers[0]
                if name == "transformers_llama":
                    linear = model.layers[0].mlp.down_proj
                linear.weight = torch.nn.Parameter(torch.randn_like(linear.weight))
            got = model.cached(x)
            statuses.append(model.cached.status)
            errors.append(float((got - model._forward(x)).abs().max()))
    return {"statuses": statuses, "errors": errors}


def main(argv: list[str]) -> None:
    print(json.dumps(run(argv[0], argv[1], int(argv[2]))))


if __name__ == "__main__":
    main(sys.argv[1:])
