"""ATen → GE converters, one module per op family; importing this registers them all."""

from airgraph_core.converters import elementwise  # noqa: F401
