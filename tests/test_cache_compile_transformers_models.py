"""transformers LLaMA, Qwen2, BERT and Whisper cache and warm-start (fresh processes).

Each model is built from a small config (random weights, no download) and
cached through ``cache_compile`` in one configuration of the supported
product (``dynamic``, ``ge_cache``, host mode); together the cases cover
every value of each option. The cold process must compile and publish
every call's program, the warm one must load them all ("hit": no "uncached",
no variant compiled because a recorded check failed), and both must match
eager PyTorch within ``ATOL``; in Inductor host mode each call is repeated
and the repeat must run the compiled code (see
``transformers_cache_cases.compiled_run_problems``). GPT-2 is covered by
``test_cache_compile_transformers.py``. The full product (every model x
``dynamic`` x ``ge_cache`` x host mode x gears) is ``nox -s cache-matrix``
(``tools/cache_matrix/run.py``), with the same script and checks
(``transformers_cache_cases.py``).
"""

from __future__ import annotations

import pytest

pytest.importorskip("transformers")

from transformers_cache_cases import case_id, check_case  # noqa: E402

#: (model, dynamic, ge_cache, host mode, gears). Gears with backed tracing are covered
#: by the full matrix and tests/test_cache_compile_gears.py, not here.
CASES = [
    ("llama", False, False, "interpret", False),
    ("qwen2", True, False, "interpret", False),
    ("bert", True, True, "inductor", False),
    ("whisper", False, False, "interpret", False),
]


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES, ids=[case_id(c) for c in CASES])
def test_transformers_model_caches_and_warm_starts(tmp_path, case):
    outcome = check_case(case, tmp_path / "cache", forked=True)
    logs = [s.log for s in (outcome.cold, outcome.warm) if s is not None]
    assert not outcome.problems, (outcome.problems, logs)
