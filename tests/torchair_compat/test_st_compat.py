"""TorchAir's general ``torchair_st.py`` cases (Ascend/torchair ``tests/st``), ported.

The config, debug and scope cases of ``torchair_st.py`` are counted in
``test_config_compat.py`` (11), ``test_debug_compat.py`` (6) and
``test_scope_compat.py`` (6); this module holds the other 87. Each test names
the upstream test it ports; inputs and expectations are TorchAir's, the code
is ours. TorchAir compared with its NPU stub or with nothing; the ports
compare every result with eager PyTorch (exact, or float tolerance 1e-5).
TorchAir's aliasing checks (``torch._C._is_alias_of``) are made with the
storage's data pointer. Compiles use the host target's interpret mode.

============================================  ==============================================
upstream ``torchair_st.py`` test              here
============================================  ==============================================
test_basic, test_multiple_input_types,        ported
test_sym_input, test_builtin_with_sym,
test_different_fx_output_from_same_fx_node,
test_sym_pack, test_input_processing_for_
static_graph, test_input_processing_for_
dynamic_graph, test_torch_sym,
test_remove_sym, test_viewofoutput_dynamic_
sym, ..._symexpr, ..._sym_from_different_
input, ..._dynamic_input_changed,
test_viewofoutput_static, test_without_
viewofoutput1, test_without_viewofoutput2,
test_topk, test_autograd_sym,
test_autograd_symexpr, test_torch_floor,
test_recompile_of_symsize, test_torch_fp8,
test_torch_uint_16_32_64, test_sym_sum,
test_uncontinuous_view,
test_view_as_real_dynamic_sym,
test_view_as_complex_dynamic_sym,
test_post_grad_no_custom_fn,
test_post_grad_custom_fn
test_view_to_reshape                          ported in part: values; not TorchAir's
                                              converter debug line ``target: aten.reshape``
(b) private TorchAir internals, 46 cases      see ``NOT_PORTED`` below: TorchAir's executor
                                              ``TorchNpuGraph`` run on hand-built private
                                              ``GeGraph``/``ge_apis`` graphs (NPU stub),
                                              ``GeConcreteGraph`` hooks, ``_torchair``,
                                              ``_as_numpy``, the CANN IR auto-converter
(c) NPU-only, 10 cases                        ``llm_datadist.create_npu_tensors``,
                                              ``npu_format_cast_via_cpu``, fp8/hif8/fp4 NPU
                                              output dtypes, ``torch.npu`` deadlock check
============================================  ==============================================
"""

from __future__ import annotations

import logging
import math

import pytest
import torch
import torch._dynamo
from torchair_compat._support import interpret_backend

import airgraph as torchair
from airgraph.configs.compiler_config import CompilerConfig

pytestmark = pytest.mark.usefixtures("fresh_dynamo")


def _compiled(fn, dynamic, fullgraph=False, config=None):
    return torch.compile(
        fn, backend=interpret_backend(config), dynamic=dynamic, fullgraph=fullgraph
    )


def _same(got, expected):
    if isinstance(expected, torch.Tensor) and expected.dtype in (
        torch.float8_e4m3fn,
        torch.float8_e5m2,
    ):
        assert got.dtype == expected.dtype
        torch.testing.assert_close(got.float(), expected.float(), rtol=0, atol=0)
        return
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5, equal_nan=True)


def _check(fn, *calls, dynamic=True, fullgraph=False):
    """Compile ``fn`` once and compare each call (a tuple of args) with eager."""
    compiled = _compiled(fn, dynamic, fullgraph)
    results = []
    for args in calls:
        got = compiled(*args)
        _same(got, fn(*args))
        results.append(got)
    return results


def _aliases(a, b):
    return a.untyped_storage().data_ptr() == b.untyped_storage().data_ptr()


def _add(x, y):
    return torch.add(x, y)


# -- compile and compare --------------------------------------------------------------------


def test_basic():
    """TorchairSt.test_basic."""
    x, y = torch.randn(2, 2, 2), torch.randn(2, 2, 2)
    _check(_add, (x, y), (x, y))


