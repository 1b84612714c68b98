"""NN converters: softmax, log-softmax, layer norm, embedding, convolution; a small block."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from airgraph_core.ir.graph import parse_edge
from airgraph_core.lowering import UnsupportedOpError
from airgraph_core.targets.host.semantics import lookup_host_op
from airgraph_core.testing import check_lowering

FLOATS = [torch.float32, torch.float16, torch.bfloat16]


def make(shape, dtype=torch.float32):
    return torch.randn(shape).to(dtype)


# --- softmax ----------------------------------------------------------------------


@pytest.mark.parametrize("dim", [-1, 0, 1])
@pytest.mark.parametrize("shape", [(4, 6), (2, 3, 5)])
@pytest.mark.parametrize("dtype", FLOATS)
def test_softmax(dtype, shape, dim):
    g = check_lowering(lambda x: torch.softmax(x, dim), [make(shape, dtype)])
    (op,) = g.ops_of_type("SoftmaxV2")
    assert op.attr("axes") == (dim,) and op.attr("half_to_float") is False


@pytest.mark.parametrize("dim", [-1, 1])
@pytest.mark.parametrize("dtype", FLOATS)
def test_log_softmax(dtype, dim):
    check_lowering(
        lambda x: torch.log_softmax(x, dim), [make((2, 3, 5), dtype)], expect_ops=["LogSoftmaxV2"]
    )


@pytest.mark.parametrize("dtype", FLOATS)
def test_softmax_to_float32(dtype):
    # softmax(dtype=float32) reaches us as a Cast then a float32 _softmax.
    cast = ["Cast"] if dtype is not torch.float32 else []
    check_lowering(
        lambda x: torch.softmax(x, -1, dtype=torch.float32),
        [make((3, 7), dtype)],
        expect_ops=cast + ["SoftmaxV2"],
    )
    check_lowering(
        lambda x: torch.log_softmax(x, -1, dtype=torch.float32),
        [make((3, 7), dtype)],
        expect_ops=cast + ["LogSoftmaxV2"],
    )


def test_softmax_half_to_float_semantics():
    # Eager CPU cannot run _softmax(half_to_float=True), so check the host semantics directly.
    x = make((3, 7), torch.float16)
    sem = lookup_host_op("SoftmaxV2").fn
    y = sem([x], {"axes": [-1], "half_to_float": True})
    assert y.dtype == torch.float32
    torch.testing.assert_close(y, torch.softmax(x.float(), -1), atol=1e-3, rtol=1e-3)
    y2 = sem([x.float()], {"axes": [0, 1]})
    torch.testing.assert_close(y2, torch.softmax(x.float().flatten(), 0).reshape(3, 7))


@pytest.mark.parametrize("dtype", FLOATS)
def test_softmax_dynamic(dtype):
    g = check_lowering(lambda x: torch.softmax(x, -1), [make((2, 3, 5, 5), dtype)], dynamic=True)
    assert -1 in g.ops_of_type("SoftmaxV2")[0].output_descs[0].shape


# --- layer norm -------------------------------------------------------------------


@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("norm_shape", [(8,), (3, 8)])
@pytest.mark.parametrize("dtype", FLOATS)
def test_layer_norm(dtype, norm_shape, affine):
    ln = torch.nn.LayerNorm(norm_shape, eps=1e-6, elementwise_affine=affine).to(dtype)
    if affine:
        with torch.no_grad():
            ln.weight.normal_()
            ln.bias.normal_()
    g = check_lowering(ln, [make((2, 3, 8), dtype)], expect_ops=["LayerNormV4"])
    (op,) = g.ops_of_type("LayerNormV4")
    assert op.attr("epsilon") == pytest.approx(1e-6)
    producers = [g.op(parse_edge(edge)[0]).type for edge in op.inputs[2:4]]
    # Without affine, gamma/beta are ones/zeros Fills, as TorchAir feeds them.
    assert producers == (["Data", "Data"] if affine else ["Fill", "Fill"])


@pytest.mark.parametrize("dtype", FLOATS)
def test_native_layer_norm_mean_rstd(dtype):
    w, b = make((8,), dtype), make((8,), dtype)
    check_lowering(
        lambda x: torch.native_layer_norm(x, [8], w, b, 1e-5),
        [make((2, 5, 8), dtype) * 3 + 1],
    )


@pytest.mark.parametrize("dtype", FLOATS)
def test_layer_norm_dynamic(dtype):
    ln = torch.nn.LayerNorm(16).to(dtype)
    g = check_lowering(ln, [make((2, 7, 16), dtype)], dynamic=True, expect_ops=["LayerNormV4"])
    assert g.ops_of_type("LayerNormV4")[0].output_descs[0].shape[:2] == (-1, -1)


# --- embedding --------------------------------------------------------------------


@pytest.mark.parametrize("index_dtype", [torch.int64, torch.int32])
@pytest.mark.parametrize("dtype", FLOATS)
def test_embedding(dtype, index_dtype):
    emb = torch.nn.Embedding(10, 4, padding_idx=0).to(dtype)
    ids = torch.tensor([[0, 3, 9], [2, 2, 5]], dtype=index_dtype)
    g = check_lowering(emb, [ids], expect_ops=["GatherV2"])
    (op,) = g.ops_of_type("GatherV2")
    assert g.op(op.inputs[2].partition(":")[0]).type == "Const"


def test_embedding_dynamic():
    emb = torch.nn.Embedding(50, 8)
    check_lowering(emb, [torch.randint(0, 50, (2, 7))], dynamic=True, expect_ops=["GatherV2"])


# --- convolution ------------------------------------------------------------------


@pytest.mark.parametrize("padding", ["valid", "same"])
@pytest.mark.parametrize("dilation", [1, 2])
def test_functional_conv2d_string_padding(padding, dilation):
    # Scalar stride/dilation and a string padding reach aten.convolution as one-value lists.
    w = make((6, 4, 3, 5), torch.float32)
    check_lowering(
        lambda x: F.conv2d(x, w, padding=padding, dilation=dilation),
        [make((2, 4, 7, 11), torch.float32)],
        expect_ops=["Conv2D"],
    )


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("dtype", FLOATS)
def test_conv1d_whisper_like(dtype, stride, bias):
    conv = torch.nn.Conv1d(4, 6, kernel_size=3, stride=stride, padding=1, bias=bias).to(dtype)
    g = check_lowering(
        conv, [make((2, 4, 11), dtype)], expect_ops=["Unsqueeze", "Conv2D", "Squeeze"]
    )
    (op,) = g.ops_of_type("Conv2D")
    assert op.attr("strides") == (1, 1, 1, stride)
    assert op.attr("pads") == (0, 0, 1, 1)
    assert op.attr("data_format") == "NCHW"


def test_conv1d_dynamic_batch_and_length():
    conv = torch.nn.Conv1d(4, 6, kernel_size=3, stride=2, padding=1)
    check_lowering(conv, [make((2, 4, 12))], dynamic=True, expect_ops=["Conv2D"])


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(kernel_size=3, padding=1),
        dict(kernel_size=(3, 2), stride=(2, 1), padding=(1, 0), dilation=(1, 2)),
        dict(kernel_size=1, groups=2),
        dict(kernel_size=3, padding="valid", stride=2),
        dict(kernel_size=3, padding="same"),
        dict(kernel_size=(3, 5), padding="same", dilation=2),
    ],
)
@pytest.mark.parametrize("dtype", FLOATS)
def test_conv2d(dtype, kwargs):
    conv = torch.nn.Conv2d(4, 6, **kwargs).to(dtype)
    g = check_lowering(conv, [make((2, 4, 7, 6), dtype)], expect_ops=["Conv2D"])
    assert "Unsqueeze" not in g.op_types()


@pytest.mark.parametrize("bias", [True, False])
def test_conv2d_descriptors_are_nchw_as_torchair_marks_them(bias):
    # GE reads Conv2D's layout from its descriptors (the prototype's default
    # data_format is NHWC); TorchAir marks x, filter and bias NCHW.
    conv = torch.nn.Conv2d(3, 4, 3, bias=bias)
    graph = check_lowering(conv, [make((1, 3, 6, 6))], expect_ops=["Conv2D"])
    (op,) = graph.ops_of_type("Conv2D")
    fed = [d.layout for d, e in zip(op.input_descs, op.inputs) if e]
    assert fed == ["NCHW"] * (3 if bias else 2)
    assert op.attr("data_format") == "NCHW" and op.output_descs[0].layout == "NCHW"


def test_conv_transpose_module():
    conv = torch.nn.ConvTranspose1d(4, 6, kernel_size=3)
    check_lowering(conv, [make((2, 4, 7))], expect_ops=["Conv2DBackpropInput", "Add"])


def test_conv_transpose_dynamic_is_unsupported():
    conv = torch.nn.ConvTranspose2d(4, 6, kernel_size=3)
    with pytest.raises(UnsupportedOpError, match="static output shape"):
        check_lowering(conv, [make((2, 4, 5, 5))], dynamic=True)


# --- errors and a small block -----------------------------------------------------


@pytest.mark.parametrize(
    "fn,x",
    [
        (lambda x: F.layer_norm(x, [3]), torch.ones(2, 3, dtype=torch.float64)),
        (lambda x: F.conv1d(x, torch.ones(2, 2, 1, dtype=x.dtype)), torch.ones(1, 2, 3).double()),
    ],
    ids=["layer_norm_float64", "conv1d_float64"],
)
def test_unsupported_dtype_is_reported(fn, x):
    with pytest.raises(UnsupportedOpError, match="has dtype torch"):
        check_lowering(fn, [x])


class Block(torch.nn.Module):
    """Linear -> LayerNorm -> Linear -> softmax: the matmul/nn/reduction pieces of a layer."""

    def __init__(self, d: int = 16) -> None:
        super().__init__()
        self.up = torch.nn.Linear(d, 2 * d)
        self.norm = torch.nn.LayerNorm(2 * d)
        self.down = torch.nn.Linear(2 * d, d)

    def forward(self, x):
        return torch.softmax(self.down(self.norm(self.up(x))), dim=-1)


@pytest.mark.parametrize("dynamic", [False, True])
@pytest.mark.parametrize("dtype", FLOATS)
def test_linear_layer_norm_softmax_block(dtype, dynamic):
    block = Block().to(dtype)
    check_lowering(
        block,
        [make((2, 5, 16), dtype)],
        dynamic=dynamic,
        expect_ops=["MatMulV2", "LayerNormV4", "SoftmaxV2"],
        atol=2e-2 if dtype is torch.bfloat16 else None,
        rtol=2e-2 if dtype is torch.bfloat16 else None,
    )


@pytest.mark.slow
def test_block_inductor():
    check_lowering(Block(8), [make((2, 3, 8))], modes=("interpret", "inductor"))


# --- weight norm ------------------------------------------------------------------


@pytest.mark.parametrize("dim", [0, 2])  # ATen's kernel takes the first or last dim only
@pytest.mark.parametrize("dtype", FLOATS)
def test_weight_norm_interface(dtype, dim):
    v = make((4, 3, 5), dtype)
    g_shape = [1, 1, 1]
    g_shape[dim] = v.shape[dim]
    g = make(tuple(g_shape), dtype)
    # For float16 the CPU kernel returns a float32 norm where its meta function
    # (what a compiled graph declares) says float16: compare the weight only.
    n_out = 1 if dtype == torch.float16 else 2
    check_lowering(
        lambda v, g: torch.ops.aten._weight_norm_interface(v, g, dim)[:n_out], [v, g],
        expect_ops=["ReduceSum", "Sqrt"],
    )  # fmt: skip


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_weight_norm_conv1d(dtype):
    # wav2vec2's positional conv: weight norm over dim 2, grouped conv1d.
    conv = torch.nn.utils.parametrizations.weight_norm(
        torch.nn.Conv1d(8, 8, 5, padding=2, groups=2), dim=2
    ).to(dtype)
    atol = 1e-5 if dtype == torch.float32 else 3e-2
    check_lowering(conv, [make((2, 8, 12), dtype)], atol=atol, rtol=atol)


# --- transposed convolution --------------------------------------------------------

# (input shape, weight shape, stride, padding, output_padding, dilation, groups)
TRANSPOSED = [
    ((2, 4, 5, 6), (4, 3, 3, 3), 2, 1, 1, 1, 1),
    ((1, 4, 5, 5), (4, 2, 2, 3), (2, 1), (0, 1), (1, 0), (1, 2), 2),
    ((2, 4, 7), (4, 3, 3), 2, 1, 1, 1, 1),
    ((1, 2, 3, 4, 4), (2, 3, 3, 2, 3), (1, 2, 2), (1, 0, 1), 0, 1, 1),
]


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("case", TRANSPOSED)
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_transposed_convolution(dtype, case, bias):
    shape, w_shape, stride, padding, out_pad, dilation, groups = case
    weight = make(w_shape, dtype)
    b = make((w_shape[1] * groups,), dtype) if bias else None
    fn = {3: F.conv_transpose1d, 4: F.conv_transpose2d, 5: F.conv_transpose3d}[len(shape)]
    op = "Conv3DBackpropInput" if len(shape) == 5 else "Conv2DBackpropInput"
    tol = 1e-4 if dtype == torch.float32 else 3e-2
    check_lowering(
        lambda x: fn(x, weight, b, stride, padding, out_pad, groups, dilation),
        [make(shape, dtype)], expect_ops=[op], atol=tol, rtol=tol,
    )  # fmt: skip
