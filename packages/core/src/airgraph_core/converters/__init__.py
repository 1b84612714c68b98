"""ATen → GE converters, one module per op family.

The families register themselves on import. :func:`load_all` imports them;
the registry calls it on first lookup, so importing ``airgraph_core`` (e.g.
for a warm start of a cached program) does not load the converters nor the
symbolic-shape machinery they use.
"""

import importlib

FAMILIES = (
    "assertions",
    "collectives",
    "complex_ops",
    "creation",
    "distance",
    "embedding_bag",
    "fft",
    "elementwise",
    "index",
    "masked",
    "math_ops",
    "matmul",
    "nn",
    "nonzero",
    "padding",
    "pooling",
    "reduction",
    "resample",
    "sampling",
    "scatter_reduce",
    "scopes",
    "shape",
    "strided",
    "symbolic",
    "symbolic_math",
    "uninitialized",
    "upsample",
)


def load_all() -> None:
    """Import every converter family (each registers its converters)."""
    for family in FAMILIES:
        importlib.import_module(f"airgraph_core.converters.{family}")
