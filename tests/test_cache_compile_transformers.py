"""transformers models cache and warm-start (fresh processes): no guard they need is left uncheckable.

A tiny GPT-2 built from a config (random weights, no download) traces through
transformers' own helpers, whose Dynamo guards reach function defaults, dict
keys, type dictionaries, decorators' code objects and str enums. Each must be
checkable without Dynamo, or skipped where the key already covers it; else
the method would run uncached.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

pytest.importorskip("transformers")

SCRIPT = textwrap.dedent(
    """
    import json, sys
    import torch, transformers
    import airgraph as torchair

    config = transformers.GPT2Config(
        n_layer=2, n_embd=64, n_head=4, vocab_size=100, n_positions=64,
        bos_token_id=0, eos_token_id=0,
    )

    class Model(torch.nn.Module):
        def __init__(self):
            super().__init__()
            torch.manual_seed(0)
            self.gpt = transformers.GPT2LMHeadModel(config).eval()
            options = torchair.CompilerConfig()
            options.airgraph_config.host_mode = "interpret"
            self.cached = torchair.inference.cache_compile(
                self._forward, config=options, dynamic=False, cache_dir=sys.argv[1]
            )

        def forward(self, ids):
            return self.cached(ids)

        def _forward(self, ids):
            return self.gpt(input_ids=ids).logits

    model = Model()
    ids = torch.randint(0, 100, (1, 8), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        error = float((model(ids) - model._forward(ids)).abs().max())
    print("RESULT" + json.dumps({"status": model.cached.status, "error": error}))
    """
)


def _run(cache_dir):
    env = {**os.environ, "TORCH_DEVICE_BACKEND_AUTOLOAD": "0"}
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(cache_dir)],
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
    )
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT")), None)
    assert line is not None, proc.stderr[-3000:]
    return json.loads(line[len("RESULT") :]), proc.stderr


@pytest.mark.slow
def test_gpt2_caches_and_warm_starts(tmp_path):
    cold, cold_log = _run(tmp_path / "cache")
    warm, warm_log = _run(tmp_path / "cache")
    assert cold["status"] == "compiled", cold_log[-3000:]
    assert warm["status"] == "hit", warm_log[-3000:]
    assert cold["error"] < 1e-4 and warm["error"] < 1e-4
