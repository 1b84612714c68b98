"""The scenario of ``test_cache_compile_warm_hints.py``, run in fresh processes.

The child imports this module under its fixed name ``warm_hint_scenarios`` (the
model's qualified name is part of the cache key), runs :func:`scenario` and
prints its JSON result on the last line of stdout. This file is a test
helper, not a test module (pytest does not collect it).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

import torch

from airgraph_cache import cache_compile

HERE = Path(__file__).resolve().parent


class Block(torch.nn.Module):
    """A pre-norm MLP block: parameters lifted as the compiled graph's constants."""

    def __init__(self) -> None:
        super().__init__()
        self.norm = torch.nn.LayerNorm(16)
        self.up = torch.nn.Linear(16, 32)
        self.down = torch.nn.Linear(32, 16)
        self.register_buffer("scale", torch.linspace(0.5, 1.5, 16))

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.down(torch.nn.functional.gelu(self.up(self.norm(x))))
        return torch.softmax((x + h) * self.scale, dim=-1)


def scenario(cache_dir: str, change: str = "") -> dict[str, Any]:
    """One start of the cached ``Block._forward``: how it was compiled, and its error.

    ``change`` (warm starts only): ``"config"`` changes an Inductor setting
    that enters its FX graph cache key; ``"entry"`` deletes Inductor's FX
    graph cache (its folder, ``TORCHINDUCTOR_CACHE_DIR``) first; ``"kernels"``
    deletes the compiled libraries there, not the FX graph cache.
    """
    from airgraph_core.targets.host import warm_hints

    traces = []
    compile_inductor = warm_hints.compile_inductor

    def counting(*args: Any, **kwargs: Any) -> Any:
        traces.append(1)  # the full compile: AOTAutograd's trace, then Inductor
        return compile_inductor(*args, **kwargs)

    warm_hints.compile_inductor = counting
    if change == "config":
        from torch._inductor import config

        config.max_fusion_size += 1
    elif change == "entry":
        shutil.rmtree(Path(os.environ["TORCHINDUCTOR_CACHE_DIR"]) / "fxgraph")
    elif change == "kernels":  # the entry is there, its kernels' libraries are built again
        for library in Path(os.environ["TORCHINDUCTOR_CACHE_DIR"]).rglob("*.so"):
            library.unlink()
    elif change:
        raise ValueError(f"change: {change!r}")
    torch.manual_seed(0)
    model = Block().eval()
    cached = cache_compile(model._forward, dynamic=False, cache_dir=cache_dir)
    worst = 0.0
    with torch.no_grad():
        for seed in (1, 2):
            x = torch.randn(4, 16, generator=torch.Generator().manual_seed(seed))
            worst = max(worst, float((cached(x) - model._forward(x)).abs().max()))
    return {
        "status": cached.status,
        "aot_traces": len(traces),
        "loaded": warm_hints.COUNTS["loaded"],
        "error": worst,
    }


def run(cache_dir: str, inductor_dir: str, change: str = "") -> dict[str, Any]:
    """:func:`scenario` in a fresh process whose Inductor cache folder is ``inductor_dir``."""
    import cache_models
    import fresh_python

    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); import json, warm_hint_scenarios as s; "
        "print(json.dumps(s.scenario(*sys.argv[2:])))"
    )
    # The host target's debug log says whether and why a hint was not used.
    env = {**cache_models.child_env(), "TORCHINDUCTOR_CACHE_DIR": inductor_dir}
    env["AIRGRAPH_LOG"] = "debug"
    argv = [sys.executable, "-c", code, str(HERE), cache_dir]
    proc = fresh_python.run(
        argv + ([change] if change else []),
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
        preload=fresh_python.COMPILER,
    )
    result = cache_models.parse(proc.stdout, proc.stderr, proc.returncode, f"warm hints {change}")
    result["log"] = [
        line for line in proc.stderr.splitlines() if "host: " in line or "miss" in line
    ]
    return result


if __name__ == "__main__":
    print(json.dumps(scenario(*sys.argv[1:])))
