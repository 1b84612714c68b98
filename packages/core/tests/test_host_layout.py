"""HostProgram in inductor mode on inputs of another memory layout than the first call's.

The specialization key is the shapes only, and Inductor's compiled code
asserts the strides it was compiled for: a transposed input of the same
shape used to raise ``AssertionError``. The runner is compiled for
contiguous inputs and passes other layouts as contiguous copies.
"""

from __future__ import annotations

import pytest
import torch

from airgraph_core.ir.builder import GraphBuilder
from airgraph_core.ir.dtypes import DataType
from airgraph_core.targets.host import HostProgram

pytestmark = pytest.mark.slow  # compiles with Inductor


def _transposed(shape: tuple[int, int]) -> torch.Tensor:
    return torch.randn(shape[::-1]).t()


def _strided(shape: tuple[int, int]) -> torch.Tensor:
    return torch.randn(shape[0], shape[1] * 2)[:, ::2]


def _linear_program() -> HostProgram:
    """``x @ w + x`` with ``w`` a weight-like input."""
    b = GraphBuilder("linear")
    x = b.data(0, DataType.FLOAT, (4, 4))
    w = b.data(1, DataType.FLOAT, (4, 4))
    y = b.op("MatMulV2", x, w, out=x.spec)
    b.net_output([b.op("Add", y, x, out=x.spec)])
    return HostProgram(b.graph, "inductor")


@pytest.mark.parametrize("first", ["contiguous", "transposed"])
def test_any_layout_after_any_first_call(first):
    torch.manual_seed(0)
    program = _linear_program()
    make = torch.randn if first == "contiguous" else lambda *s: _transposed(s)
    program(make(4, 4), make(4, 4))
    program(torch.randn(4, 4), torch.randn(4, 4))  # the compiled runner
    for x, w in [
        (_transposed((4, 4)), torch.randn(4, 4)),
        (torch.randn(4, 4), _strided((4, 4))),  # a strided parameter
        (_strided((4, 4)), _transposed((4, 4))),
        (torch.randn(4, 4), torch.randn(4, 4)),
    ]:
        (out,) = program(x, w)
        torch.testing.assert_close(out, x @ w + x, rtol=1e-5, atol=1e-5)


def test_input_updated_in_place_in_another_layout_gets_the_new_values():
    b = GraphBuilder("update")
    cache = b.data(0, DataType.FLOAT, (3, 5))
    x = b.data(1, DataType.FLOAT, (3, 5))
    total = b.op("Add", cache, x, out=cache.spec)
    assign = b.op("Assign", cache, total, out=cache.spec)
    b.net_output([b.op("Mul", total, x, out=cache.spec)], control=[assign.op])
    program = HostProgram(b.graph, "inductor")
    program(torch.zeros(3, 5), torch.ones(3, 5))
    program(torch.zeros(3, 5), torch.ones(3, 5))  # the compiled runner

    c, xs = _transposed((3, 5)), _strided((3, 5))
    before = c.clone()
    (out,) = program(c, xs)
    torch.testing.assert_close(c, before + xs)
    torch.testing.assert_close(out, (before + xs) * xs)
    assert c.stride() == (1, 3)  # updated where it lives


def test_runner_from_args_picks_its_inputs_in_any_layout():
    """``HostExecutable.specialize_from_args``: the gear dispatch's runner (an ``ArgsCall``
    straight to Inductor's graph) reads its inputs out of the caller's arguments."""
    from airgraph_core.targets import HostTarget
    from airgraph_core.targets.host.layout import ArgsCall

    b = GraphBuilder("linear")
    x = b.data(0, DataType.FLOAT, (4, 4))
    w = b.data(1, DataType.FLOAT, (4, 4))
    b.net_output([b.op("Add", b.op("MatMulV2", x, w, out=x.spec), x, out=x.spec)])
    executable = HostTarget(mode="inductor").compile(b.graph)
    # The caller's arguments: w at 3, x at 1, others it does not read.
    run = executable.specialize_from_args([torch.randn(4, 4), torch.randn(4, 4)], [1, 3])
    assert isinstance(run, ArgsCall)
    for xs, ws in [
        (torch.randn(4, 4), torch.randn(4, 4)),
        (_transposed((4, 4)), torch.randn(4, 4)),
        (torch.randn(4, 4), _strided((4, 4))),
    ]:
        args = [None, xs, 7, ws]
        (out,) = run(args)
        torch.testing.assert_close(out, xs @ ws + xs, rtol=1e-5, atol=1e-5)
        assert args == [None, xs, 7, ws]  # the caller's list is left as it was
    with torch.enable_grad():
        ws = torch.randn(4, 4, requires_grad=True)  # Inductor's out= kernels refuse it with grad
        (out,) = run([None, xs, 7, ws])
        torch.testing.assert_close(out, xs @ ws.detach() + xs, rtol=1e-5, atol=1e-5)
