"""The target conformance suite: every registered target, and the docs' toy target, must pass.

Each target is built from ``SETUPS`` (options and the device of the test
tensors) or, for a target not listed there, from ``from_options()`` with
tensors on its ``capabilities.device``. The NPU target runs against the
contract fake of torch_npu's GE binding (and on a real NPU where one is).
The graphs are tiny and built directly, so the suite runs in milliseconds
per target (host packaging of artifacts, which compiles C++, is slow-marked).
"""

from __future__ import annotations

import re
import sys
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

from airgraph_core import DataType, GeGraph, GraphBuilder, deserialize, serialize
from airgraph_core.ir.graph import Attr, AttrKind
from airgraph_core.targets import (
    TARGETS,
    Artifact,
    Executable,
    Target,
    TargetCapabilities,
    TargetUnavailableError,
    npu_available,
    select_target,
    target_class,
    target_names,
)
from airgraph_core.targets.fake_npu import make_fake_npu_binding

PAGE = Path(__file__).resolve().parents[3] / "docs" / "development" / "adding-a-target.md"


class Setup:
    """How one target runs here: its options and where the test tensors live."""

    def __init__(
        self,
        options: Callable[[], dict[str, Any]] = dict,
        device: str | None = None,
        marks: tuple = (),
        slow_artifacts: bool = False,
    ) -> None:
        self.options = options
        self.device = device
        self.marks = marks
        self.slow_artifacts = slow_artifacts


_real_npu = (
    pytest.mark.npu,
    pytest.mark.skipif(not npu_available(), reason="needs torch_npu and an Ascend NPU"),
)

#: Settings per registered target name; a target missing here runs with the defaults.
SETUPS: dict[str, dict[str, Setup]] = {
    "host": {
        "host-interpret": Setup(lambda: {"host_mode": "interpret"}, slow_artifacts=True),
        "host-inductor": Setup(lambda: {"host_mode": "inductor"}, marks=(pytest.mark.slow,)),
    },
    "npu": {
        "npu-fake": Setup(lambda: {"binding": make_fake_npu_binding(), "device_id": 0}, "cpu"),
        "npu-real": Setup(marks=_real_npu),
    },
}


