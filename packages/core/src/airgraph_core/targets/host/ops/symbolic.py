"""Host semantics of the GE ops that symbolic-size arithmetic emits.

``sym_size`` arithmetic (``s0 // 2``, ``sym_max``, ``s0 == 1``...) lowers
to ordinary GE elementwise ops on rank-0 int64 tensors. Their semantics
belong to the elementwise table; the entries below are registered only for
op types that table does not define, so the host target can fold symbolic
sizes whatever the state of the elementwise family. This module is imported
after the elementwise one (see ``ops/__init__.py``).
"""

from __future__ import annotations

from typing import Any

import torch

from airgraph_core.targets.host.semantics import HOST_OPS, host_op

_SCALAR_OPS = {
    "Add": torch.add,
    "Sub": torch.sub,
    "Mul": torch.mul,
    "FloorDiv": torch.floor_divide,
    "FloorMod": torch.remainder,
    "RealDiv": torch.true_divide,
    "Maximum": torch.maximum,
    "Minimum": torch.minimum,
    "Equal": torch.eq,
    "NotEqual": torch.ne,
    "Less": torch.lt,
    "LessEqual": torch.le,
    "Greater": torch.gt,
    "GreaterEqual": torch.ge,
}


def _binary(fn: Any) -> Any:
    def semantics(inputs: list[Any], attrs: dict[str, Any]) -> torch.Tensor:
        return fn(inputs[0], inputs[1])

    return semantics


def _neg(inputs: list[Any], attrs: dict[str, Any]) -> torch.Tensor:
    return torch.neg(inputs[0])


for _op_type, _fn in _SCALAR_OPS.items():
    if _op_type not in HOST_OPS:
        host_op(_op_type)(_binary(_fn))
if "Neg" not in HOST_OPS:
    host_op("Neg")(_neg)
