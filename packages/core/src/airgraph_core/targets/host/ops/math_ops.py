"""Host semantics of GE math ops: trigonometric and hyperbolic functions, Round,
Trunc, Mod (C fmod), Atan2 and BitwiseXor.

``Round`` rounds half to even, as GE and torch.round do; ``Mod`` keeps the
dividend's sign (``FloorMod``, in the elementwise family, the divisor's).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from airgraph_core.targets.host.semantics import host_op

_TABLE: dict[str, Callable[..., torch.Tensor]] = {
    "Tan": torch.tan,
    "Sinh": torch.sinh,
    "Cosh": torch.cosh,
    "Asin": torch.asin,
    "Acos": torch.acos,
    "Atan": torch.atan,
    "Asinh": torch.asinh,
    "Acosh": torch.acosh,
    "Atanh": torch.atanh,
    "Atan2": torch.atan2,
    "Round": torch.round,
    "Trunc": torch.trunc,
    "Mod": torch.fmod,
    "BitwiseXor": torch.bitwise_xor,
}


def _register(op_type: str, fn: Callable[..., torch.Tensor]) -> None:
    def run(inputs: list[Any], attrs: dict[str, Any]) -> torch.Tensor:
        return fn(*inputs)

    run.__name__ = f"host_{op_type}"
    host_op(op_type)(run)


for _op_type, _fn in _TABLE.items():
    _register(_op_type, _fn)
