"""Target selection, the host target adapter and the compiler's target fallback."""

from __future__ import annotations

import logging

import pytest
import torch

from airgraph_core import DataType, GraphBuilder
from airgraph_dynamo.backend import get_npu_backend
from airgraph_dynamo.targets import Executable, Target, select_target
from airgraph_dynamo.targets.host import HostTarget


def _erfinv_graph():
    b = GraphBuilder("erfinv")
    x = b.data(0, DataType.FLOAT, (2,))
    (y,) = b.add_op("Erfinv", [x], outputs=[x.spec])
    b.net_output([y])
    return b.graph


def test_select_host_target_with_mode(make_config):
    target = select_target(make_config("interpret"))
    assert isinstance(target, HostTarget) and target.mode == "interpret"
    assert isinstance(target, Target)


def test_host_target_rejects_bad_mode():
    with pytest.raises(ValueError, match="mode: 'jit' is not one of"):
        HostTarget("jit")


def test_host_target_lists_ge_ops_without_host_semantics():
    with pytest.raises(NotImplementedError, match="Erfinv"):
        HostTarget("interpret").compile(_erfinv_graph())


def test_host_executable_runs_and_warms_up():
    b = GraphBuilder("relu")
    x = b.data(0, DataType.FLOAT, (3,))
    (y,) = b.add_op("Relu", [x], outputs=[x.spec])
    b.net_output([y])
    exe = HostTarget("interpret").compile(b.graph)
    assert isinstance(exe, Executable)
    t = torch.tensor([-1.0, 0.0, 2.0])
    exe.warm_up([t])
    torch.testing.assert_close(exe([t])[0], torch.relu(t))


class _NoSemanticsTarget(Target):
    """A target that cannot run anything (like the host target meeting an unknown GE op)."""

    name = "broken"

    def compile(self, graph, options=None):
        raise NotImplementedError(f"cannot run {graph.name}")


@pytest.mark.parametrize("policy", ["error", "fallback"])
def test_target_failure_follows_unsupported_op_policy(policy, make_config, caplog):
    config = make_config("interpret", unsupported_op=policy)
    backend = get_npu_backend(compiler_config=config, target=_NoSemanticsTarget())
    fn = torch.compile(lambda x: x + 1, backend=backend, fullgraph=True)
    x = torch.ones(2)
    with torch.no_grad(), caplog.at_level(logging.WARNING, logger="airgraph.dynamo"):
        if policy == "error":
            with pytest.raises(Exception, match="cannot run graph_"):
                fn(x)
            return
        torch.testing.assert_close(fn(x), x + 1)
    assert backend.compiled[-1].target == "eager"
    assert backend.compiled[-1].ge_graph is not None  # lowering worked, the target did not
    assert "runs eagerly" in caplog.text
