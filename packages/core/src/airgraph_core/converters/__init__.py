"""ATen → GE converters, one module per op family; importing this registers them all."""

from airgraph_core.converters import (  # noqa: F401
    assertions,
    creation,
    elementwise,
    index,
    matmul,
    nn,
    reduction,
    shape,
    symbolic,
)
