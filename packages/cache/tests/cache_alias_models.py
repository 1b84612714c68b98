"""A model whose cached method reaches a float through Dynamo's alias of another module.

With ``dynamic=True`` Dynamo makes ``math.pi`` read by
:func:`cache_alias_helper.scale_by_pi` a graph input, whose source is
``G['__import_cache_alias_helper'].math.pi``: the warm start must find that
module itself. Run as a child (:func:`main`) for warm starts; the module has
a fixed name so the model's qualified name (part of the key) is the same in
every process.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import cache_alias_helper
import torch

from airgraph_cache import cache_compile
from airgraph_dynamo import CompilerConfig


class AliasModel(torch.nn.Module):
    def __init__(self, cache_dir: str) -> None:
        super().__init__()
        config = CompilerConfig()
        config.airgraph_config.host_mode = "interpret"
        self.cached = cache_compile(self._forward, cache_dir=cache_dir, config=config, dynamic=True)

    def _forward(self, x):
        return cache_alias_helper.scale_by_pi(x) + 1.0


def run(cache_dir: str) -> dict[str, Any]:
    """Two calls of two batch sizes: statuses, errors against eager, the input paths."""
    model = AliasModel(cache_dir)
    statuses, errors = [], []
    with torch.inference_mode():
        for batch in (2, 3):
            x = torch.randn(batch, 4, generator=torch.Generator().manual_seed(batch))
            errors.append(float((model.cached(x) - model._forward(x)).abs().max()))
            statuses.append(model.cached.status)
    program = model.cached._program
    paths = program.binding.paths if program is not None else []
    return {"statuses": statuses, "errors": errors, "paths": paths}


def main(argv: list[str]) -> None:
    """Child process: ``[cache_dir]``; prints :func:`run`'s result as one JSON line."""
    print(json.dumps(run(argv[0])))


if __name__ == "__main__":
    main(sys.argv[1:])
