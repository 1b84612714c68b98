"""Host semantics, one module per op family; importing this fills the table."""

from airgraph_core.targets.host.ops import basic, elementwise  # noqa: F401
