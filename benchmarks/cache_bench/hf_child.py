"""One scenario of the transformers warm-start benchmark, in a fresh process.

Run by ``benchmarks/cache_hf_bench.py`` as ``python hf_child.py gpt2 '<json params>'``;
prints one JSON object on the last line of stdout. The model is
``transformers.GPT2LMHeadModel`` (``params["model"] == "gpt2"``, the default) or
``LlamaForCausalLM`` (``"llama"``) built from a config (4 layers, hidden 128,
4 heads (LLaMA: 2 key/value heads, MLP 256), vocab 512, 64 positions; random
weights after ``torch.manual_seed(0)``), wrapped in :class:`HfGpt2` /
:class:`HfLlama` whose ``_forward(ids)`` returns the logits of a ``(1, 32)``
batch of token ids, as a user would cache it.

``params["mode"]``:

- ``torch``: ``torch.compile(model._forward, fullgraph=True)``;
- ``key_inspect``: ``build_key`` alone, with source text read by
  :func:`inspect.getsource` per object as before issue 12 (the "before"
  figure; ``key_new``: the same with the current code), ``params["repeats"]``
  times in the process;
- ``airgraph``: ``cache_compile(model._forward, dynamic=False,
  ge_cache=params["ge_cache"], cache_dir=params["cache_dir"])``. The time
  spent in ``build_key`` (the cache key, sources included) is reported
  separately (``key_s``), measured by wrapping the ``build_key`` that
  ``airgraph_cache.compile`` calls.

The first-call time runs from making the compiled function to its first
result; lazy imports (Dynamo, Inductor) count there. ``first_call_cpu_s`` is
the CPU time (user + system) over the same span, of this process and of the
child processes it waited for (compilers). ``params["layers"]`` sets the depth
(default 4).
"""

from __future__ import annotations

import time

T_START = time.monotonic()

import json  # noqa: E402
import os  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
from typing import Any  # noqa: E402

import torch  # noqa: E402

LAYERS = 4
EMBED = 128
HEADS = 4
VOCAB = 512
POSITIONS = 64
SEQ = 32


class HfLlama(torch.nn.Module):
    """``LlamaForCausalLM`` (small config, random weights) behind a ``_forward`` like :class:`HfGpt2`."""

    def __init__(self, layers: int = LAYERS) -> None:
        super().__init__()
        from transformers import LlamaConfig, LlamaForCausalLM

        config = LlamaConfig(
            hidden_size=EMBED,
            intermediate_size=2 * EMBED,
            num_hidden_layers=layers,
            num_attention_heads=HEADS,
            num_key_value_heads=HEADS // 2,
            vocab_size=VOCAB,
            max_position_embeddings=POSITIONS,
            bos_token_id=0,
            eos_token_id=0,
        )
        self.lm = LlamaForCausalLM(config).eval()

    def _forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.lm(input_ids=ids, use_cache=False).logits


class HfGpt2(torch.nn.Module):
    """``GPT2LMHeadModel`` behind a ``_forward`` that ``cache_compile`` can take."""

    def __init__(self, layers: int = LAYERS) -> None:
        super().__init__()
        from transformers import GPT2Config, GPT2LMHeadModel

        config = GPT2Config(
            n_layer=layers,
            n_embd=EMBED,
            n_head=HEADS,
            vocab_size=VOCAB,
            n_positions=POSITIONS,
            bos_token_id=0,
            eos_token_id=0,
        )
        self.lm = GPT2LMHeadModel(config).eval()

    def _forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.lm(input_ids=ids, use_cache=False).logits


#: ``params["model"]`` -> the wrapper class (default ``gpt2``).
MODELS = {"gpt2": HfGpt2, "llama": HfLlama}


def _build(params: dict[str, Any]) -> torch.nn.Module:
    torch.manual_seed(0)
    return MODELS[params.get("model", "gpt2")](params.get("layers", LAYERS)).eval()


def _modules() -> dict[str, bool]:
    return {
        "dynamo_imported": "torch._dynamo" in sys.modules,
        "inductor_imported": "torch._inductor" in sys.modules,
    }


