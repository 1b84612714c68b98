"""The cached method's module, however it is named and whatever its forward builds.

Each case runs a cold start and a warm start in fresh processes and compares
every call with eager, with a parameter replaced between calls:

- a method whose first parameter is not named ``self`` (``def _forward(m, x)``)
  could not fetch its module state on a warm start (every call a variant, then
  the cache gave up);
- a forward that slices its ``ModuleList`` registers modules while Dynamo
  traces it (transformers' LLaMA does). Once another cached method had
  installed the cache's module-registration hook in the process (prefill
  before decode), Dynamo traced that hook and guarded on its counter, whose
  value depends on how many modules the process registered before: a warm
  start that made another number of eager calls first missed, variant after
  variant, and the cache gave up.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import cache_models
import fresh_python
import pytest

HERE = Path(__file__).resolve().parent
#: Both the cold and the warm start in interpret mode: equal to eager up to summation order.
ATOL = 1e-5


def _start(name: str, cache_dir: Path, eager_first: int) -> dict:
    code = "import sys; sys.path.insert(0, sys.argv[1]); import cache_binding_models as m; m.main(sys.argv[2:])"
    proc = fresh_python.run(
        [sys.executable, "-c", code, str(HERE), name, str(cache_dir), str(eager_first)],
        capture_output=True,
        text=True,
        timeout=600,
        env=cache_models.child_env(),
        preload=fresh_python.COMPILER,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.slow  # fresh processes, a transformers model
@pytest.mark.parametrize("name", ["other_self_name", "sliced_layers", "transformers_llama"])
def test_cold_then_warm_hits_and_reads_replaced_parameters(name, tmp_path):
    cold = _start(name, tmp_path, eager_first=0)
    assert cold["statuses"] == ["compiled"] * 3, cold
    # Another number of eager calls before the first cached one than the cold start made.
    warm = _start(name, tmp_path, eager_first=2)
    assert warm["statuses"] == ["hit"] * 3, warm
    assert max(cold["errors"] + warm["errors"]) <= ATOL, (cold, warm)
