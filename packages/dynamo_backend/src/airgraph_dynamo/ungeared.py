"""With gears, the dims without gears are static, as TorchAir makes them.

TorchAir's documentation has users compile with ``dynamic=True`` and call
``set_dim_gears`` on some dims. Dynamo then traces every dim symbolically;
TorchAir pins each dim that has no gears to its traced size
(``guard_int``), which both makes the graph static there and adds a Dynamo
guard, so another size in such a dim recompiles instead of running a wrong
graph. :func:`specialize_ungeared_dims` does the same on the Dynamo graph's
fake inputs before AOTAutograd traces it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import torch
from torch.fx import GraphModule

from airgraph_gears import get_dim_gears

__all__ = ["specialize_ungeared_dims"]

log = logging.getLogger("airgraph.dynamo")


def specialize_ungeared_dims(gm: GraphModule, example_inputs: Sequence[Any]) -> int:
    """Pin every symbolic dim without gears to its size, when some input has gears.

    Args:
        gm: the Dynamo graph; its placeholders' ``example_value`` are the fake
            tensors Dynamo traced with.
        example_inputs: the real inputs of the first call, one per
            placeholder (the gear marks are read from them).

    Returns:
        How many dims were pinned (0 when no input has gears).
    """
    if not any(isinstance(x, torch.Tensor) and get_dim_gears(x) for x in example_inputs):
        return 0
    from torch.fx.experimental.symbolic_shapes import guard_int

    pinned = 0
    for node, real in zip(gm.graph.find_nodes(op="placeholder"), example_inputs):
        fake = node.meta.get("example_value")
        if not isinstance(fake, torch.Tensor):
            continue
        gears = get_dim_gears(real) or {}
        for dim, size in enumerate(fake.shape):
            if dim in gears or not isinstance(size, torch.SymInt):
                continue
            if size.node.expr.is_number:
                continue
            guard_int(size)
            pinned += 1
    if pinned:
        log.debug("gears: %d dynamic dim(s) without gears made static", pinned)
    return pinned
