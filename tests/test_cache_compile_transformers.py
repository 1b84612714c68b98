"""transformers models cache and warm-start (fresh processes): no guard they need is left uncheckable.

A tiny GPT-2 built from a config (random weights, no download) traces through
transformers' own helpers, whose Dynamo guards reach function defaults, dict
keys, type dictionaries, decorators' code objects and str enums. Each must be
checkable without Dynamo, or skipped where the key already covers it; else
the method would run uncached. The script and checks are shared with
``test_cache_compile_transformers_models.py`` (``transformers_cache_cases.py``);
the full option product is ``nox -s cache-matrix``.
"""

from __future__ import annotations

import pytest

pytest.importorskip("transformers")

from transformers_cache_cases import check_case  # noqa: E402


@pytest.mark.slow
def test_gpt2_caches_and_warm_starts(tmp_path):
    outcome = check_case(
        ("gpt2", False, False, "interpret", False), tmp_path / "cache", forked=True
    )
    logs = [s.log for s in (outcome.cold, outcome.warm) if s is not None]
    assert not outcome.problems, (outcome.problems, logs)
