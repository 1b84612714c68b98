"""``import airgraph as torchair`` exposes TorchAir's API and runs MISSION's gears example."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

import airgraph as torchair


def test_torchair_names_resolve():
    import airgraph_dynamo
    import airgraph_gears

    assert torchair.CompilerConfig is airgraph_dynamo.CompilerConfig
    assert torchair.get_npu_backend is airgraph_dynamo.get_npu_backend
    assert torchair.get_compiler is airgraph_dynamo.get_compiler
    assert torchair.inference.set_dim_gears is airgraph_gears.set_dim_gears


def test_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        torchair.nope  # noqa: B018
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        torchair.inference.nope  # noqa: B018


def test_import_airgraph_does_not_import_dynamo():
    code = "import sys, airgraph; print('torch._dynamo' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_mission_example_static_shapes():
    class Model(torch.nn.Module):
        def forward(self, x1, x2):
            return x1 + x2

    config = torchair.CompilerConfig()
    config.airgraph_config.host_mode = "interpret"
    npu_backend = torchair.get_npu_backend(compiler_config=config)
    model = torch.compile(Model(), fullgraph=True, backend=npu_backend)
    x = torch.ones(2, 2)
    torch.testing.assert_close(model(x, x), x + x)
    assert len(npu_backend.graphs) == 1
