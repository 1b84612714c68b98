"""The compile pipeline: named steps in order, config-selected, user FX passes where TorchAir runs them."""

from __future__ import annotations

import os
import sys

import fresh_python
import pytest
import torch

from airgraph_dynamo import CompilerConfig, get_npu_backend
from airgraph_dynamo.pipeline import STEPS, describe_passes, passes


def test_passes_lists_every_step_in_order():
    assert passes() == [s.name for s in STEPS]
    assert passes().index("post_grad_custom_pre_pass") < passes().index("lower")
    assert passes().index("post_grad_custom_post_pass") < passes().index("lower")
    assert passes()[-1] == "compile_target"


def test_config_selects_the_steps(tmp_path):
    config = CompilerConfig()
    default = passes(config)
    assert "freeze_parameters" not in default and "dump_graph" not in default
    assert "post_grad_custom_pre_pass" not in default
    config.experimental_config.frozen_parameter = True
    config.debug.graph_dump.type = "txt"
    config.post_grad_custom_pre_pass = lambda gm, inputs, cfg: None
    chosen = passes(config)
    assert {"freeze_parameters", "dump_graph", "post_grad_custom_pre_pass"} <= set(chosen)
    lines = describe_passes(CompilerConfig()).splitlines()
    assert lines[passes().index("freeze_parameters")].startswith("-")  # skipped by default
    assert lines[passes().index("lower")].startswith(" ")
    assert lines[passes().index("remove_noop_ops")].startswith(" ")  # on by default, as TorchAir


def test_passes_rejects_other_configs():
    with pytest.raises(TypeError, match="config"):
        passes({"mode": "max-autotune"})


def _add_to_sub(gm, example_inputs, config):
    """A user pass in TorchAir's signature: rewrite every aten.add.Tensor to aten.sub.Tensor."""
    assert isinstance(config, CompilerConfig) and len(example_inputs) == 2
    for node in gm.graph.nodes:
        if node.target is torch.ops.aten.add.Tensor:
            node.target = torch.ops.aten.sub.Tensor


@pytest.mark.parametrize("which", ["post_grad_custom_pre_pass", "post_grad_custom_post_pass"])
def test_user_fx_passes_run_before_lowering(which, make_config):
    config = make_config()
    setattr(config, which, _add_to_sub)
    backend = get_npu_backend(compiler_config=config)
    fn = torch.compile(lambda x, y: x + y, backend=backend, fullgraph=True)
    x, y = torch.randn(3), torch.randn(3)
    with torch.no_grad():
        torch.testing.assert_close(fn(x, y), x - y)
    record = backend.compiled[-1]
    assert which in record.timings
    assert "Sub" in record.ge_graph.op_types() and "Add" not in record.ge_graph.op_types()


def test_each_step_that_ran_is_timed(make_config):
    backend = get_npu_backend(compiler_config=make_config())
    with torch.no_grad():
        torch.compile(lambda x: x * 2, backend=backend, fullgraph=True)(torch.ones(2))
    record = backend.compiled[-1]
    assert list(record.timings) == passes(backend.config)
    assert all(t >= 0 for t in record.timings.values())


@pytest.mark.slow
def test_airgraph_log_info_reports_the_compile_without_code():
    script = (
        "import torch, airgraph as torchair\n"
        "f = torch.compile(lambda x: x + 1, backend=torchair.get_npu_backend(), fullgraph=True)\n"
        "f(torch.ones(2))\n"
    )
    env = {**os.environ, "AIRGRAPH_LOG": "info", "TORCH_DEVICE_BACKEND_AUTOLOAD": "0"}
    proc = fresh_python.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        preload=fresh_python.COMPILER,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    line = next(ln for ln in proc.stderr.splitlines() if "compiled graph_0" in ln)
    assert "ATen nodes" in line and "GE ops" in line and "steps: " in line and "lower " in line


def test_docs_page_examples_run():
    """The python examples of docs/concepts/pipeline.md, run as written."""
    import re
    from pathlib import Path

    pytest.importorskip("airgraph")
    page = Path(__file__).resolve().parents[3] / "docs" / "concepts" / "pipeline.md"
    if not page.exists():
        pytest.skip(f"docs page not found at {page} (not running from a checkout)")
    blocks = re.findall(r"```python\n(.*?)```", page.read_text(), flags=re.S)
    assert len(blocks) == 2
    for block in blocks:
        torch._dynamo.reset()
        exec(compile(block, str(page), "exec"), {"__name__": "pipeline_example"})
