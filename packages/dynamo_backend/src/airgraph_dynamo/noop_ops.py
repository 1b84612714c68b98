"""``experimental_config.remove_noop_ops``: drop ops that return their input unchanged.

TorchAir runs Inductor's ``remove_noop_ops`` pass on the ATen graph before
lowering (on by default); so does airgraph. It removes e.g. a ``slice`` over
the whole dim, a ``repeat`` by ones, a ``constant_pad_nd`` of zeros, a
``convert_element_type`` to the same dtype or a ``view`` to the same shape,
when the result has the input's metadata, and never where that would make a
graph output alias an input differently than in eager.
"""

from __future__ import annotations

import logging

from torch.fx import GraphModule

from airgraph_dynamo import _dynamo_compat

__all__ = ["remove_noop_ops"]

log = logging.getLogger("airgraph.dynamo")


def remove_noop_ops(gm: GraphModule) -> int:
    """Remove the no-op nodes of ``gm`` in place; returns how many nodes went."""
    before = len(gm.graph.nodes)
    _dynamo_compat.inductor_remove_noop_ops(gm.graph)
    gm.graph.lint()
    gm.recompile()
    return before - len(gm.graph.nodes)