def _key_only(params: dict[str, Any]) -> dict[str, Any]:
    """Time ``build_key`` on the model, new code or inspect.getsource per object (before)."""
    import transformers  # noqa: F401

    from airgraph_cache import build_key, sources

    if params["mode"] == "key_inspect":
        import inspect

        fallback = sources.object_source

        def inspect_source(obj: Any, reader: Any = None) -> str:
            try:
                return inspect.getsource(obj)
            except (OSError, TypeError):
                return fallback(obj, reader)

        sources.object_source = inspect_source
    model = _build(params)
    ids = torch.zeros(1, SEQ, dtype=torch.long)
    times, digests = [], set()
    for _ in range(params.get("repeats", 2)):
        a = time.perf_counter()
        key = build_key(model._forward, (ids,), config_fingerprint="bench", dynamic=False)
        times.append(time.perf_counter() - a)
        digests.add(key.digest())
    return {
        "mode": params["mode"],
        "key_first_s": times[0],
        "key_again_s": statistics.median(times[1:]) if len(times) > 1 else None,
        "sources": len(key.sources),
        "stable_digest": len(digests) == 1,
    }


def main(params: dict[str, Any]) -> dict[str, Any]:
    mode = params["mode"]
    if mode in ("key_inspect", "key_new"):
        return _key_only(params)
    t0 = time.monotonic()
    import transformers  # noqa: F401

    t1 = time.monotonic()
    key_times: list[float] = []
    if mode == "airgraph":
        from airgraph_cache import cache_compile
        from airgraph_cache import compile as compile_module

        real_build_key = compile_module.build_key

        def timed_build_key(*args: Any, **kwargs: Any) -> Any:
            a = time.perf_counter()
            try:
                return real_build_key(*args, **kwargs)
            finally:
                key_times.append(time.perf_counter() - a)

        compile_module.build_key = timed_build_key
    import logging

    warnings: list[str] = []

    class _Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            warnings.append(record.getMessage()[:600])

    logging.getLogger("airgraph").addHandler(_Keep(logging.WARNING))
    t2 = time.monotonic()
    model = _build(params)
    ids = torch.randint(0, VOCAB, (1, SEQ), generator=torch.Generator().manual_seed(1))
    t3 = time.monotonic()
    c3 = os.times()
    extra: dict[str, Any] = {}
    with torch.no_grad():
        if mode == "torch":
            fn = torch.compile(model._forward, fullgraph=True)
        elif mode == "airgraph":
            fn = cache_compile(
                model._forward,
                dynamic=False,
                ge_cache=params["ge_cache"],
                cache_dir=params["cache_dir"],
            )
        else:
            raise ValueError(f"mode: unknown {mode!r}")
        y = fn(ids)
        t4 = time.monotonic()
        c4 = os.times()
        after_first = _modules()
        for _ in range(2):
            fn(ids)
        steady = []
        for _ in range(params.get("steady_n", 20)):
            a = time.perf_counter()
            fn(ids)
            steady.append(time.perf_counter() - a)
        err = float((y - model._forward(ids)).abs().max())
    if mode == "airgraph":
        extra["status"] = fn.status
        extra["warnings"] = warnings
    steady_s = statistics.median(steady)
    return {
        "mode": mode,
        "import_transformers_s": t1 - t0,
        "import_ours_s": t2 - t1,
        "build_model_s": t3 - t2,
        "first_call_s": t4 - t3,
        # CPU of the first call: this process plus the compiler processes it waited for.
        "first_call_cpu_s": sum(c4[:4]) - sum(c3[:4]),
        "key_s": sum(key_times) if key_times else None,
        "key_calls": len(key_times),
        "steady_call_s": steady_s,
        "steady_min_s": min(steady),
        "warm_start_overhead_best_s": (t4 - t3) - min(steady),
        "ttfr_s": t4 - float(os.environ.get("CACHE_BENCH_SPAWN", T_START)),
        "max_abs_err": err,
        "after_first_call": after_first,
        **extra,
    }


if __name__ == "__main__":
    result = main(json.loads(sys.argv[2]))
    result["interpreter_start_s"] = T_START - float(os.environ.get("CACHE_BENCH_SPAWN", T_START))
    sys.stdout.flush()
    print("\n" + json.dumps(result))
