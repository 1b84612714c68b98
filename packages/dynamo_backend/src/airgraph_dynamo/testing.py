"""Test helpers for airgraph-dynamo: the NPU target against a fake of its binding.

:func:`make_fake_npu_binding` (from :mod:`airgraph_core.targets.fake_npu`)
stands in for torch_npu's ``_torchair`` module where no NPU is (this
machine, CI): it checks the exact call contract the NPU target relies on and
runs the graph on the host target. :func:`fake_npu_backend` is a
``torch.compile`` backend on it.

Examples:
    >>> import torch
    >>> from airgraph_dynamo.testing import fake_npu_backend
    >>> backend = fake_npu_backend()
    >>> fn = torch.compile(lambda x: x * 2, backend=backend, fullgraph=True)
    >>> with torch.no_grad():
    ...     fn(torch.ones(2))
    tensor([2., 2.])
"""

from __future__ import annotations

import types

from airgraph_core.targets import NpuTarget
from airgraph_core.targets.fake_npu import make_fake_npu_binding
from airgraph_dynamo.backend import NpuBackend, get_npu_backend
from airgraph_dynamo.config import CompilerConfig

__all__ = ["fake_npu_backend", "make_fake_npu_binding"]


def fake_npu_backend(
    compiler_config: CompilerConfig | None = None,
    *,
    binding: types.SimpleNamespace | None = None,
    device_id: int = 0,
) -> NpuBackend:
    """A ``torch.compile`` backend whose target is the NPU target on a fake binding.

    Args:
        compiler_config: the options; ``None`` for the defaults.
        binding: the fake (a new :func:`make_fake_npu_binding` by default).
        device_id: the device id passed to GE.

    Returns:
        The backend; ``backend.compiler.target.binding`` is the fake.
    """
    target = NpuTarget(binding=binding or make_fake_npu_binding(), device_id=device_id)
    return get_npu_backend(compiler_config=compiler_config, target=target)
