"""``nonzero``: GE's ``NonZero``, whose output size depends on the data.

The output is ``(count, rank)`` int64 indices, row-major, as ``torch.nonzero``
returns them; ``count`` is an unbacked SymInt in the FX graph and ``-1`` in
the GE graph, and later sizes derived from it are read off the ``NonZero``
output (``Shape`` + ``Gather``) like any symbolic size. The -1 dim puts the
graph on GE's dynamic-shape executor, where an op of this kind sets its output
shape at run time (not yet run on an NPU here; the host target runs it). Dynamo reaches this converter only when
``torch._dynamo.config.capture_dynamic_output_shape_ops`` is on; otherwise
it breaks the graph at ``nonzero`` and runs it eagerly. TorchAir has no
converter (it raises ``NotImplementedError``).
"""

from __future__ import annotations

import torch

from airgraph_core.converters.context import ConversionContext
from airgraph_core.converters.registry import ALL_DTYPES, register
from airgraph_core.ir.builder import TensorRef
from airgraph_core.ir.dtypes import DataType

__all__: list[str] = []

aten = torch.ops.aten


@register(aten.nonzero.default, dtypes=ALL_DTYPES - {torch.float64}, ge_ops=("NonZero",))
def nonzero(ctx: ConversionContext, x: TensorRef) -> TensorRef:
    """Indices of the non-zero elements of ``x``: ``(count, x.dim())`` int64."""
    return ctx.b.op("NonZero", x, out=ctx.out(), dtype=DataType.INT64, transpose=False)
