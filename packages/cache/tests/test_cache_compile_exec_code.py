"""cache_compile on methods whose code was run by ``exec`` (no source file), in fresh processes.

``torch.compile`` wraps a bound method whose source file it cannot find (code
run by ``exec`` under a replaced ``__main__``, as test runners, notebooks and
embedding hosts do) in a frame of its own; the guards Dynamo recorded then
named that frame's closure (``fn``), and the method ran uncached with "a guard
cannot be checked without Dynamo". The method must be cached and hit warm.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

MODEL = textwrap.dedent(
    """
    import torch
    import airgraph as torchair

    class Model(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.linear = torch.nn.Linear(8, 8)
            config = torchair.CompilerConfig()
            config.airgraph_config.host_mode = "interpret"
            self.cached = torchair.inference.cache_compile(self._forward, config=config)

        @torch.inference_mode()
        def forward(self, x):
            return self.cached(x)

        def _forward(self, x):
            return torch.relu(self.linear(x)) * 2

    torch.manual_seed(0)
    model = Model().eval()
    x = torch.randn(2, 8)
    out = model(x)
    with torch.no_grad():
        ok = torch.allclose(out, model._forward(x), atol=1e-6)
    print(model.cached.status, ok)
    """
)

RUNNER = textwrap.dedent(
    """
    import builtins, sys, types

    def run(body):
        body()

    main = types.ModuleType("__main__")
    main.__dict__.update(__builtins__=builtins)
    sys.modules["__main__"] = main
    code = compile(sys.argv[1], "<string>", "exec")
    run(lambda: exec(code, main.__dict__))
    """
)


def _run(cache_dir) -> str:
    env = {**os.environ, "AIRGRAPH_CACHE_DIR": str(cache_dir), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "-c", RUNNER, MODEL],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "not cached" not in proc.stderr, proc.stderr[-3000:]
    return proc.stdout.strip().splitlines()[-1]


def test_a_method_run_by_exec_is_cached_and_hits_warm(tmp_path):
    assert _run(tmp_path) == "compiled True"
    assert _run(tmp_path) == "hit True"
