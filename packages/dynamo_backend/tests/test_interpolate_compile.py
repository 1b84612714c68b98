"""F.interpolate under torch.compile: kept whole as GE's Resize ops, eager's values.

torch's Python kernels would decompose ``upsample_nearest2d`` /
``upsample_bilinear2d`` into index arithmetic while AOTAutograd traces;
airgraph keeps them whole during its own trace only, where the converter
reproduces ATen, and leaves torch as it is.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from airgraph_core.converters.registry import registered
from airgraph_core.decompositions import kept_whole_ops
from airgraph_dynamo import get_npu_backend

aten = torch.ops.aten

MODES = {
    "nearest": ({"mode": "nearest"}, "ResizeNearestNeighborV2"),
    "bilinear": ({"mode": "bilinear", "align_corners": False}, "ResizeBilinearV2"),
    "bilinear_align": ({"mode": "bilinear", "align_corners": True}, "ResizeBilinearV2"),
}


def _compile(fn, make_config, dynamic, **backend_kwargs):
    backend = get_npu_backend(compiler_config=make_config("interpret"), **backend_kwargs)
    return backend, torch.compile(fn, backend=backend, fullgraph=True, dynamic=dynamic)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
@pytest.mark.parametrize("dynamic", [False, True], ids=["static", "dynamic"])
@pytest.mark.parametrize("name", list(MODES))
def test_interpolate_is_one_resize_op(name, dynamic, dtype, make_config):
    kwargs, resize = MODES[name]
    backend, compiled = _compile(
        lambda x: F.interpolate(x, scale_factor=2, **kwargs), make_config, dynamic
    )
    shapes = [(2, 3, 4, 6), (2, 3, 5, 7)] if dynamic else [(2, 3, 4, 6)]
    for seed, shape in enumerate(shapes):
        x = torch.randn(shape, generator=torch.Generator().manual_seed(seed)).to(dtype)
        with torch.no_grad():
            expected = F.interpolate(x, scale_factor=2, **kwargs)
            got = compiled(x)
        tol = 1e-5 if dtype == torch.float32 else 2e-3
        torch.testing.assert_close(got, expected, atol=tol, rtol=tol)
    ops = backend.graphs[-1].op_types()
    assert resize in ops and "IndexByTensor" not in ops, ops
    assert len(backend.compiled) == 1  # the sizes stayed symbolic: no recompile


@pytest.mark.parametrize("dynamic", [False, True], ids=["static", "dynamic"])
def test_output_size_and_per_axis_scales(dynamic, make_config):
    def fn(x):
        return F.interpolate(x, size=(7, 9), mode="nearest") + F.interpolate(
            x[..., :3, :3], scale_factor=(7 / 3, 3), mode="bilinear"
        )

    backend, compiled = _compile(fn, make_config, dynamic)
    x = torch.randn(1, 2, 4, 5)
    torch.testing.assert_close(compiled(x), fn(x), atol=1e-5, rtol=1e-4)
    ops = backend.graphs[-1].op_types()
    assert {"ResizeNearestNeighborV2", "ResizeBilinearV2"} <= set(ops), ops


@pytest.mark.parametrize("mode", ["nearest", "bilinear"])
def test_scale_ge_cannot_reproduce_is_decomposed_by_torch(mode, make_config):
    # 1.5 on 5 columns: ATen maps output pixels with 1/1.5, GE's resize with 5/7.
    def fn(x):
        return F.interpolate(x, scale_factor=1.5, mode=mode)

    backend, compiled = _compile(fn, make_config, False)
    x = torch.randn(1, 2, 4, 5)
    torch.testing.assert_close(compiled(x), fn(x), atol=1e-5, rtol=1e-4)
    ops = backend.graphs[-1].op_types()
    assert not any(op.startswith("Resize") for op in ops), ops


def test_user_decomposition_wins(make_config):
    table = {aten.upsample_nearest2d.default: lambda x, size, sh=None, sw=None: x.repeat_interleave(2, 2).repeat_interleave(2, 3)}  # fmt: skip
    backend, compiled = _compile(
        lambda x: F.interpolate(x, scale_factor=2), make_config, False, custom_decompositions=table
    )
    x = torch.randn(1, 2, 3, 3)
    torch.testing.assert_close(compiled(x), F.interpolate(x, scale_factor=2))
    assert "ResizeNearestNeighborV2" not in backend.graphs[-1].op_types()


def test_torch_is_left_as_it_is(make_config):
    ops = [aten.upsample_nearest2d.vec, aten.upsample_nearest2d.default]
    ops += [aten.upsample_bilinear2d.vec, aten.upsample_bilinear2d.default]
    before = {op: dict(op.py_kernels) for op in ops}
    _, compiled = _compile(lambda x: F.interpolate(x, scale_factor=2), make_config, False)
    compiled(torch.randn(1, 1, 2, 2))
    assert {op: dict(op.py_kernels) for op in ops} == before


def test_every_converter_op_torch_would_decompose_is_kept_whole():
    # A new converter for an op that torch's Python autograd kernels decompose
    # while AOTAutograd traces would never see its op: list it in kept_whole_ops.
    autograd = torch._C.DispatchKey.Autograd
    decomposed = {
        op
        for op in registered()
        if isinstance(op, torch._ops.OpOverload) and autograd in op.py_kernels
    }
    takes, _composites = kept_whole_ops()
    assert decomposed and decomposed <= set(takes)
