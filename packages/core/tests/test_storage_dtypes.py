"""float8 (e4m3fn, e5m2) and uint16/32/64: casts, copies and views lower; arithmetic is refused.

Eager PyTorch only stores, casts and moves these dtypes (no arithmetic
kernels), and GE has them (``DT_FLOAT8_E5M2``, ``DT_FLOAT8_E4M3FN``,
``DT_UINT16``/``32``/``64``), so what a model does with them (float8
weights dequantized with a cast, reshaped, sliced, concatenated) lowers
and runs on the host target bit for bit as eager.
"""

from __future__ import annotations

import pytest
import torch

from airgraph_core import UnsupportedOpError, lower_graph
from airgraph_core.capture import capture_aten_graph
from airgraph_core.ir.dtypes import DataType, from_ge_code, from_torch, to_torch
from airgraph_core.ir.serialize import deserialize, serialize
from airgraph_core.testing import check_lowering

DTYPES = [torch.float8_e4m3fn, torch.float8_e5m2, torch.uint16, torch.uint32, torch.uint64]
DT = {torch.float8_e5m2: (34, 35), torch.float8_e4m3fn: (35, 36), torch.uint16: (6, 7)}
DT |= {torch.uint32: (9, 8), torch.uint64: (10, 10)}

PROGRAMS = {
    "to_float32": lambda x: x.to(torch.float32) * 2,
    "reshape": lambda x: x.reshape(-1).to(torch.float32),
    "transpose_clone": lambda x: x.t().contiguous(),
    "cat": lambda x: torch.cat([x, x[:1]]),
    "slice_select": lambda x: x[1:, 1].clone(),
    "unsqueeze_expand": lambda x: x.unsqueeze(0).expand(2, 2, 3).clone(),
    "stack": lambda x: torch.stack([x, x]),
}


def _tensor(dtype: torch.dtype, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    if dtype.is_floating_point:
        return (torch.randn(2, 3, generator=gen) * 4).to(dtype)
    high = {torch.uint16: 2**16, torch.uint32: 2**32, torch.uint64: 2**62}[dtype]
    return torch.randint(0, high, (2, 3), generator=gen, dtype=torch.int64).to(dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_ge_numbering(dtype):
    proto, code = DT[dtype]
    ge = from_torch(dtype)
    assert (ge.proto, ge.ge_code, to_torch(ge), from_ge_code(code)) == (proto, code, dtype, ge)
    assert ge.is_floating == dtype.is_floating_point


@pytest.mark.parametrize("dynamic", [False, True], ids=["static", "dynamic"])
@pytest.mark.parametrize("name", list(PROGRAMS))
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_moves_and_casts_match_eager_exactly(dtype, name, dynamic):
    check_lowering(PROGRAMS[name], [_tensor(dtype)], dynamic=dynamic, atol=0, rtol=0)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_cast_from_float32(dtype):
    x = torch.randn(2, 3, generator=torch.Generator().manual_seed(1)) * 4
    if not dtype.is_floating_point:
        x = x.abs()  # a negative float to an unsigned type is undefined in C++
    g = check_lowering(lambda y: (y * 2).to(dtype), [x], atol=0, rtol=0)
    assert from_torch(dtype) in {op.output_descs[0].dtype for op in g.ops if op.type == "Cast"}


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_graph_round_trips_through_the_protobuf(dtype):
    gm, inputs = capture_aten_graph(lambda x: x.reshape(-1).to(torch.float32), [_tensor(dtype)])
    graph = lower_graph(gm, inputs)
    back = deserialize(serialize(graph))
    assert back.data_ops[0].output_descs[0].dtype == from_torch(dtype) != DataType.UNDEFINED


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_arithmetic_is_refused_naming_the_dtype(dtype):
    # Eager has no kernel either; the error says which dtype and what is supported.
    gm, inputs = capture_aten_graph(lambda x: x * x, [_tensor(dtype)])
    with pytest.raises(UnsupportedOpError, match=rf"aten.mul.Tensor: input 0 has dtype {dtype}"):
        lower_graph(gm, inputs)
