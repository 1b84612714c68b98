"""Uninitialised buffers: ``empty_strided``.

Inductor-style and ``torch.export`` graphs allocate buffers with
``empty_strided`` and fill them later (``fill_``, ``copy_``, a scatter).
GE tensors are dense and have no strides, so the strides are dropped; the
contents are undefined in ATen, and a ``Fill`` with 0 (as ``empty``
lowers) makes them deterministic.
"""

from __future__ import annotations

from typing import Any

import torch

from airgraph_core.converters.context import ConversionContext
from airgraph_core.converters.registry import ALL_DTYPES, register
from airgraph_core.ir.builder import TensorRef

__all__: list[str] = []

aten = torch.ops.aten


@register(aten.empty_strided.default, dtypes=ALL_DTYPES - {torch.float64}, ge_ops=("Fill",))
def empty_strided(
    ctx: ConversionContext, size: list[Any], stride: list[Any], **_: Any
) -> TensorRef:
    """A dense tensor of ``size`` (strides dropped) holding zeros."""
    dtype, shape = ctx.out()
    return ctx.b.op("Fill", ctx.int_list(list(size)), ctx.scalar(0, dtype), out=(dtype, shape))
