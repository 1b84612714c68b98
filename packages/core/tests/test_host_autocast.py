"""The host target runs a GE graph's explicit dtypes under an ambient CPU autocast.

A graph traced under ``torch.autocast`` already carries the casts autocast
made (and none where the model turned it off), so the host target must not
apply the caller's autocast a second time when it runs the graph op by op.
Each result is compared with the float32 product computed outside autocast,
at float32's default tolerance (rtol 1.3e-6, atol 1e-5); run in bfloat16 the
product of these inputs is off by about 1e-2.
"""

from __future__ import annotations

import pytest
import torch

from airgraph_core import HostProgram
from airgraph_core.ir import DataType, GraphBuilder
from airgraph_core.targets.host import specialize

FP32 = {"rtol": 1.3e-6, "atol": 1e-5}


def _matmul_graph():
    b = GraphBuilder("fp32_matmul")
    x = b.data(0, DataType.FLOAT, (-1, 16))
    w = b.data(1, DataType.FLOAT, (16, 16))
    b.net_output([b.op("MatMulV2", x, w, out=(DataType.FLOAT, (-1, 16)))])
    return b.graph


def _inputs(rows: int, seed: int) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(rows, 16, generator=g) * 10, torch.randn(16, 16, generator=g)]


def _check(out: torch.Tensor, x: torch.Tensor, w: torch.Tensor) -> None:
    assert out.dtype is torch.float32
    torch.testing.assert_close(out, x @ w, **FP32)


@pytest.mark.parametrize("mode", ["interpret", "inductor"])
def test_calls_under_cpu_autocast_keep_the_graphs_float32(mode):
    prog = HostProgram(_matmul_graph(), mode)
    calls = [_inputs(4, 0), _inputs(4, 1), _inputs(8, 2)]  # new, same, new signature
    with torch.autocast("cpu", dtype=torch.bfloat16):
        outs = [prog(*inputs)[0] for inputs in calls]
        direct = prog.compile_for(calls[0])(*calls[0])[0]  # the executable's specialize()
        assert torch.is_autocast_enabled("cpu")  # the caller's setting is left as it was
    for out, (x, w) in zip(outs, calls):
        _check(out, x, w)
    _check(direct, *calls[0])


def test_specialize_and_its_per_op_hook_under_cpu_autocast():
    """What the op-by-op data dumper (``on_op``) sees is what the graph computes."""
    seen = {}

    def on_op(op, ins, outs):
        seen[op.type] = outs

    x, w = _inputs(4, 0)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        (out,) = specialize(_matmul_graph(), [x, w], on_op=on_op)[2]
    _check(out, x, w)
    _check(seen["MatMulV2"][0], x, w)


def test_a_bfloat16_matmul_with_bias_rounds_once_as_eagers_linear():
    """A bfloat16 linear traced under autocast: the bias joins before the one rounding
    (compared exactly with eager's ``F.linear``, the same ``addmm``)."""
    b = GraphBuilder("bf16_linear")
    x = b.data(0, DataType.BF16, (4, 16))
    w = b.data(1, DataType.BF16, (16, 16))
    bias = b.data(2, DataType.BF16, (16,))
    y = b.op("MatMulV2", x, w, bias, out=(DataType.BF16, (4, 16)), transpose_x2=True)
    b.net_output([y])
    xs, ws = (t.bfloat16() for t in _inputs(4, 0))
    bs = torch.randn(16, generator=torch.Generator().manual_seed(3)).bfloat16()
    (out,) = HostProgram(b.graph, "interpret")(xs, ws, bs)
    torch.testing.assert_close(out, torch.nn.functional.linear(xs, ws, bs), rtol=0, atol=0)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("batch", [(2,), (3, 2)])
