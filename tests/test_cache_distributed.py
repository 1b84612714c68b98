"""``cache_compile`` across ranks under ``torchrun`` (gloo on localhost), in fresh processes.

* Two ranks compile a model whose graph holds an all-reduce, with gears,
  each into its own rank folder of one key (the rank folder comes from
  ``torch.distributed.get_rank()``); a warm start hits on both without
  tracing; with one rank's entry removed, every rank compiles (they must
  run the program the same way) and the entry is written again; another
  world size is another entry. Outputs equal eager's (gloo's all-reduce) in
  every run.
* Ranks whose traced graphs would run different collectives raise
  ``RankMismatchError`` on every rank instead of hanging; a rank that never
  runs the program is reported after the timeout.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap

import pytest
import torch.distributed as dist

pytestmark = [
    pytest.mark.distributed,
    pytest.mark.skipif(
        not (dist.is_available() and dist.is_gloo_available()),
        reason="torch.distributed with the gloo backend is not available",
    ),
]

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
            y = self.linear(x)
            dist.all_reduce(y)
            return torch.relu(y) * 2


    dist.init_process_group("gloo")
    rank = dist.get_rank()
    torch.manual_seed(0)
    model = Model(sys.argv[1])
    error = 0.0
    for batch in (4, 2, 4):
        x = torch.randn(batch, 8) + rank
        if batch == 4 and error == 0.0:
            torchair.inference.set_dim_gears(x, dim_gears={0: [2, 4]})
        out = model(x)
        with torch.inference_mode():
            want = model._forward(x)  # eager, gloo's all-reduce
        error = max(error, float((out - want).abs().max()))
    traces = 0
    if "torch._dynamo" in sys.modules:
        from torch._dynamo.utils import counters
        traces = int(counters["stats"]["unique_graphs"])
    result = {
        "rank": rank,
        "status": model.cached_forward.status,
        "entry": str(model.cached_forward.entry_dir),
        "error": error,
        "traces": traces,
    }
    gathered = [None] * dist.get_world_size()
    dist.all_gather_object(gathered, result)
    if rank == 0:
        print("RESULT " + json.dumps(gathered), flush=True)
    dist.destroy_process_group()
    """
)

MISMATCH = textwrap.dedent(
    """
    import json, os, sys
    import torch
    import torch.distributed as dist
    import torch.distributed._functional_collectives as funcol
    import airgraph as torchair
    from airgraph_cache import RankMismatchError


    class RankDependent(torch.nn.Module):
        '''Traces another graph on each rank: the collectives would not meet.'''

        def __init__(self, cache_dir, case):
            super().__init__()
            config = torchair.CompilerConfig()
            config.airgraph_config.host_mode = "interpret"
            self.gather = case == "mismatch" and dist.get_rank() == 1
            self.communicate = case == "mismatch" or dist.get_rank() == 0
            self.cached_forward = torchair.inference.cache_compile(
                self._forward, config=config, cache_dir=cache_dir
            )

        def _forward(self, x):
            y = x * 2
            if self.gather:
                return funcol.all_gather_single(y, 0, dist.group.WORLD)
            if self.communicate:
                dist.all_reduce(y)
            return y


    dist.init_process_group("gloo")
    rank = dist.get_rank()
    results = {}
    for case in ("mismatch", "missing"):  # this order: both ranks post in the first case
        try:
            RankDependent(sys.argv[1], case).cached_forward(torch.ones(2, 3))
            results[case] = "ran"
        except RankMismatchError as e:
            results[case] = str(e)
    with open(os.path.join(sys.argv[2], f"rank_{rank}.json"), "w") as f:
        json.dump(results, f)
    """
)


def _torchrun(script, *args, nproc: int = 2, env_extra: dict | None = None) -> str:
    env = dict(os.environ, OMP_NUM_THREADS="1", TORCH_DEVICE_BACKEND_AUTOLOAD="0")
    env.pop("AIRGRAPH_CACHE_DIR", None)
    env.update(env_extra or {})
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            f"--nproc_per_node={nproc}",
            str(script),
            *map(str, args),
        ],
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
    )
    if proc.returncode != 0 and _teardown_abort_only(proc):
        return proc.stdout
    assert proc.returncode == 0, f"torchrun failed:\n{proc.stdout}\n{proc.stderr[-4000:]}"
    return proc.stdout


