"""Padding converters: reflection (MirrorPad) and replication (PadV3 edge), 1-D to 3-D."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from airgraph_core.lowering import UnsupportedOpError
from airgraph_core.targets.host.semantics import lookup_host_op
from airgraph_core.testing import check_lowering

DTYPES = [torch.float32, torch.float16, torch.bfloat16]

# (input shape, pad): 1-D, 2-D and 3-D padding, batched and unbatched.
CASES = [
    ((2, 3, 9), (2, 3)),
    ((3, 7), (0, 4)),
    ((2, 3, 6, 7), (1, 2, 3, 0)),
    ((3, 5, 5), (4, 4, 2, 2)),
    ((1, 2, 4, 5, 6), (1, 2, 0, 3, 2, 1)),
    ((2, 4, 5, 6), (1, 1, 1, 1, 1, 1)),
]


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_reflection_pad(dtype, case):
    shape, pad = case
    check_lowering(
        lambda x: F.pad(x, pad, mode="reflect"), [torch.randn(shape).to(dtype)],
        expect_ops=["MirrorPad"],
    )  # fmt: skip


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_replication_pad(dtype, case):
    shape, pad = case
    g = check_lowering(
        lambda x: F.pad(x, pad, mode="replicate"), [torch.randn(shape).to(dtype)],
        expect_ops=["PadV3"],
    )  # fmt: skip
    assert g.ops_of_type("PadV3")[0].attr("mode") == "edge"


def test_reflection_pad_of_ints():
    x = torch.arange(2 * 3 * 5, dtype=torch.int32).reshape(2, 3, 5)
    check_lowering(lambda x: F.pad(x.float(), (2, 1), mode="reflect").int(), [x])


@pytest.mark.parametrize("mode", ["reflect", "replicate"])
def test_padding_dynamic(mode):
    g = check_lowering(
        lambda x: F.pad(x, (1, 2, 2, 1), mode=mode), [torch.randn(2, 3, 6, 7)], dynamic=True
    )
    op = g.ops_of_type("MirrorPad" if mode == "reflect" else "PadV3")[0]
    assert -1 in op.output_descs[0].shape


def test_symbolic_padding_is_unsupported():
    def fn(x):
        return F.pad(x, (x.shape[-1] // 4, 0), mode="reflect")

    with pytest.raises(UnsupportedOpError, match="symbolic padding"):
        check_lowering(fn, [torch.randn(2, 3, 8)], dynamic=True)


def test_mirror_pad_symmetric_semantics():
    x = torch.arange(4.0).reshape(1, 4)
    y = lookup_host_op("MirrorPad").fn([x, [[0, 0], [2, 3]]], {"mode": "SYMMETRIC"})
    assert y.tolist() == [[1.0, 0.0, 0.0, 1.0, 2.0, 3.0, 3.0, 2.0, 1.0]]


@pytest.mark.slow
def test_inductor():
    def fn(x):
        return F.pad(x, (1, 2, 2, 1), mode="reflect") + F.pad(x, (1, 2, 2, 1), mode="replicate")

    check_lowering(fn, [torch.randn(2, 3, 6, 7)], modes=("interpret", "inductor"))
