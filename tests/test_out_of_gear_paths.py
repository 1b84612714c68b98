"""Out-of-gear calls behave the same through the backend, a cold cache_compile and a warm one.

One script serves every ``airgraph_config.out_of_gear`` policy x in-gear and
out-of-gear shapes, in three fresh processes: ``torch.compile`` with the
airgraph backend, ``cache_compile`` compiling (cold), and ``cache_compile``
loading those entries (warm). Each case's outcome (values vs eager, the
error's type and message, and whether the call was padded or fell back)
must be the same in all three.
"""

from __future__ import annotations

import json
import sys
import textwrap

import fresh_python
import pytest

# Slow: cold and warm starts in fresh processes.
pytestmark = pytest.mark.slow

POLICIES = ("error", "pad", "fallback")
GEARS = [2, 4, 8]
# In-gear batches, then out-of-gear ones: 3 and 5 pad to 4 and 8, 9 exceeds every gear.
BATCHES = [4, 2, 3, 5, 9]

SCRIPT = textwrap.dedent(
    """
    import json, logging, sys
    import torch
    import airgraph as torchair

    mode, cache_dir, gears, batches = sys.argv[1], sys.argv[2], *map(json.loads, sys.argv[3:])
    seen = []

    class Seen(logging.Handler):
        def emit(self, record):
            text = record.getMessage()
            if "padded" in text:
                seen.append("pad")
            elif "eagerly in PyTorch" in text:
                seen.append("fallback")

    logger = logging.getLogger("airgraph")
    logger.addHandler(Seen())
    logger.setLevel(logging.DEBUG)

    class Model(torch.nn.Module):
        def __init__(self, policy):
            super().__init__()
            torch.manual_seed(0)
            self.lin = torch.nn.Linear(4, 4)
            config = torchair.CompilerConfig()
            config.airgraph_config.host_mode = "interpret"
            config.airgraph_config.out_of_gear = policy
            if mode == "backend":
                backend = torchair.get_npu_backend(compiler_config=config)
                self.run = torch.compile(self.forward, backend=backend, fullgraph=True)
            else:
                self.run = torchair.inference.cache_compile(
                    self.forward, config=config, cache_dir=f"{cache_dir}/{policy}"
                )

        def forward(self, x, y):
            # A tensor output cut back on every dim, one reduced over the geared dim's
            # rows, and one whose length comes from the geared size.
            h = torch.relu(self.lin(x)) * 2 + y
            return h, h.sum(-1), torch.arange(x.shape[0]) * 3

    results = {}
    y = torch.randn(4)
    for policy in ("error", "pad", "fallback"):
        model = Model(policy)
        outcomes = []
        with torch.no_grad():
            for batch in batches:
                x = torch.randn(batch, 4)
                if batch == batches[0]:  # the first call's marks declare the gears
                    torchair.inference.set_dim_gears(x, dim_gears={0: gears})
                seen.clear()
                try:
                    got = model.run(x, y)
                except Exception as e:
                    outcomes.append([type(e).__name__, str(e), sorted(set(seen))])
                    continue
                want = model.forward(x, y)
                err = max(float((g.double() - w.double()).abs().max()) for g, w in zip(got, want))
                shapes = [list(g.shape) for g in got]
                if [list(w.shape) for w in want] != shapes:
                    err = float("inf")
                outcomes.append(["ok", err, sorted(set(seen))])
        results[policy] = {
            "outcomes": outcomes,
            "status": getattr(model.run, "status", None),
        }
    print(json.dumps(results))
    """
)


def _run(script, mode, cache_dir):
    out = fresh_python.run(
        [sys.executable, str(script), mode, str(cache_dir), json.dumps(GEARS), json.dumps(BATCHES)],
        capture_output=True,
        text=True,
        timeout=300,
        preload=fresh_python.COMPILER,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("out_of_gear")
    script = tmp / "out_of_gear.py"
    script.write_text(SCRIPT)
    backend = _run(script, "backend", tmp / "cache")
    cold = _run(script, "cache", tmp / "cache")
    warm = _run(script, "cache", tmp / "cache")
    return {"backend": backend, "cold": cold, "warm": warm}


# What each policy does per batch of BATCHES: "ok" with the path taken, or the error.
EXPECTED = {
    "error": [("ok", []), ("ok", []), "no gear", "no gear", "no gear"],
    "pad": [("ok", []), ("ok", []), ("ok", ["pad"]), ("ok", ["pad"]), "large enough"],
    "fallback": [
        ("ok", []),
        ("ok", []),
        ("ok", ["fallback"]),
        ("ok", ["fallback"]),
        ("ok", ["fallback"]),
    ],
}


@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize("path", ["backend", "cold", "warm"])
def test_out_of_gear_outcome(runs, path, policy):
    result = runs[path][policy]
    assert result["status"] == {"backend": None, "cold": "compiled", "warm": "hit"}[path]
    for batch, outcome, expected in zip(BATCHES, result["outcomes"], EXPECTED[policy]):
        if isinstance(expected, str):
            assert outcome[0] == "OutOfGearError", (batch, outcome)
            assert expected in outcome[1] and "(8, 4)" in outcome[1], (batch, outcome)
        else:
            assert outcome[0] == "ok", (batch, outcome)
            assert outcome[1] < 1e-5, (batch, outcome)  # float32 vs eager
            assert outcome[2] == expected[1], (batch, outcome)


@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize("path", ["cold", "warm"])
def test_cache_matches_backend(runs, path, policy):
    # Same error types and messages, same paths; values compared vs eager above.
    def shape(outcomes):
        return [o if o[0] != "ok" else ["ok", o[2]] for o in outcomes]

    assert shape(runs[path][policy]["outcomes"]) == shape(runs["backend"][policy]["outcomes"])
