"""Host semantics, one module per op family; importing this fills the table."""

from airgraph_core.targets.host.ops import (  # noqa: F401
    basic,
    collectives,
    complex_ops,
    conv3d,
    creation,
    elementwise,
    index,
    masked,
    math_ops,
    matmul,
    nn,
    nonzero,
    padding,
    pooling,
    reduction,
    resize,
    sampling,
    segment,
    shape,
    symbolic,
)
