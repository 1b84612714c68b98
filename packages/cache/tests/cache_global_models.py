"""A model whose cached method reads module globals of each kind (test helper, not collected).

``test_cache_compile_globals`` rebinds these globals between calls, in the test's
process and in fresh ones (:func:`main`), and compares every call with eager PyTorch.
The module has a fixed name so the model's qualified name, part of the cache key,
is the same in every process.
"""

from __future__ import annotations

import enum
import json
import sys
from typing import Any

import torch

from airgraph_cache import cache_compile
from airgraph_dynamo import CompilerConfig


class Mode(enum.Enum):
    PLAIN = "plain"
    ABS = "abs"


def _double(x):
    return x * 2.0


def _negate(x):
    return -x


N = 3
SCALE = 0.5
NAME = "a"
FLAG = False
SIZES = (1, 2)
EXTRA = None
HELPER = _double
MODE = Mode.PLAIN
TABLE = {"shift": 1}

#: The value each global has when this module is imported.
DEFAULTS = {
    "N": N,
    "SCALE": SCALE,
    "NAME": NAME,
    "FLAG": FLAG,
    "SIZES": SIZES,
    "EXTRA": EXTRA,
    "HELPER": HELPER,
    "MODE": MODE,
    "TABLE": TABLE,
    "Globals.FACTOR": 1,  # a class attribute the method reads through ``self``
}

#: (case, global, another value); the first call sees the defaults above.
CHANGES = [
    ("int_value", "N", 5),
    ("int_branch", "N", 2),
    ("float", "SCALE", 2.0),
    ("str", "NAME", "b"),
    ("bool", "FLAG", True),
    ("tuple_item", "SIZES", (1, 7)),
    ("tuple_length", "SIZES", (1, 2, 4)),
    ("none_to_tensor", "EXTRA", "tensor"),
    ("function_rebound", "HELPER", _negate),
    ("enum", "MODE", Mode.ABS),
    ("dict_value", "TABLE", {"shift": 4}),
    ("class_attribute", "Globals.FACTOR", 4),
]


def other_value(case: str) -> Any:
    """The changed value of ``case`` (a tensor is built here: JSON cannot carry one)."""
    value = {c: v for c, _, v in CHANGES}[case]
    if value == "tensor":
        return torch.full((4,), 0.25)
    return value


class Globals(torch.nn.Module):
    """Reads every global above in its cached method, and a class attribute."""

    FACTOR = 1

    def __init__(self, cache_dir: str, dynamic: bool = True) -> None:
        super().__init__()
        config = CompilerConfig()
        config.airgraph_config.host_mode = "interpret"
        self.cached = cache_compile(
            self._forward, cache_dir=cache_dir, config=config, dynamic=dynamic
        )

    def _forward(self, x):
        h = HELPER(x) * SCALE + SIZES[-1] + len(SIZES) + TABLE["shift"] + self.FACTOR
        if N > 2:
            h = h + N
        if FLAG:
            h = -h
        if NAME == "b":
            h = h * 3.0
        if MODE is Mode.ABS:
            h = h.abs()
        if EXTRA is not None:
            h = h + EXTRA
        return h


def run_calls(model: Globals, steps: list[tuple[str, Any]]) -> list[float]:
    """Set each global, call the cached method; the largest error against eager per call."""
    x = torch.randn(2, 4, generator=torch.Generator().manual_seed(9))
    errors = []
    for name, value in steps:
        _set(name, value)
        with torch.inference_mode():
            got = model.cached(x)
            want = model._forward(x)
        errors.append(float((got - want).abs().max()) if got.shape == want.shape else float("inf"))
    return errors


def _set(name: str, value: Any) -> None:
    """Rebind a global of this module, or a class attribute (``"Globals.FACTOR"``)."""
    owner, _, attr = name.rpartition(".")
    if owner:
        setattr(globals()[owner], attr, value)
    else:
        globals()[name] = value


def reset() -> None:
    """Every global (and class attribute) back to its value at import."""
    for name, value in DEFAULTS.items():
        _set(name, value)


def run_case(case: str, cache_dir: str, first: str, dynamic: bool = True) -> dict[str, Any]:
    """Build a model with the global of ``case`` at its default (``first="default"``) or
    other value, then alternate the two values twice; errors, status and program count."""
    name = {c: g for c, g, _ in CHANGES}[case]
    values = [DEFAULTS[name], other_value(case)]
    if first != "default":
        values.reverse()
    _set(name, values[0])
    try:
        model = Globals(cache_dir, dynamic)
        errors = run_calls(model, [(name, v) for v in (*values, *values)])
    finally:
        reset()
    cached = model.cached
    return {"errors": errors, "status": cached.status, "programs": len(cached._variants)}


def main(argv: list[str]) -> None:
    """Child process: ``[cache_dir, first]``: :func:`run_case` for every case, in one JSON line."""
    cache_dir, first = argv
    print(json.dumps({case: run_case(case, cache_dir, first) for case, _, _ in CHANGES}))


if __name__ == "__main__":
    main(sys.argv[1:])
