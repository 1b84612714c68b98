"""A warm start without ``ge_cache`` loads its host graph from Inductor's FX graph cache.

The cold start records, per host specialization, Inductor's FX graph cache key
(a warm hint, in ``program.json``); a warm start in a fresh process loads the
compiled graph by that key: no AOTAutograd trace, no Inductor passes. A hint
that does not hold (a changed Inductor setting, an Inductor cache that lost
the entry) falls back to the full compile, with the same results. Every
start runs in a fresh process (see ``warm_hint_scenarios.py``) and compares
with eager under ``cache_models.ATOL``.
"""

from __future__ import annotations

import json
from pathlib import Path

import cache_models
import pytest
import warm_hint_scenarios

from airgraph_cache.recipe import PROGRAM_FILE


@pytest.mark.slow
def test_warm_start_loads_by_hint_and_falls_back_when_it_does_not_hold(tmp_path: Path) -> None:
    cache_dir, inductor_dir = str(tmp_path / "cache"), str(tmp_path / "inductor")
    cold = warm_hint_scenarios.run(cache_dir, inductor_dir)
    assert cold["status"] == "compiled" and cold["aot_traces"] == 1
    assert cold["error"] <= cache_models.ATOL
    (program,) = (tmp_path / "cache").rglob(PROGRAM_FILE)
    hints = json.loads(program.read_text())["hints"]
    assert len(hints) == 1 and hints[0]["signature"] == []

    warm = warm_hint_scenarios.run(cache_dir, inductor_dir)
    assert warm["status"] == "hit", warm["log"]
    assert warm["aot_traces"] == 0, f"the warm start traced the host graph: {warm['log']}"
    assert warm["loaded"] == 1
    assert warm["error"] <= cache_models.ATOL

    # Libraries gone, the FX graph entry kept: loaded by the hint, the kernels built again.
    rebuilt = warm_hint_scenarios.run(cache_dir, inductor_dir, "kernels")
    assert (rebuilt["aot_traces"], rebuilt["loaded"]) == (0, 1), rebuilt["log"]
    assert rebuilt["error"] <= cache_models.ATOL

    for change in ("config", "entry"):  # "entry" last: it deletes Inductor's cache
        other = warm_hint_scenarios.run(cache_dir, inductor_dir, change)
        assert other["status"] == "hit", change
        assert (other["aot_traces"], other["loaded"]) == (1, 0), (change, other["log"])
        assert other["error"] <= cache_models.ATOL, change
