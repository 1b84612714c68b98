"""The torch.compile backend of airgraph.

- :class:`CompilerConfig`: the typed, validated options (TorchAir's names,
  plus airgraph's own under ``airgraph_config``).
- :func:`get_npu_backend`: the backend for ``torch.compile(..., backend=...)``.
- :func:`get_compiler`: the ATen-graph compiler it uses, for custom backends.
- :class:`NpuBackend` / :class:`AtenCompiler` / :class:`CompiledGraph`: what
  those return, and the record kept of every compiled graph.
- :class:`OutOfGearError` / :class:`GearSetupError`: a call's shapes match
  no gear; the gears cannot serve a graph (see ``airgraph_gears``).
- :func:`wait_for_gears`: block until the gears compiling in the background
  (``airgraph_config.gear_compile="background"``) are compiled.

Examples:
    >>> import torch
    >>> from airgraph_dynamo import CompilerConfig, get_npu_backend
    >>> config = CompilerConfig()
    >>> config.airgraph_config.target = "host"
    >>> backend = get_npu_backend(compiler_config=config)
    >>> add = torch.compile(lambda x, y: x + y, backend=backend, fullgraph=True)
    >>> with torch.no_grad():
    ...     add(torch.ones(2), torch.ones(2))
    tensor([2., 2.])
"""

from airgraph_dynamo.backend import NpuBackend, get_compiler, get_npu_backend
from airgraph_dynamo.compiler import AtenCompiler, CompiledGraph
from airgraph_dynamo.config import CompilerConfig
from airgraph_dynamo.gear_background import wait_for_gears
from airgraph_dynamo.gear_dispatch import OutOfGearError
from airgraph_dynamo.gears import GearSetupError

__version__ = "0.1.0"

__all__ = [
    "AtenCompiler",
    "CompiledGraph",
    "CompilerConfig",
    "GearSetupError",
    "NpuBackend",
    "OutOfGearError",
    "__version__",
    "get_compiler",
    "get_npu_backend",
    "wait_for_gears",
]
