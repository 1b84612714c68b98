"""The stale-hit matrix: each change of what the key covers gives a miss, never a stale hit.

Every case runs in its own fresh process (all cases at once): a cold run, the
same situation again in a fresh ``CachedFunction`` (it must hit, which shows
the cache works and a miss is meaningful), then the changed situation, which
must compile (miss), land in another entry, and match eager PyTorch (or,
for decompositions, the decomposition's own result). Source changes import
a rewritten module file under the same module name, so only the source
differs.
"""

from __future__ import annotations

import cache_models
import pytest

# Slow: every case runs fresh processes.
pytestmark = pytest.mark.slow

CASES = [
    "method_source",
    "helper_source",
    "config",
    "input_dtype",
    "weight_shape",
    "gears",
    "decompositions",
    "threads",
    "rank",
    "versions",
]


@pytest.fixture(scope="module")
def matrix(tmp_path_factory):
    root = tmp_path_factory.mktemp("stale")
    jobs = []
    for case in CASES:
        (root / case).mkdir()
        jobs.append(("stale", {"cache_dir": str(root / case / "cache"), "case": case}))
    return dict(zip(CASES, cache_models.run_many(jobs, compiler=True)))


@pytest.mark.parametrize("case", CASES)
def test_a_change_is_a_miss_never_a_stale_hit(matrix, case):
    result = matrix[case]
    cold, again, changed = result["cold"], result["again"], result["changed"]
    assert cold["status"] == "compiled", result["stderr"]
    assert again["status"] == "hit" and again["entry"] == cold["entry"], result["stderr"]
    assert changed["status"] == "compiled", f"{case}: {changed}"
    assert changed["entry"] != cold["entry"]
    for run in (cold, again, changed):
        assert run["error"] <= 1e-3 if case == "input_dtype" else cache_models.ATOL, (case, run)


def test_thread_count_changed_between_runs(matrix):
    result = matrix["threads"]
    assert (result["again"]["threads"], result["changed"]["threads"]) == (2, 1)


def test_rank_changes_only_the_rank_folder(matrix):
    result = matrix["rank"]
    cold, changed = (result[k]["entry"] for k in ("cold", "changed"))
    assert cold.endswith("/rank_0") and changed.endswith("/rank_1")
    assert cold.rsplit("/", 1)[0] == changed.rsplit("/", 1)[0]


# -- the guarded-world matrix: what Dynamo guarded changes between processes -----------------


@pytest.fixture(scope="module")
def guarded_world(tmp_path_factory):
    """Per case, three fresh processes in turn: cold (base world), again (must hit), changed."""
    root = tmp_path_factory.mktemp("guarded")
    cases = cache_models.GUARD_CASES
    runs = {}
    for phase, changed in (("cold", False), ("again", False), ("changed", True)):
        jobs = [
            ("guarded_world", {"cache_dir": str(root / c), "case": c, "changed": changed})
            for c in cases
        ]
        runs[phase] = dict(zip(cases, cache_models.run_many(jobs, parallel=4, compiler=True)))
    return runs


@pytest.mark.parametrize("case", cache_models.GUARD_CASES)
def test_a_changed_world_is_never_a_stale_hit(guarded_world, case):
    cold, again, changed = (guarded_world[p][case] for p in ("cold", "again", "changed"))
    assert cold["status"] == "compiled", cold["stderr"]
    assert again["status"] == "hit" and again["entry"] == cold["entry"], again["stderr"]
    assert changed["error"] <= cache_models.ATOL, f"{case}: wrong result {changed}"
    assert changed["status"] == "compiled", f"{case}: {changed['status']}"
    assert changed["entry"] != cold["entry"], f"{case}: the changed world used the cold entry"
    for run in (cold, again):
        assert run["error"] <= cache_models.ATOL, (case, run)
