"""Two ranks under ``torchrun`` (gloo on localhost) each write and then reuse their own rank folder.

``cache_compile`` is called without explicit ranks: the rank folder comes
from ``torch.distributed.get_rank()``. The second ``torchrun`` job, a warm
start, must hit on both ranks without tracing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest
import torch.distributed as dist

pytestmark = pytest.mark.distributed

SCRIPT = textwrap.dedent(
    """
    import json, sys
    import torch
    import torch.distributed as dist
    import airgraph as torchair


    class Model(torch.nn.Module):
        def __init__(self, cache_dir):
            super().__init__()
            config = torchair.CompilerConfig()
            config.airgraph_config.host_mode = "interpret"
            self.linear = torch.nn.Linear(8, 8)
            self.cached_forward = torchair.inference.cache_compile(
                self._forward, config=config, cache_dir=cache_dir
            )

        @torch.inference_mode()
        def forward(self, x):
            return self.cached_forward(x)

        def _forward(self, x):
            return torch.relu(self.linear(x)) * 2


    dist.init_process_group("gloo")
    rank = dist.get_rank()
    torch.manual_seed(0)
    model = Model(sys.argv[1])
    x = torch.randn(4, 8) + rank
    out = model(x)
    with torch.inference_mode():
        want = model._forward(x)
    result = {
        "rank": rank,
        "status": model.cached_forward.status,
        "entry": str(model.cached_forward.entry_dir),
        "error": float((out - want).abs().max()),
        "dynamo_imported": "torch._dynamo" in sys.modules,
    }
    gathered = [None] * dist.get_world_size()
    dist.all_gather_object(gathered, result)
    if rank == 0:
        print("RESULT " + json.dumps(gathered), flush=True)
    dist.destroy_process_group()
    """
)


def _torchrun(script, cache_dir) -> list[dict]:
    env = dict(os.environ)
    env.pop("AIRGRAPH_CACHE_DIR", None)
    env["OMP_NUM_THREADS"] = "1"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc_per_node=2",
            str(script),
            str(cache_dir),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, f"torchrun failed:\n{proc.stdout}\n{proc.stderr[-4000:]}"
    return sorted(json.loads(lines[-1].removeprefix("RESULT ")), key=lambda r: r["rank"])


@pytest.mark.skipif(
    not (dist.is_available() and dist.is_gloo_available()),
    reason="torch.distributed with the gloo backend is not available",
)
def test_two_ranks_write_and_reuse_their_own_rank_folders(tmp_path):
    script = tmp_path / "ranked_model.py"
    script.write_text(SCRIPT)
    cache_dir = tmp_path / "cache"

    cold = _torchrun(script, cache_dir)
    assert [r["status"] for r in cold] == ["compiled", "compiled"]
    entries = [r["entry"] for r in cold]
    assert [os.path.basename(e) for e in entries] == ["rank_0", "rank_1"]
    assert os.path.dirname(entries[0]) == os.path.dirname(entries[1])  # one key, two ranks
    for entry in entries:
        assert os.path.isfile(os.path.join(entry, "manifest.json"))
        assert os.path.isfile(os.path.join(entry, "graph.pb"))
    for r in cold:
        assert r["error"] <= 1e-5

    warm = _torchrun(script, cache_dir)
    assert [r["status"] for r in warm] == ["hit", "hit"]
    assert [r["entry"] for r in warm] == entries
    for r in warm:
        assert r["error"] <= 1e-5
        assert r["dynamo_imported"] is False
