"""Host semantics of GE's complex ops: Complex, Real, Imag.

``Complex`` joins real and imaginary parts (broadcasting them) into
``Tout`` (complex64 by default); ``Real``/``Imag`` take them apart into
``Tout`` (float32 by default). Arithmetic on complex tensors (Mul, Add...)
is the elementwise table's, which torch computes for complex too.
"""

from __future__ import annotations

from typing import Any

import torch

from airgraph_core.ir.dtypes import DataType, to_torch
from airgraph_core.targets.host.semantics import host_op


@host_op("Complex")
def complex_(inputs: list[Any], attrs: dict[str, Any]) -> torch.Tensor:
    real, imag = torch.broadcast_tensors(*inputs)
    out = torch.complex(real.float(), imag.float())
    return out.to(to_torch(attrs.get("Tout", DataType.COMPLEX64)))


def _part(fn: Any) -> Any:
    def semantics(inputs: list[Any], attrs: dict[str, Any]) -> torch.Tensor:
        return fn(inputs[0]).to(to_torch(attrs.get("Tout", DataType.FLOAT)), copy=True)

    return semantics


host_op("Real")(_part(torch.real))
host_op("Imag")(_part(torch.imag))
