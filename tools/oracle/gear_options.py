"""Compare airgraph's gear GE options with TorchAir's own option generator.

For each scenario (inputs' shapes and ``set_dim_gears`` specs, a merge
policy), airgraph's ``GearPlan.ge_options`` and TorchAir's
``generate_dynamic_dims_option`` (loaded from the ``torch_npu`` wheel by
``shared/tools/torchair_oracle/oracle.py``) build ``ge.inputShape``,
``ge.dynamicDims`` and ``ge.dynamicNodeType`` for the same ``Data`` names.

``ge.inputShape`` and ``ge.dynamicNodeType`` must be equal strings.
``ge.dynamicDims`` is compared as a set of rows: TorchAir deduplicates the
combinations through a Python ``set``, so its row order is arbitrary (it
changes with the hash seed), and GE matches an input's shape against the
rows, so it takes them as a set; airgraph writes them sorted. Each row's
values must be in the same order (by input name as a string, then dim).

Usage::

    python tools/oracle/gear_options.py      # exit code 1 when a scenario differs
"""

from __future__ import annotations

import os
import sys
import types
from pathlib import Path
from typing import Any

os.environ.setdefault("TORCH_DEVICE_BACKEND_AUTOLOAD", "0")

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

#: (name, Data names, shapes (-1 at geared dims), gear specs, policy)
SCENARIOS: list[tuple[str, list[str], list[tuple[int, ...]], list[dict | None], str]] = [
    ("zip, two inputs", ["arg0_1", "arg1_1"], [(-1, 2), (-1, 2)], [{0: [2, 4]}, {0: [2, 4]}], "zip"),
    ("product, two inputs", ["arg0_1", "arg1_1"], [(-1, 8), (-1, 8)], [{0: [4, 8]}, {0: [8, 12]}],
     "product"),
    ("two dims of one input, zip", ["arg0_1"], [(-1, -1)], [{0: [1, 2], 1: [10, 20]}], "zip"),
    ("two dims of one input, product", ["arg0_1"], [(-1, -1)], [{0: [1, 2, 4], 1: [10, 20]}],
     "product"),
    ("repeated gears (deduplicated)", ["arg0_1", "arg1_1"], [(-1,), (-1,)],
     [{0: [2, 2, 4]}, {0: [8, 8, 16]}], "zip"),
    ("product with repeats", ["arg0_1", "arg1_1"], [(-1, 4), (-1,)], [{0: [1, 2]}, {0: [3, 3]}],
     "product"),
    ("names sorted as strings", ["arg10_1", "arg2_1", "arg0_1"], [(-1, 16), (-1, -1), (3,)],
     [{0: [1, 2]}, {0: [8, 16], 1: [4, 5]}, None], "zip"),
    ("an input without gears", ["x", "y"], [(-1, 4), (2, 4)], [{0: [2, 6]}, None], "zip"),
]  # fmt: skip


def _airgraph(names: list[str], shapes: list[tuple[int, ...]], gears: list, policy: str) -> dict:
    from airgraph_gears import GearPlan

    return GearPlan(shapes, gears, policy).ge_options(names)


def _torchair_generator() -> Any:
    from compare import _oracle_dir

    sys.path.insert(0, str(_oracle_dir()))
    import oracle  # the dev tool in shared/, never imported by the packages

    oracle.load_torchair()
    from torchair.inference._gear_utils import generate_dynamic_dims_option

    def generate(names: list[str], shapes: list[tuple[int, ...]], gears: list, policy: str) -> dict:
        info = {
            name: types.SimpleNamespace(shape=list(shape), dim_gears=dict(spec or {}))
            for name, shape, spec in zip(names, shapes, gears)
        }
        return generate_dynamic_dims_option(info, policy)

    return generate


def compare(ours: dict, theirs: dict) -> list[str]:
    """The differences between two gear option dicts (empty when they agree)."""
    diffs = []
    for key in sorted(set(ours) | set(theirs)):
        a, b = ours.get(key), theirs.get(key)
        if key == "ge.dynamicDims" and a is not None and b is not None:
            rows_a, rows_b = a.split(";"), b.split(";")
            if sorted(rows_a) != sorted(rows_b) or len(set(rows_a)) != len(rows_a):
                diffs.append(f"{key}: {a!r} vs TorchAir {b!r} (as sets of rows)")
        elif a != b:
            diffs.append(f"{key}: {a!r} vs TorchAir {b!r}")
    return diffs


def main() -> int:
    generate = _torchair_generator()
    failed = 0
    for name, names, shapes, gears, policy in SCENARIOS:
        diffs = compare(
            _airgraph(names, shapes, gears, policy), generate(names, shapes, gears, policy)
        )
        print(f"[{'identical' if not diffs else 'differs'}] gears: {name}")
        for line in diffs:
            print(f"    {line}")
        failed += bool(diffs)
    print(f"{len(SCENARIOS)} gear option scenarios, {failed} differ")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
