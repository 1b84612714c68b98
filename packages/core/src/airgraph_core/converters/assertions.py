"""Runtime assertions Dynamo adds for unbacked or constrained sizes.

They check facts the trace assumed (e.g. an unbacked batch size is >= 0).
GE has no assertion op; the host target's specialization and GE's own shape
checks cover them, so they lower to nothing.
"""

from __future__ import annotations

from typing import Any

import torch

from airgraph_core.converters.context import ConversionContext
from airgraph_core.converters.registry import register

aten = torch.ops.aten


@register(
    aten._assert_scalar.default,
    aten.sym_constrain_range_for_size.default,
    aten.sym_constrain_range.default,
    aten._assert_tensor_metadata.default,
    dtypes=None,
)
def assertion(ctx: ConversionContext, *args: Any, **kwargs: Any) -> None:
    return None