@pytest.mark.parametrize(
    "dtype,shape", [(torch.complex64, (2,)), (torch.complex128, (2,)), (torch.bfloat16, (2, 2, 2))]
)
def test_multiple_input_types(dtype, shape):
    """TorchairSt.test_multiple_input_types (x + x keeps the dtype; complex32 below)."""
    x = torch.randn(*shape).to(dtype)
    (got,) = _check(lambda x: torch.add(x, x), (x,))
    assert got.dtype == dtype


@pytest.mark.filterwarnings("ignore:ComplexHalf support is experimental")
def test_multiple_input_types_complex32():
    """TorchairSt.test_multiple_input_types, complex32: differs on purpose.

    GE's ``Add`` prototype has no complex32 (TorchAir's stub does not check);
    airgraph refuses the graph up front, naming the op and the dtype.
    """
    x = torch.randn(2).to(torch.complex32)
    with pytest.raises(RuntimeError, match="aten.add.Tensor: input 0 has dtype torch.complex32"):
        _compiled(lambda x: torch.add(x, x), dynamic=True)(x)


def test_sym_input():
    """TorchairSt.test_sym_input (Python int and float second arguments)."""
    x = torch.randn(2, 2)
    _check(_add, (x, 2), (x, 3), (x, 2.0), (x, 3.0))