def _teardown_abort_only(proc: subprocess.CompletedProcess) -> bool:
    """Whether the only failure is gloo's abort while the interpreter exits.

    Under heavy load a rank that finished its work and destroyed its process
    group can still die in interpreter finalization with "terminate called
    without an active exception" (a gloo worker thread torn down late; a
    torch issue, pytorch/pytorch#179291). The work was done and reported by
    then: rank 0 prints RESULT only after every rank's result reached it.
    """
    return (
        "RESULT " in proc.stdout
        and "terminate called without an active exception" in proc.stderr
        # Every Python traceback is torchrun's own report of the abort, none a rank's.
        and proc.stderr.count("Traceback (most recent call last)")
        == proc.stderr.count('File "<frozen runpy>", line 198')
    )


def _results(script, cache_dir, nproc: int = 2) -> list[dict]:
    out = _torchrun(script, cache_dir, nproc=nproc)
    lines = [line for line in out.splitlines() if line.startswith("RESULT ")]
    assert lines, out
    results = sorted(json.loads(lines[-1].removeprefix("RESULT ")), key=lambda r: r["rank"])
    for r in results:
        assert r["error"] <= 1e-5, r
    return results


def _cold(script, cache_dir) -> list[str]:
    cold = _results(script, cache_dir)
    assert [r["status"] for r in cold] == ["compiled", "compiled"]
    assert [r["traces"] for r in cold] == [1, 1]
    entries = [r["entry"] for r in cold]
    assert [os.path.basename(e) for e in entries] == ["rank_0", "rank_1"]
    assert os.path.dirname(entries[0]) == os.path.dirname(entries[1])  # one key, two ranks
    for entry in entries:
        assert os.path.isfile(os.path.join(entry, "manifest.json"))
        assert os.path.isfile(os.path.join(entry, "graph.pb"))
    return entries


@pytest.mark.slow
def test_two_ranks_write_and_reuse_their_own_rank_folders(tmp_path):
    script = tmp_path / "ranked_model.py"
    script.write_text(SCRIPT)
    entries = _cold(script, tmp_path / "cache")
    warm = _results(script, tmp_path / "cache")
    assert [r["status"] for r in warm] == ["hit", "hit"]
    assert [r["entry"] for r in warm] == entries
    assert [r["traces"] for r in warm] == [0, 0]  # loaded without Dynamo


@pytest.mark.slow
def test_a_missing_rank_entry_and_another_world_size(tmp_path):
    script = tmp_path / "ranked_model.py"
    script.write_text(SCRIPT)
    cache_dir = tmp_path / "cache"
    entries = _cold(script, cache_dir)

    # Rank 1's entry is gone: rank 0 must not run its loaded program (which runs the gears
    # differently from a fresh compile) against rank 1's: both compile, rank 1's is rewritten.
    shutil.rmtree(entries[1])
    mixed = _results(script, cache_dir)
    assert [r["status"] for r in mixed] == ["compiled", "compiled"]
    assert [r["traces"] for r in mixed] == [1, 1]
    assert os.path.isfile(os.path.join(entries[1], "graph.pb"))
    assert [r["status"] for r in _results(script, cache_dir)] == ["hit", "hit"]

    # Another world size: another key (its collectives name other groups), never a hit.
    (alone,) = _results(script, cache_dir, nproc=1)
    assert alone["status"] == "compiled"
    assert os.path.dirname(alone["entry"]) != os.path.dirname(entries[0])


@pytest.mark.slow
def test_ranks_running_different_collectives_raise_instead_of_hanging(tmp_path):
    script = tmp_path / "rank_dependent.py"
    script.write_text(MISMATCH)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    _torchrun(script, tmp_path / "cache", out_dir, env_extra={"AIRGRAPH_CACHE_RANK_TIMEOUT": "3"})
    results = [json.loads((out_dir / f"rank_{r}.json").read_text()) for r in (0, 1)]
    for rank, result in enumerate(results):
        message = result["mismatch"]
        assert f"rank {rank}: the ranks would run different programs" in message
        assert "first difference, collective 0:" in message
        assert "HcomAllReduce" in message and "HcomAllGather" in message
    # Rank 1's graph has no collective: it runs; rank 0 reports it after the timeout.
    assert results[1]["missing"] == "ran"
    assert "rank 0: rank(s) 1 did not reach the first run" in results[0]["missing"]
    assert "within 3 s" in results[0]["missing"]