def test_a_batched_bfloat16_matmul_with_2d_weight_and_bias_rounds_once_as_eagers_linear(
    batch, seed
):
    """A linear on n-D bfloat16 input lowers to BatchMatMulV2 with a bias: eager's
    ``F.linear`` flattens the batch dims into one ``addmm``; the host does too (exact)."""
    b = GraphBuilder("bf16_batched_linear")
    x = b.data(0, DataType.BF16, (*batch, 4, 16))
    w = b.data(1, DataType.BF16, (8, 16))
    bias = b.data(2, DataType.BF16, (8,))
    y = b.op("BatchMatMulV2", x, w, bias, out=(DataType.BF16, (*batch, 4, 8)), adj_x2=True)
    b.net_output([y])
    g = torch.Generator().manual_seed(seed)
    xs = (torch.randn(*batch, 4, 16, generator=g) * 4).bfloat16()
    ws = torch.randn(8, 16, generator=g).bfloat16()
    bs = (torch.randn(8, generator=g) * 8).bfloat16()
    (out,) = HostProgram(b.graph, "interpret")(xs, ws, bs)
    torch.testing.assert_close(out, torch.nn.functional.linear(xs, ws, bs), rtol=0, atol=0)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_a_fully_batched_half_matmul_with_bias_rounds_once(dtype):
    """Both operands batched: product and bias are summed in float32 and rounded once,
    as GE's float32 accumulator does (not product rounded, then bias added and rounded)."""
    ge_dtype = DataType.BF16 if dtype is torch.bfloat16 else DataType.FLOAT16
    b = GraphBuilder("half_bmm_bias")
    x = b.data(0, ge_dtype, (3, 4, 16))
    w = b.data(1, ge_dtype, (3, 16, 8))
    bias = b.data(2, ge_dtype, (8,))
    y = b.op("BatchMatMulV2", x, w, bias, out=(ge_dtype, (3, 4, 8)))
    b.net_output([y])
    g = torch.Generator().manual_seed(5)
    xs = (torch.randn(3, 4, 16, generator=g) * 4).to(dtype)
    ws = torch.randn(3, 16, 8, generator=g).to(dtype)
    bs = (torch.randn(8, generator=g) * 8).to(dtype)
    (out,) = HostProgram(b.graph, "interpret")(xs, ws, bs)
    expected = (torch.bmm(xs.double(), ws.double()) + bs.double()).to(dtype)
    # One rounding of a float32 accumulation: at most one unit in the last place off the
    # float64 reference rounded once (float32 summation order).
    torch.testing.assert_close(
        out, expected, rtol=2**-7 if dtype is torch.bfloat16 else 2**-10, atol=0
    )


@pytest.mark.parametrize("mode", ["interpret", "inductor"])
@pytest.mark.parametrize(
    "x_shape, bias_dtype, bias_shape",
    [
        ((4, 16), DataType.FLOAT, (8,)),  # MatMul-shaped, float32 bias
        ((2, 4, 16), DataType.FLOAT, (8,)),  # batch dims of x1 only, float32 bias
        ((2, 4, 16), DataType.BF16, (4, 8)),  # a bias of rows (not one row [N])
    ],
)
def test_a_bfloat16_batch_matmul_bias_of_another_dtype_or_shape_rounds_once(
    x_shape, bias_dtype, bias_shape, mode
):
    """A float32 bias is added to the float32 product, then rounded once (not rounded to
    bfloat16 first); a bias of rows still broadcasts (it raised in the flattened addmm).
    Compared exactly with the float64 sum rounded once: the products and sums here are
    exact in float32, so one rounding gives that value."""
    b = GraphBuilder("bf16_bmm_bias_dtype")
    x = b.data(0, DataType.BF16, x_shape)
    w = b.data(1, DataType.BF16, (16, 8))
    bias = b.data(2, bias_dtype, bias_shape)
    out_shape = (*x_shape[:-1], 8)
    y = b.op("BatchMatMulV2", x, w, bias, out=(DataType.BF16, out_shape))
    b.net_output([y])
    g = torch.Generator().manual_seed(7)
    # Small integers times 1/8: products and sums exact in float32 (and in bfloat16's 8 bits
    # for x and w), so the reference has no summation-order error.
    xs = (torch.randint(-8, 9, x_shape, generator=g) / 8).bfloat16()
    ws = (torch.randint(-8, 9, (16, 8), generator=g) / 8).bfloat16()
    # A bias with more bits than bfloat16 keeps (float32), or a bfloat16 bias of rows.
    bs = 100 + torch.randint(0, 2**12, bias_shape, generator=g) / 2**9
    bs = bs if bias_dtype is DataType.FLOAT else bs.bfloat16()
    (out,) = HostProgram(b.graph, mode)(xs, ws, bs)
    expected = (torch.matmul(xs.double(), ws.double()) + bs.double()).bfloat16()
    assert out.dtype is torch.bfloat16
    torch.testing.assert_close(out, expected, rtol=0, atol=0)
