"""Upsampling converters: upsample_nearest2d / upsample_bilinear2d vs eager ``F.interpolate``.

The cases are generated from a seed over input sizes, output sizes or scale
factors (up and down), align_corners and dtypes; the GE graph's resize
attributes are checked too. Under AOTAutograd (``check_lowering``'s capture),
torch's Python autograd kernels decompose both ops into index arithmetic
before the lowering sees them (a TorchAir import removes those kernels from
torch globally; airgraph does not), so the graphs here are traced with
``make_fx`` and the backend's decompositions, as ``torch.export``-style
graphs hold the ops (static shapes: symbolic tracing enables those kernels).
"""

from __future__ import annotations

import random

import pytest
import torch
import torch.nn.functional as F
from torch.fx.experimental.proxy_tensor import make_fx

from airgraph_core.decompositions import merge_decompositions
from airgraph_core.lowering import UnsupportedOpError, lower_graph
from airgraph_core.testing import assert_valid_ge_graph, run_lowered

DTYPES = (torch.float32, torch.float16, torch.bfloat16)
#: Half-precision eager kernels interpolate in float32 and round once, as GE does.
TOL = {torch.float32: (1e-5, 1e-4), torch.float16: (2e-3, 2e-3), torch.bfloat16: (2e-2, 2e-2)}


def check_lowering(fn, inputs, *, atol=None, rtol=None, modes=("interpret",)):
    """Trace ``fn`` with make_fx, lower, validate, run on the host and compare with eager."""
    expected = fn(*inputs)
    gm = make_fx(fn, decomposition_table=merge_decompositions(None), tracing_mode="fake")(*inputs)
    targets = {str(n.target) for n in gm.graph.nodes}
    assert targets & {"aten.upsample_nearest2d.default", "aten.upsample_bilinear2d.default"}
    graph = lower_graph(gm, list(inputs))
    assert_valid_ge_graph(graph)
    for run_mode in modes:
        (got,) = run_lowered(graph, list(inputs), run_mode)
        torch.testing.assert_close(got, expected, atol=atol, rtol=rtol)
    return graph


def _cases(n: int, seed: int) -> list[tuple]:
    rng = random.Random(seed)
    cases = []
    for i in range(n):
        h, w = rng.randint(1, 7), rng.randint(1, 7)
        if i % 2:
            how = {"scale_factor": rng.choice([2, 3, (2, 1), 0.5])}
        else:
            how = {"size": (rng.randint(1, 12), rng.randint(1, 12))}
        shape = (rng.randint(1, 2), rng.randint(1, 3), h, w)
        if _kept(shape, how):
            cases.append((shape, how, DTYPES[i % 3]))
    return cases


def _kept(shape, how) -> bool:
    """Scale factors that give whole sizes (others: test_fractional_scale_is_refused)."""
    sf = how.get("scale_factor")
    if sf is None:
        return True
    sfs = sf if isinstance(sf, tuple) else (sf, sf)
    return all(int(d * s) > 0 and float(d * s).is_integer() for d, s in zip(shape[2:], sfs))


@pytest.mark.parametrize(("shape", "how", "dtype"), _cases(8, 11))
def test_nearest(shape, how, dtype):
    atol, rtol = TOL[dtype]
    g = check_lowering(
        lambda x: F.interpolate(x, mode="nearest", **how),
        [torch.randn(shape).to(dtype)],
        atol=atol,
        rtol=rtol,
    )
    (op,) = g.ops_of_type("ResizeNearestNeighborV2")
    assert not op.attrs["align_corners"].value and not op.attrs["half_pixel_centers"].value
    assert op.input_descs[0].layout == "NCHW"


@pytest.mark.parametrize("align_corners", [False, True])
@pytest.mark.parametrize(("shape", "how", "dtype"), _cases(6, 12))
def test_bilinear(shape, how, dtype, align_corners):
    atol, rtol = TOL[dtype]
    g = check_lowering(
        lambda x: F.interpolate(x, mode="bilinear", align_corners=align_corners, **how),
        [torch.randn(shape).to(dtype)],
        atol=atol,
        rtol=rtol,
    )
    (op,) = g.ops_of_type("ResizeBilinearV2")
    assert op.attrs["align_corners"].value == align_corners
    assert op.attrs["half_pixel_centers"].value == (not align_corners)


@pytest.mark.parametrize("mode", ["nearest", "bilinear"])
def test_fractional_scale_is_refused(mode):
    """ATen maps pixels with 1/scale where GE uses in/out: refused, not a wrong value."""
    with pytest.raises(UnsupportedOpError, match="scales_h=1.5"):
        check_lowering(
            lambda x: F.interpolate(x, scale_factor=1.5, mode=mode), [torch.randn(1, 2, 3, 3)]
        )
    # With recompute_scale_factor the scale is in/out again, so it lowers.
    check_lowering(
        lambda x: F.interpolate(x, scale_factor=1.5, mode=mode, recompute_scale_factor=True),
        [torch.randn(1, 2, 3, 3)],
    )


@pytest.mark.slow
def test_upsample_inductor():
    check_lowering(
        lambda x: F.interpolate(x, scale_factor=2, mode="bilinear") + F.interpolate(x, size=(6, 8)),
        [torch.randn(1, 2, 3, 4)],
        modes=("interpret", "inductor"),
    )