def _toy_module(monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    """The toy target of docs/development/adding-a-target.md, exactly as the page shows it."""
    if not PAGE.exists():
        pytest.skip(f"docs page not found at {PAGE} (not running from a checkout)")
    blocks = re.findall(r'```python title="toy_target.py"\n(.*?)```', PAGE.read_text(), re.S)
    assert len(blocks) == 1, "the page shows one toy_target.py block"
    module = types.ModuleType("toy_target")
    # Registered as a module, as it would be in the package (typing looks classes up by module).
    monkeypatch.setitem(sys.modules, "toy_target", module)
    exec(compile(blocks[0], str(PAGE), "exec"), module.__dict__)
    return module


@pytest.fixture
def registry(monkeypatch):
    """The registry with the toy target added by its one line (undone after the test)."""
    monkeypatch.setitem(TARGETS, "toy", _toy_module(monkeypatch).ToyTarget)
    return TARGETS


def _cases(artifacts: bool = False) -> list[Any]:
    cases = []
    for name in (*target_names(), "toy"):
        for label, setup in SETUPS.get(name, {name: Setup()}).items():
            marks = list(setup.marks)
            if artifacts and setup.slow_artifacts:
                marks.append(pytest.mark.slow)
            cases.append(pytest.param((name, setup), id=label, marks=marks))
    return cases


@pytest.fixture
def built(request, registry) -> tuple[Target, str]:
    name, setup = request.param
    cls = target_class(name)
    target = cls.from_options(**setup.options())
    return target, setup.device or cls.capabilities.device


def _runtime_attrs(graph: GeGraph) -> GeGraph:
    """The graph attributes the lowering adds for the GE runtime (placements, output dtypes)."""
    datas = graph.data_ops
    placements = tuple(0 if op.output_descs[0].placement == "CPU" else 1 for op in datas)
    dtypes = tuple(d.dtype.ge_code for d in graph.net_output.input_descs)
    graph.attrs["_input_placements"] = Attr(AttrKind.LIST_I, placements)
    graph.attrs["_output_dtypes"] = Attr(AttrKind.LIST_I, dtypes)
    graph.attrs["_executor_type"] = Attr(AttrKind.I, 1)
    return graph


def _sub_mul() -> GeGraph:
    """``(x - y, y * 2)`` on (2, 3): two outputs, an order that matters, a constant."""
    b = GraphBuilder("conformance_sub_mul")
    x = b.data(0, DataType.FLOAT, (2, 3))
    y = b.data(1, DataType.FLOAT, (2, 3))
    (d,) = b.add_op("Sub", [x, y], outputs=[x.spec])
    (m,) = b.add_op("Mul", [y, b.const(2.0)], outputs=[y.spec])
    b.net_output([d, m])
    return _runtime_attrs(b.graph)


def _dynamic() -> GeGraph:
    """``relu(x + x)`` with both dims ``-1``."""
    b = GraphBuilder("conformance_dynamic")
    x = b.data(0, DataType.FLOAT, (-1, -1))
    (s,) = b.add_op("Add", [x, x], outputs=[x.spec])
    (r,) = b.add_op("Relu", [s], outputs=[x.spec])
    b.net_output([r])
    return _runtime_attrs(b.graph)


def _sub_mul_inputs(device: str) -> list[torch.Tensor]:
    return [torch.randn(2, 3, device=device), torch.randn(2, 3, device=device)]


def _check_sub_mul(outs: list[Any], inputs: list[torch.Tensor]) -> None:
    x, y = inputs
    assert len(outs) == 2
    torch.testing.assert_close(outs[0], x - y, atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(outs[1], y * 2, atol=1e-6, rtol=1e-6)


def _values(outs: list[Any]) -> list[torch.Tensor]:
    return [o.cpu() for o in outs]


# -- the interface as data ------------------------------------------------------


@pytest.mark.parametrize("name", [*target_names(), "toy"])
def test_registry_entry_is_a_target_with_capabilities_as_data(name, registry):
    cls = target_class(name)
    assert issubclass(cls, Target) and cls.name == name
    caps = cls.capabilities
    assert isinstance(caps, TargetCapabilities)
    assert isinstance(caps.device, str) and re.fullmatch(r"[a-z]+", caps.device)
    assert isinstance(caps.compiles_per_shape, bool) and isinstance(caps.gear_options, bool)
    assert isinstance(cls.available(), bool)


@pytest.mark.parametrize("name", [*target_names(), "toy"])
def test_selection_by_name_builds_the_registered_class(name, registry):
    cls = target_class(name)
    if cls.available():
        assert type(select_target(name, an_option_no_target_knows=1)) is cls
    else:
        with pytest.raises(TargetUnavailableError, match=f"target {name!r} is not available"):
            select_target(name)


def test_auto_is_the_first_available_target_in_registry_order(registry):
    first = next(n for n in TARGETS if target_class(n).available())
    assert target_class("auto") is target_class(first)
    assert type(select_target("auto")) is target_class(first)


def test_an_unknown_name_lists_the_registered_targets():
    with pytest.raises(ValueError, match=r"name: 'tpu' is not a registered target \(one of 'auto'"):
        select_target("tpu")


# -- compile and run --------------------------------------------------------------


@pytest.mark.parametrize("built", _cases(), indirect=True)
def test_outputs_in_net_output_order_match_eager(built):
    target, device = built
    exe = target.compile(_sub_mul())
    assert isinstance(exe, Executable) and exe.graph.name == "conformance_sub_mul"
    inputs = _sub_mul_inputs(device)
    before = [t.clone() for t in inputs]
    outs = exe(inputs)
    _check_sub_mul(_values(outs), [t.cpu() for t in inputs])
    for t, b in zip(inputs, before):  # no op writes an input
        torch.testing.assert_close(t, b, atol=0, rtol=0)
    for out in outs:  # a compute op's output is a new tensor
        assert all(out.data_ptr() != t.data_ptr() for t in inputs)
    _check_sub_mul(_values(exe(inputs)), [t.cpu() for t in inputs])  # and again


@pytest.mark.parametrize("built", _cases(), indirect=True)
def test_dynamic_dims_run_for_several_shapes(built):
    target, device = built
    exe = target.compile(_dynamic())
    for shape in ((3, 4), (5, 2), (3, 4)):
        x = torch.randn(shape, device=device)
        (out,) = exe([x])
        assert tuple(out.shape) == shape
        torch.testing.assert_close(out.cpu(), torch.relu(x + x).cpu())


@pytest.mark.parametrize("built", _cases(), indirect=True)
def test_a_graph_read_back_from_protobuf_runs_the_same(built):
    target, device = built
    graph = deserialize(serialize(_sub_mul()))
    inputs = _sub_mul_inputs(device)
    _check_sub_mul(_values(target.compile(graph)(inputs)), [t.cpu() for t in inputs])


@pytest.mark.parametrize("built", _cases(), indirect=True)
def test_ge_options_are_honoured_or_ignored_never_fatal(built):
    target, device = built
    gear_options = {
        "ge.inputShape": "x:-1,-1",
        "ge.dynamicDims": "3,4;5,4",
        "ge.dynamicNodeType": "1",
    }
    exe = target.compile(_dynamic(), gear_options)
    x = torch.randn(3, 4, device=device)
    torch.testing.assert_close(exe([x])[0].cpu(), torch.relu(x + x).cpu())


@pytest.mark.parametrize("built", _cases(), indirect=True)
def test_specialize_returns_a_runner_for_that_shape(built):
    target, device = built
    exe = target.compile(_dynamic())
    runners = {}
    for shape in ((3, 4), (5, 2)):
        x = torch.randn(shape, device=device)
        run = exe.specialize([x])
        assert callable(run)
        runners[shape] = run
    for shape, run in runners.items():
        x = torch.randn(shape, device=device)
        (out,) = list(run(x))
        torch.testing.assert_close(out.cpu(), torch.relu(x + x).cpu())
    exe.warm_up([torch.randn(2, 2, device=device)])  # the same, keeping no runner


@pytest.mark.parametrize("built", _cases(), indirect=True)
def test_uncompiled_is_none_or_the_same_graph_for_any_shape(built):
    target, device = built
    exe = target.compile(_dynamic())
    uncompiled = exe.uncompiled()
    if uncompiled is None:  # the default: gear_compile="background" compiles as "eager"
        assert type(exe).uncompiled is Executable.uncompiled
        return
    assert isinstance(uncompiled, Executable) and uncompiled.graph.name == exe.graph.name
    assert exe.uncompiled() is uncompiled  # made once
    for shape in ((3, 4), (5, 2)):
        x = torch.randn(shape, device=device)
        torch.testing.assert_close(uncompiled([x])[0].cpu(), exe([x])[0].cpu())


@pytest.mark.parametrize("built", _cases(artifacts=True), indirect=True)
def test_artifacts_load_into_a_fresh_executable(built):
    target, device = built
    graph = _sub_mul()
    exe = target.compile(graph)
    inputs = _sub_mul_inputs(device)
    exe(inputs)
    artifacts = exe.export_artifacts()
    assert isinstance(artifacts, list) and all(isinstance(a, Artifact) for a in artifacts)
    names = [a.name for a in artifacts]
    assert len(set(names)) == len(names)
    assert all(re.fullmatch(r"[A-Za-z0-9_.-]+", n) and n not in (".", "..") for n in names)
    assert all(isinstance(a.data, bytes) and a.data for a in artifacts)
    fresh = target.compile(deserialize(serialize(graph)))  # as a warm start in a new process
    fresh.load_artifacts(artifacts)
    _check_sub_mul(_values(fresh(inputs)), [t.cpu() for t in inputs])


@pytest.mark.parametrize("built", _cases(), indirect=True)
def test_a_wrong_input_count_is_refused(built):
    target, device = built
    exe = target.compile(_sub_mul())
    with pytest.raises(ValueError, match="inputs"):
        exe(_sub_mul_inputs(device)[:1])


@pytest.mark.parametrize("built", _cases(), indirect=True)
def test_an_op_the_target_cannot_run_is_not_implemented_or_runs(built):
    """``NotImplementedError`` from ``compile`` is what makes the backend fall back."""
    target, device = built
    b = GraphBuilder("conformance_erfinv")
    x = b.data(0, DataType.FLOAT, (2,))
    (y,) = b.add_op("Erfinv", [x], outputs=[x.spec])
    b.net_output([y])
    try:
        exe = target.compile(_runtime_attrs(b.graph))
    except NotImplementedError as e:
        assert "Erfinv" in str(e)
        return
    assert isinstance(exe, Executable)  # a target that runs it (GE on an NPU does)
