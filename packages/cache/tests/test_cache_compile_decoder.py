"""Prefill and decode as two cached methods of one model, with a KV cache updated in place.

MISSION.md's pattern: ``cached_prefill = cache_compile(self.prefill)``,
``cached_decode = cache_compile(self.decode)``, ``forward`` dispatching on
``x.size(1) > 1``. A greedy generation of 16 decode steps after a prefill
must give eager PyTorch's token ids, logits and KV cache, in the cold process
and again in a warm one (both methods hit, no Dynamo).
"""

from __future__ import annotations

import cache_models
import pytest

# Slow: cold and warm generation in fresh processes.
pytestmark = pytest.mark.slow

STEPS = 16


@pytest.fixture(scope="module")
def generations(tmp_path_factory):
    cache_dir = str(tmp_path_factory.mktemp("decoder") / "cache")
    cold = cache_models.run_in_subprocess(
        "generate", cache_dir=cache_dir, steps=STEPS, compiler=True
    )
    warm = cache_models.run_in_subprocess("generate", cache_dir=cache_dir, steps=STEPS)
    return cold, warm


@pytest.mark.parametrize("run", ["cold", "warm"])
def test_generation_matches_eager(generations, run):
    result = generations[0 if run == "cold" else 1]
    assert result["ids_equal"], result["ids"]
    assert len(result["ids"][0]) == 5 + 1 + STEPS  # prompt, prefill's token, one per decode
    assert result["logits_error"] <= 1e-4
    assert result["kv_error"] <= 1e-4  # the in-place KV cache updates were written back
    assert "WARNING" not in result["stderr"], result["stderr"]


def test_cold_compiles_each_method_once_and_warm_hits_both(generations):
    cold, warm = generations
    assert (cold["prefill"], cold["decode"]) == ("compiled", "compiled"), cold["stderr"]
    assert (warm["prefill"], warm["decode"]) == ("hit", "hit"), warm["stderr"]
    assert warm["entries"] == cold["entries"]
    prefill, decode = cold["entries"]
    assert "TinyDecoder_prefill_" in prefill and "TinyDecoder_decode_" in decode
    assert warm["dynamo_imported"] is False and warm["calls_captured"] == 0
    assert warm["ids"] == cold["ids"]