def test_builtin_with_sym():
    """TorchairSt.test_builtin_with_sym (+ - * / // ** of two int inputs)."""

    def fn(x, y, z):
        x = torch.add(x, y + z)
        x = torch.add(x, y - z)
        x = torch.add(x, y * z)
        x = torch.add(x, y / z)
        x = torch.add(x, y // z)
        return torch.add(x, y**z)

    x = torch.randn(2, 2)
    _check(fn, (x, 2, 3), (x, 3, 4))


@pytest.mark.parametrize(
    "fn,same",
    [
        (lambda x: (x, x), (0, 1)),
        (lambda x: (x, x + 1, x), (0, 2)),
        (lambda x: (x + 1, x, x), (1, 2)),
        (lambda x: (x, x, x + 1), (0, 1)),
    ],
)
def test_different_fx_output_from_same_fx_node(fn, same):
    """TorchairSt.test_different_fx_output_from_same_fx_node (cases 1-4)."""
    outs = _compiled(fn, dynamic=None)(torch.ones(2))
    assert outs[same[0]] is outs[same[1]]
    _same(list(outs), list(fn(torch.ones(2))))


def test_sym_pack():
    """TorchairSt.test_sym_pack (an int input used as a view size and a value)."""

    def fn(x, y, z):
        return z.view([x]) + y.view([x, 1]) + x

    _check(fn, (6, torch.randn(2, 3), torch.randn(3, 2)))


def test_input_processing_for_static_graph():
    """TorchairSt.test_input_processing_for_static_graph (contiguous, non-contiguous, int)."""

    def fn(x, y, z):
        return x + y + z

    x0, x1 = torch.randn(2, 4), torch.randn(4, 2).t()
    _check(fn, (x0, x0, x0), (x0, x0, x0), (x0, x1, x0), (x0, x1, x0), dynamic=False)
    _check(fn, (x0, x1, 1), (x0, x1, 1), dynamic=False)


def test_input_processing_for_dynamic_graph():
    """TorchairSt.test_input_processing_for_dynamic_graph."""

    def fn(p, x, y, z):
        return x + y + z

    x0 = torch.randn(2, 4)
    x1a, x1b = torch.randn(2, 5)[:, 1:], torch.randn(2, 5)[:, :4]
    x3 = torch.randn(2, 2, 4)[:, 1, :]
    calls = [(x0, x0, x0, x0)] * 2 + [(x0, x1a, x0, x0)] * 2 + [(x0, x1b, x0, x0)] * 2
    calls += [(3, x0, x1b, 1)] * 2 + [(x3, x0, x1b, 1)] * 2
    _check(fn, *calls)


def test_torch_sym():
    """TorchairSt.test_torch_sym (a float computed from sizes, 10 shapes; float32 in GE)."""

    def fn(x):
        assert len(x.size()) >= 1
        return float(x.size(-1)) + 1 / math.sqrt(x.size(-1))

    compiled = _compiled(fn, dynamic=True)
    for i in range(10, 20):
        x = torch.randn(10, i, i + 1)
        assert compiled(x) == pytest.approx(fn(x), rel=1e-6)


def test_remove_sym():
    """TorchairSt.test_remove_sym (sizes to ones/cat/split with a list input)."""

    def fn(x, y, z):
        x = torch.cat([torch.ones(x.size()), torch.ones(y.size())])
        x = torch.ones(x.size())
        x = torch.split(x, z, dim=0)
        return x[-1], x[0]

    calls = [(torch.randn(n, n), torch.randn(n, n), [n, n]) for n in (2, 3, 4)]
    _check(fn, *calls)


# -- outputs that are views of inputs --------------------------------------------------------


@pytest.mark.parametrize(
    "name,fn,dynamic,shape,size,stride,offset",
    [
        ("dynamic_sym", lambda x: x[0:2, 0:2].transpose(0, 1), True, (4, 4), (2, 2), (1, 4), 0),
        ("dynamic_symexpr", lambda x: x[1:4, 1:4].transpose(0, 1), True, (4, 4), (3, 3), (1, 4), 5),
        ("static", lambda x: x[1:2, 1:3].transpose(0, 1), False, (4, 4), (2, 1), (1, 4), 5),
    ],
)
def test_viewofoutput(name, fn, dynamic, shape, size, stride, offset):
    """TorchairSt.test_viewofoutput_dynamic_sym, _dynamic_symexpr and _static."""
    x = torch.randn(*shape)
    (res,) = _check(fn, (x,), dynamic=dynamic)
    assert _aliases(res, x)
    assert (tuple(res.size()), res.stride(), res.storage_offset()) == (size, stride, offset)


def _split_view(x, a):
    return torch.split(x[1:4, 1:4].transpose(0, 1), a)


def test_viewofoutput_dynamic_sym_from_different_input():
    """TorchairSt.test_viewofoutput_dynamic_sym_from_different_input."""
    x = torch.randn(4, 4)
    (res,) = _check(_split_view, (x, 2))
    assert all(_aliases(r, x) for r in res)
    assert [(tuple(r.size()), r.stride(), r.storage_offset()) for r in res] == [
        ((2, 3), (1, 4), 5),
        ((1, 3), (1, 4), 7),
    ]


def test_viewofoutput_dynamic_input_changed():
    """TorchairSt.test_viewofoutput_dynamic_input_changed (4x4, then 6x6)."""
    x4, x6 = torch.randn(4, 4), torch.randn(6, 6)
    res4, res6 = _check(_split_view, (x4, 2), (x6, 2))
    assert all(_aliases(r, x4) for r in res4)
    assert all(_aliases(r, x6) for r in res6)
    assert [(tuple(r.size()), r.stride(), r.storage_offset()) for r in res6] == [
        ((2, 3), (1, 6), 7),
        ((1, 3), (1, 6), 9),
    ]


@pytest.mark.parametrize(
    "fn",
    [
        lambda x, y: x[0:2, 0:1].transpose(0, 1) + y[0:2, 0:1].transpose(0, 1),
        lambda x, y: (x[0:2, 0:1].transpose(0, 1) + y[0:2, 0:1].transpose(0, 1))[
            0:1, 0:1
        ].transpose(0, 1),
    ],
    ids=["without_viewofoutput1", "without_viewofoutput2"],
)
def test_without_viewofoutput(fn):
    """TorchairSt.test_without_viewofoutput1 and 2: a computed result aliases no input."""
    x, y = torch.randn(4, 4), torch.randn(4, 4)
    (res,) = _check(fn, (x, y))
    assert not _aliases(res, x)
    assert not _aliases(res, y)


def test_view_as_real_dynamic_sym():
    """TorchairSt.test_view_as_real_dynamic_sym."""
    x = torch.complex(torch.randn(4, 4), torch.randn(4, 4))
    (res,) = _check(torch.view_as_real, (x,))
    assert _aliases(res, x)


def test_view_as_complex_dynamic_sym():
    """TorchairSt.test_view_as_complex_dynamic_sym."""
    x = torch.randn(4, 2)
    (res,) = _check(torch.view_as_complex, (x,))
    assert _aliases(res, x)


# -- sizes, dtypes, logs -----------------------------------------------------------------------


def test_topk():
    """TorchairSt.test_topk (result unused: the function returns None)."""

    def fn(x, b):
        torch.topk(x, b)

    _check(fn, (torch.randn(4), 3), (torch.randn(6, 7), 4))


def test_autograd_sym():
    """TorchairSt.test_autograd_sym, under no_grad: airgraph compiles inference graphs only.

    With grad on, an input that requires grad is refused (``InferenceOnlyError``,
    documented); TorchAir would trace the backward too.
    """

    def fn(x):
        x = x + 1
        return x, x.size()

    x = torch.randn(4, 2, 4, 4, requires_grad=True)
    compiled = _compiled(fn, dynamic=True)
    with pytest.raises(RuntimeError, match="inference graphs only"):
        compiled(x)
    torch._dynamo.reset()
    with torch.no_grad():
        res = _compiled(fn, dynamic=True)(x)
    assert res[1] == torch.Size([4, 2, 4, 4])
    _same(res[0], x.detach() + 1)


def test_autograd_symexpr():
    """TorchairSt.test_autograd_symexpr."""

    def fn(x):
        assert len(x.size()) >= 1
        b = math.sqrt(x.size(-1))
        return float(x.size(-1)) + b / b

    assert _compiled(fn, dynamic=True)(torch.randn(10, 1, 2)) == 3


def test_torch_floor():
    """TorchairSt.test_torch_floor (fullgraph)."""

    def fn(x):
        return math.floor(x.size(dim=0) + 1.0) * 3

    assert _compiled(fn, dynamic=True, fullgraph=True)(torch.randn(10, 2)) == 33


@pytest.mark.slow
def test_recompile_of_symsize():
    """TorchairSt.test_recompile_of_symsize (a second sequence length must not recompile)."""

    def fn(x, y):
        mm = torch.mm(x.reshape(-1, 8192), y.permute(1, 0))
        return mm.view(x.size(0), x.size(1), 3072)

    torch.manual_seed(0)
    y = torch.randn(3072, 8192)
    compiled = _compiled(fn, dynamic=True, fullgraph=True)
    with torch._dynamo.config.patch(error_on_recompile=True):
        for n in (190, 180):
            x = torch.randn(4, n, 8192)
            torch.testing.assert_close(compiled(x, y), fn(x, y), rtol=1e-4, atol=1e-3)


def test_torch_fp8():
    """TorchairSt.test_torch_fp8 (float8 casts in and out, fullgraph)."""

    def fn(x, y, z):
        return x.to(torch.float8_e4m3fn), y.to(torch.float).to(torch.float8_e5m2), z.to(torch.float)

    x, y, z = torch.randn(10, 2), torch.randn(10, 2), torch.randn(10, 2)
    args = (x, y.to(torch.float8_e5m2), z.to(torch.float8_e4m3fn))
    got = _compiled(fn, dynamic=True, fullgraph=True)(*args)
    assert [r.dtype for r in got] == [torch.float8_e4m3fn, torch.float8_e5m2, torch.float]
    for g, e in zip(got, fn(*args), strict=True):
        _same(g, e)


@pytest.mark.parametrize("dtype", [torch.uint16, torch.uint32, torch.uint64])
def test_torch_uint_16_32_64(dtype):
    """TorchairSt.test_torch_uint_16_32_64: differs on purpose.

    GE's ``Add`` prototype has no uint16/32/64 (TorchAir's stub does not check);
    airgraph refuses the graph up front, naming the op and the dtype.
    """
    x = torch.randint(0, 255, (2, 2), dtype=dtype)
    y = torch.randint(0, 255, (2, 2), dtype=dtype)
    with pytest.raises(RuntimeError, match=f"aten.add.Tensor: input 0 has dtype {dtype}"):
        _compiled(_add, dynamic=True, fullgraph=True)(x, y)


def test_sym_sum():
    """TorchairSt.test_sym_sum (a list of sizes summed in Python, fullgraph)."""

    def fn(xs):
        send_counts = [x.size(0) for x in xs]
        send_counts[0] = 1
        return [sum(send_counts[:i]) for i in range(len(send_counts))]

    xs = [torch.ones(n, 8, dtype=torch.bool) for n in (3, 5, 2, 7, 4)]
    assert _compiled(fn, dynamic=True, fullgraph=True)(xs) == fn(xs)


def test_uncontinuous_view():
    """TorchairSt.test_uncontinuous_view (fullgraph). This port found the view replay on a
    permuted intermediate failing (fixed: ``OutputViews.layouts``)."""

    def fn(x, y):
        z = (x + y).permute(0, 2, 1)
        z = (z + 1).permute(0, 2, 1)
        return z.reshape(y.size(0), 4096, 4)

    _check(fn, (torch.randn(1, 64, 256), torch.randn(4, 64, 256)), fullgraph=True)


def test_view_to_reshape():
    """TorchairSt.test_view_to_reshape (values; TorchAir's converter debug lines not checked)."""

    def fn(x, y):
        return ((x + y) + 1).view(y.size(0), 4096, 4)

    with torch.no_grad():
        _check(fn, (torch.randn(1, 64, 256), torch.randn(4, 64, 256)), fullgraph=True)


def _mm_abs(x):
    return torch.add(torch.mm(x, x), torch.sub(torch.abs(x), torch.add(x, 1)))


def _pass_lines(caplog):
    return [r.getMessage() for r in caplog.records if "post_grad_custom" in r.getMessage()]


def test_post_grad_no_custom_fn(caplog):
    """TorchairSt.test_post_grad_no_custom_fn: no user pass, no pass log lines."""
    with caplog.at_level(logging.DEBUG, logger=torchair.logger.name):
        _check(_mm_abs, (torch.randn(2, 2),))
    assert _pass_lines(caplog) == []


def test_post_grad_custom_fn(caplog):
    """TorchairSt.test_post_grad_custom_fn: TorchAir's debug lines around each user pass."""
    config = CompilerConfig()
    config.post_grad_custom_pre_pass = lambda gm, example_inputs, compile_config: None
    config.post_grad_custom_post_pass = lambda gm, example_inputs, compile_config: None
    x = torch.randn(2, 2)
    with caplog.at_level(logging.DEBUG, logger=torchair.logger.name):
        got = torch.compile(_mm_abs, backend=interpret_backend(config), dynamic=True)(x)
    _same(got, _mm_abs(x))
    lines = _pass_lines(caplog)
    for when in ("before", "after"):
        for which in ("pre", "post"):
            expected = f"[forward] {when} [post_grad_custom_{which}_pass] execution"
            assert any(expected in line for line in lines), (expected, lines)


# -- upstream cases not ported ---------------------------------------------------------------

_EXECUTOR = "(b) TorchAir's private executor TorchNpuGraph on a hand-built private GeGraph"
_CONCRETE = "(b) hooks TorchAir's private GeConcreteGraph to read its GE graph"
NOT_PORTED = {
    "test_real_input_option": "(b) private _GeInputInfo / _append_real_input_shape",
    "test_ge_api_support_position_passin_by_kv": "(b) private ge_apis / Const",
    "test_same_sym_pack_merge": _CONCRETE,
    "test_npu_executor_optimize_ref_op_copy": _EXECUTOR,
    "test_assign_input_in_netoutput": _EXECUTOR,
    "test_assign_input_not_netoutput": _EXECUTOR,
    "test_npu_executor_mix_npu_cpu_inputs": _EXECUTOR,
    "test_static_npu_executor_with_assigned_inputs": _EXECUTOR,
    "test_dynamic_npu_executor_with_assigned_inputs": _EXECUTOR,
    "test_output_processing_for_dynamic_graph": _EXECUTOR,
    "test_dynamic_npu_executor_with_internal_format": _EXECUTOR,
    "test_npu_static_executor": _EXECUTOR,
    "test_npu_static_executor_fp8_e8m0": _EXECUTOR,
    "test_npu_static_executor_with_memory_efficient": _EXECUTOR,
    "test_npu_graph_executor_func": "(b) private torchair.core._npu_graph_executor",
    "test_rng_into_graph": _CONCRETE,
    "test_no_broadcast_when_input_output_sym_size_is_equal": _CONCRETE,
    "test_permute_with_no_transpose": _CONCRETE,
    "test_permute_with_transpose": _CONCRETE,
    "test_error_code": "(b) private TorchNpuGraph error codes",
    "test_ge_const": "(b) private ge Const / _ge_dtype_to_ge_proto_dtype",
    "test_view_operator_optimize": _CONCRETE,
    "test_view_operator_optimize_to_reshape": _CONCRETE,
    "test_view_operator_repeat_gather": _CONCRETE,
    "test_view_operator_repeat_transpose": _CONCRETE,
    "test_squeeze_opt_for_dim_not_one": _CONCRETE,
    "test_frozen_input_static": _EXECUTOR,
    "test_frozen_input_dynamic": _EXECUTOR,
    "test_frozen_input_no_used": _EXECUTOR,
    "test_as_numpy": "(b) private torchair.fx_dumper._as_numpy",
    "test_dynamic_npu_executor_with_reuse_input_addrs": _EXECUTOR,
    "test_fx_and_ge_shape_not_same": _EXECUTOR,
    "test_fx_and_ge_shape_num_same": _EXECUTOR,
    "test_fx_and_ge_shape_size_not_same": _EXECUTOR,
    "test_check_cann_aclnn_avaliable": "(b) private torchair.core._torchair",
    "test_reset_resource": _CONCRETE,
    "test_output_always_with_correct_dtype": "(b) replaces a TorchAir converter (_ge_converter)",
    "test_custom_tensor_clone": "(b) replaces a TorchAir converter (_ge_converter)",
    "test_auto_converter": "(b) TorchAir's auto-converter: maps a Meta-only custom op to a "
    "CANN IR by name (CANN's IR registry; no CPU kernel to run here)",
    "test_infer_symbol": _CONCRETE,
    "test_run_input_none": _EXECUTOR,
    "test_run_input_not_tensor": _EXECUTOR,
    "test_autotune_input_none": _EXECUTOR,
    "test_autotune_input_not_tensor": _EXECUTOR,
    "test_run_optional_output_not_tensor": _EXECUTOR,
    "test_get_ir_def_invalid_op": "(b) private torchair.core._torchair.get_registered_ir_def",
    "test_ge_output_hif8": "(c) " + _EXECUTOR[4:] + ", NPU-only dtype hifloat8",
    "test_ge_output_fp8_e8m0": "(c) " + _EXECUTOR[4:] + ", NPU-only dtype float8_e8m0",
    "test_ge_output_fp4_e2m1": "(c) " + _EXECUTOR[4:] + ", NPU-only dtype float4_e2m1",
    "test_ge_output_fp4_e1m2": "(c) " + _EXECUTOR[4:] + ", NPU-only dtype float4_e1m2",
    "test_ge_output_hif8_dtype_check": "(c) " + _EXECUTOR[4:] + ", NPU-only dtype hifloat8",
    "test_ge_output_fp4_e1m2_dtype_check": "(c) " + _EXECUTOR[4:] + ", NPU-only dtype fp4",
    "test_create_torch_tensor_success": "(c) llm_datadist.create_npu_tensors: NPU memory",
    "test_create_torch_tensor_check_failed": "(c) llm_datadist.create_npu_tensors: NPU memory",
    "test_deadlock_check": "(c) " + _EXECUTOR[4:] + " with torch.npu streams",
    "test_npu_format_cast_via_cpu": "(c) NPU private formats (acl_format 29, FRACTAL_NZ)",
}


@pytest.mark.parametrize("upstream", sorted(NOT_PORTED))
def test_not_ported(upstream):
    """Upstream torchair_st.py cases that need TorchAir internals or an NPU (listed so the count shows)."""
    pytest.skip(f"torchair_st.py: TorchairSt.{upstream}: {NOT_PORTED[upstream]}")
