"""The case list of the TorchAir comparison (``nox -s oracle``).

Each :class:`Case` is a small inference function with a recipe for its example
inputs. ``compare.py`` lowers every case twice, with airgraph and with TorchAir
(through ``shared/tools/torchair_oracle``), and compares the GE graphs.

Cases cover every converter family (``elementwise``, ``matmul``,
``reduction``, ``shape``, ``nn``, ``index``, ``creation``, ``symbolic``,
``collective``), the dtypes fp32, fp16, bf16 and int64, and both static
(``dynamic=False``) and dynamic (``dynamic=True``) tracing. Names are ``<function>[_<dtype>][@dyn]``.

A function whose result is only a view of an input would give an empty graph
on both sides (AOTAutograd rebuilds such outputs outside the compiled graph),
so view cases end with a computing op (``* 2``, ``+ 1``).

To add a case, add an entry to the right ``_<family>_cases`` function; the
names must stay unique (checked at import).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterator
from typing import Any

import torch
import torch.nn.functional as F

__all__ = ["CASES", "Case", "FAMILIES", "select"]

FAMILIES = (
    "elementwise",
    "matmul",
    "reduction",
    "shape",
    "nn",
    "index",
    "creation",
    "symbolic",
    "collective",
)

F32, F16, BF16, I64 = torch.float32, torch.float16, torch.bfloat16, torch.int64
_DTYPE_TAGS = {F32: "fp32", F16: "fp16", BF16: "bf16", I64: "int64", torch.bool: "bool"}


@dataclasses.dataclass(frozen=True)
class Case:
    """One function to lower with both airgraph and TorchAir.

    Attributes:
        name: unique, ``<function>[_<dtype>][@dyn]``.
        family: the converter family it exercises (one of :data:`FAMILIES`).
        fn: the function; positional tensor arguments, returns tensors.
        make_inputs: builds fresh example inputs (deterministic).
        dynamic: trace with ``torch.compile(dynamic=True)``.
        distributed: needs a default process group (``compare.py`` starts a
            1-rank gloo group in each worker that runs such a case).
        config: ``(dotted option, value)`` pairs set on both sides'
            ``CompilerConfig`` (TorchAir's option names), e.g.
            ``(("experimental_config.enable_ref_data", True),)``. TorchAir's
            graph of such a case is captured after its first-call step
            ``update_graph_with_runtime``, where options such as
            ``enable_ref_data`` act.
    """

    name: str
    family: str
    fn: Callable[..., Any]
    make_inputs: Callable[[], tuple[Any, ...]]
    dynamic: bool = False
    distributed: bool = False
    config: tuple[tuple[str, Any], ...] = ()


def _rand(shape: tuple[int, ...], dtype: torch.dtype, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    if dtype is torch.bool:
        return torch.rand(shape, generator=g) > 0.5
    if dtype.is_floating_point:
        return torch.randn(shape, generator=g).to(dtype)
    return torch.randint(-5, 6, shape, generator=g, dtype=dtype)


def _idx(shape: tuple[int, ...], high: int, seed: int = 7) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, high, shape, generator=g, dtype=torch.int64)


def _inputs(*specs: tuple[tuple[int, ...], torch.dtype] | torch.Tensor) -> Callable[[], tuple]:
    """A recipe: ``(shape, dtype)`` pairs become seeded random tensors; tensors are cloned."""

    def make() -> tuple:
        out = []
        for i, spec in enumerate(specs):
            if isinstance(spec, torch.Tensor):
                out.append(spec.clone())
            else:
                out.append(_rand(spec[0], spec[1], seed=i))
        return tuple(out)

    return make


def _case(
    family: str,
    name: str,
    fn: Callable[..., Any],
    make_inputs: Callable[[], tuple],
    *,
    dtype: torch.dtype | None = None,
    dynamic: bool = False,
    config: tuple[tuple[str, Any], ...] = (),
) -> Case:
    full = (
        name + (f"_{_DTYPE_TAGS[dtype]}" if dtype is not None else "") + ("@dyn" if dynamic else "")
    )
    return Case(
        full, family, fn, make_inputs, dynamic, distributed=family == "collective", config=config
    )


# --------------------------------------------------------------------------- elementwise
def _elementwise_cases() -> Iterator[Case]:
    fam = "elementwise"
    binary: dict[str, Callable[..., Any]] = {
        "add": torch.add,
        "sub": torch.sub,
        "mul": torch.mul,
        "maximum": torch.maximum,
        "minimum": torch.minimum,
        "eq": torch.eq,
        "lt": torch.lt,
    }
    for name, op in binary.items():
        for dt in (F32, F16, BF16, I64):
            if name in ("eq", "lt", "maximum", "minimum") and dt in (BF16,):
                continue
            yield _case(fam, name, op, _inputs(((4, 8), dt), ((4, 8), dt)), dtype=dt)
    yield _case(fam, "add_broadcast", torch.add, _inputs(((4, 8), F32), ((8,), F32)), dtype=F32)
    yield _case(fam, "div", torch.div, _inputs(((4, 8), F32), ((4, 8), F32)), dtype=F32)
    yield _case(
        fam,
        "div_floor",
        lambda x, y: torch.div(x, y, rounding_mode="floor"),
        _inputs(((4, 8), F32), ((4, 8), F32)),
        dtype=F32,
    )
    yield _case(fam, "floor_divide", lambda x: x // 3, _inputs(((4, 8), I64)), dtype=I64)
    yield _case(fam, "remainder", lambda x: x % 3, _inputs(((4, 8), I64)), dtype=I64)
    yield _case(
        fam,
        "ne_ge_le_gt",
        lambda x, y: (x != y, x >= y, x <= y, x > y),
        _inputs(((4, 8), F32), ((4, 8), F32)),
        dtype=F32,
    )
    for dt in (F32, F16, BF16):
        yield _case(
            fam,
            "add_alpha",
            lambda x, y: torch.add(x, y, alpha=2.5),
            _inputs(((4, 8), dt), ((4, 8), dt)),
            dtype=dt,
        )
        yield _case(
            fam, "mul_scalar", lambda x: x * (1 / math.sqrt(64)), _inputs(((4, 8), dt)), dtype=dt
        )
        yield _case(fam, "add_scalar", lambda x: x + 0.1, _inputs(((4, 8), dt)), dtype=dt)
        yield _case(fam, "div_scalar", lambda x: x / 3.0, _inputs(((4, 8), dt)), dtype=dt)
    yield _case(
        fam,
        "sub_alpha",
        lambda x, y: torch.sub(x, y, alpha=0.5),
        _inputs(((4, 8), F16), ((4, 8), F16)),
        dtype=F16,
    )
    yield _case(fam, "rsub_scalar", lambda x: 1.0 - x, _inputs(((4, 8), F32)), dtype=F32)
    yield _case(fam, "add_scalar", lambda x: x + 3, _inputs(((4, 8), I64)), dtype=I64)
    unary: dict[str, Callable[..., Any]] = {
        "relu": torch.relu,
        "sigmoid": torch.sigmoid,
        "tanh": torch.tanh,
        "exp": torch.exp,
        "log": torch.log,
        "sqrt": torch.sqrt,
        "rsqrt": torch.rsqrt,
        "erf": torch.erf,
        "abs": torch.abs,
        "neg": torch.neg,
        "sin_cos": lambda x: torch.sin(x) + torch.cos(x),
        "reciprocal": torch.reciprocal,
        "floor_ceil": lambda x: torch.floor(x) + torch.ceil(x),
        "sign": torch.sign,
        "isnan_isinf": lambda x: (torch.isnan(x), torch.isinf(x)),
        "pow2": lambda x: x.pow(2),
        "pow_tensor": lambda x: torch.pow(x.abs(), x),
        "silu": F.silu,
        "gelu": F.gelu,
        "gelu_tanh": lambda x: F.gelu(x, approximate="tanh"),
        "clamp": lambda x: torch.clamp(x, -0.5, 0.5),
        "clamp_min": lambda x: torch.clamp_min(x, 0.1),
        "log1p_expm1": lambda x: torch.log1p(x.abs()) + torch.expm1(x),
    }
    for name, op in unary.items():
        yield _case(fam, name, op, _inputs(((4, 8), F32)), dtype=F32)
    for name in ("gelu", "silu", "sigmoid", "rsqrt"):
        for dt in (F16, BF16):
            yield _case(fam, name, unary[name], _inputs(((4, 8), dt)), dtype=dt)
    yield _case(fam, "abs_neg", lambda x: torch.abs(x) - x, _inputs(((4, 8), I64)), dtype=I64)
    yield _case(fam, "cast_fp16", lambda x: x.to(torch.float16), _inputs(((4, 8), F32)), dtype=F32)
    yield _case(fam, "cast_float", lambda x: x.float(), _inputs(((4, 8), I64)), dtype=I64)
    yield _case(
        fam,
        "where",
        torch.where,
        _inputs(((4, 8), torch.bool), ((4, 8), F32), ((4, 8), F32)),
        dtype=F32,
    )
    yield _case(
        fam,
        "where_scalar",
        lambda m, x: torch.where(m, x, 0.0),
        _inputs(((4, 8), torch.bool), ((4, 8), F16)),
        dtype=F16,
    )
    yield _case(
        fam,
        "logical",
        lambda a, b: (a & b, a | b, ~a, a ^ b),
        _inputs(((4, 8), torch.bool), ((4, 8), torch.bool)),
    )
    yield _case(fam, "bitwise_not", torch.bitwise_not, _inputs(((4, 8), I64)), dtype=I64)
    yield _case(
        fam,
        "masked_fill",
        lambda x, m: x.masked_fill(m, -1e4),
        _inputs(((4, 8), F16), ((4, 8), torch.bool)),
        dtype=F16,
    )
    for name in ("add", "mul", "gelu"):
        op = binary.get(name) or unary[name]
        n_args = 2 if name in binary else 1
        yield _case(fam, name, op, _inputs(*[((4, 8), F32)] * n_args), dtype=F32, dynamic=True)
    yield _case(
        fam, "mul_scalar", lambda x: x * 0.125, _inputs(((4, 8), F16)), dtype=F16, dynamic=True
    )
    yield from _storage_dtype_cases(fam)


def _storage_dtype_cases(fam: str) -> Iterator[Case]:
    """float8 and uint16: casts and moves only (eager has no arithmetic on them)."""
    fp8 = (torch.randn(4, 8, generator=torch.Generator().manual_seed(3)) * 4).to(
        torch.float8_e4m3fn
    )
    yield _case(fam, "cast_fp8e4m3fn_to_bf16", lambda x: x.to(BF16) * 2, _inputs(fp8))
    yield _case(
        fam,
        "cast_to_fp8e5m2",
        lambda x: (x * 2).to(torch.float8_e5m2),
        _inputs(((4, 8), F32)),
    )
    u16 = torch.arange(32, dtype=torch.int64).view(4, 8).to(torch.uint16)
    yield _case(
        fam, "uint16_reshape_cast", lambda x: x.reshape(-1).to(torch.int32) + 1, _inputs(u16)
    )


# --------------------------------------------------------------------------- matmul
def _matmul_cases() -> Iterator[Case]:
    fam = "matmul"
    for dt in (F32, F16, BF16):
        yield _case(fam, "mm", torch.mm, _inputs(((4, 16), dt), ((16, 8), dt)), dtype=dt)
        yield _case(
            fam,
            "linear_bias",
            F.linear,
            _inputs(((4, 16), dt), ((8, 16), dt), ((8,), dt)),
            dtype=dt,
        )
    yield _case(fam, "bmm", torch.bmm, _inputs(((2, 4, 16), F32), ((2, 16, 8), F32)), dtype=F32)
    yield _case(
        fam, "matmul_3d_2d", torch.matmul, _inputs(((2, 4, 16), F16), ((16, 8), F16)), dtype=F16
    )
    yield _case(
        fam,
        "matmul_4d",
        torch.matmul,
        _inputs(((2, 3, 4, 16), F32), ((2, 3, 16, 5), F32)),
        dtype=F32,
    )
    yield _case(
        fam, "linear_nobias", F.linear, _inputs(((2, 4, 16), F32), ((8, 16), F32)), dtype=F32
    )
    yield _case(
        fam,
        "linear_bias_3d",
        F.linear,
        _inputs(((2, 4, 16), F16), ((8, 16), F16), ((8,), F16)),
        dtype=F16,
    )
    yield _case(
        fam,
        "addmm_beta_alpha",
        lambda b, x, w: torch.addmm(b, x, w, beta=0.5, alpha=2.0),
        _inputs(((4, 8), F32), ((4, 16), F32), ((16, 8), F32)),
        dtype=F32,
    )
    yield _case(
        fam,
        "baddbmm",
        lambda b, x, y: torch.baddbmm(b, x, y, alpha=0.5),
        _inputs(((2, 4, 8), F32), ((2, 4, 16), F32), ((2, 16, 8), F32)),
        dtype=F32,
    )
    yield _case(
        fam, "mm_t", lambda x, w: x @ w.t(), _inputs(((4, 16), F32), ((8, 16), F32)), dtype=F32
    )
    yield _case(
        fam,
        "linear_bias",
        F.linear,
        _inputs(((3, 16), F32), ((8, 16), F32), ((8,), F32)),
        dtype=F32,
        dynamic=True,
    )
    yield _case(
        fam,
        "bmm",
        torch.bmm,
        _inputs(((2, 4, 16), F16), ((2, 16, 8), F16)),
        dtype=F16,
        dynamic=True,
    )


# --------------------------------------------------------------------------- reduction
def _reduction_cases() -> Iterator[Case]:
    fam = "reduction"
    for dt in (F32, F16, BF16):
        yield _case(fam, "sum_dim", lambda x: x.sum(-1), _inputs(((4, 8), dt)), dtype=dt)
        yield _case(
            fam, "mean_keepdim", lambda x: x.mean(-1, keepdim=True), _inputs(((4, 8), dt)), dtype=dt
        )
    yield _case(fam, "sum_all", lambda x: x.sum(), _inputs(((4, 8), F32)), dtype=F32)
    yield _case(fam, "sum_dim", lambda x: x.sum(1), _inputs(((4, 8), I64)), dtype=I64)
    yield _case(fam, "mean_dims", lambda x: x.mean((0, 2)), _inputs(((2, 4, 8), F32)), dtype=F32)
    yield _case(
        fam,
        "mean_dtype",
        lambda x: x.mean(-1, dtype=torch.float32),
        _inputs(((4, 8), F16)),
        dtype=F16,
    )
    yield _case(
        fam, "amax_amin", lambda x: (x.amax(-1), x.amin(0)), _inputs(((4, 8), F32)), dtype=F32
    )
    yield _case(fam, "max_dim", lambda x: x.max(dim=-1), _inputs(((4, 8), F32)), dtype=F32)
    yield _case(
        fam, "min_dim", lambda x: x.min(dim=1, keepdim=True), _inputs(((4, 8), F16)), dtype=F16
    )
    yield _case(fam, "argmax", lambda x: x.argmax(-1), _inputs(((4, 8), F32)), dtype=F32)
    yield _case(fam, "argmin", lambda x: x.argmin(1), _inputs(((4, 8), F32)), dtype=F32)
    yield _case(fam, "argmax_all", lambda x: x.argmax(), _inputs(((4, 8), I64)), dtype=I64)
    yield _case(fam, "cumsum", lambda x: x.cumsum(-1), _inputs(((4, 8), F32)), dtype=F32)
    yield _case(fam, "cumsum", lambda x: x.cumsum(0), _inputs(((4, 8), I64)), dtype=I64)
    yield _case(fam, "topk", lambda x: torch.topk(x, 3), _inputs(((4, 8), F32)), dtype=F32)
    yield _case(
        fam,
        "topk_smallest",
        lambda x: torch.topk(x, 2, dim=0, largest=False),
        _inputs(((4, 8), F16)),
        dtype=F16,
    )
    yield _case(
        fam,
        "sort",
        lambda x: torch.sort(x, dim=-1, descending=True),
        _inputs(((4, 8), F32)),
        dtype=F32,
    )
    yield _case(fam, "prod", lambda x: x.prod(-1), _inputs(((4, 8), F32)), dtype=F32)
    yield _case(fam, "any_all", lambda m: (m.any(-1), m.all()), _inputs(((4, 8), torch.bool)))
    yield _case(fam, "max_all", lambda x: x.max(), _inputs(((4, 8), F32)), dtype=F32)
    yield _case(
        fam, "sum_dim", lambda x: x.sum(-1), _inputs(((4, 8), F32)), dtype=F32, dynamic=True
    )
    yield _case(
        fam,
        "mean_keepdim",
        lambda x: x.mean(-1, keepdim=True),
        _inputs(((3, 8), F16)),
        dtype=F16,
        dynamic=True,
    )
    yield _case(
        fam, "argmax", lambda x: x.argmax(-1), _inputs(((4, 8), F32)), dtype=F32, dynamic=True
    )
    yield _case(
        fam, "topk", lambda x: torch.topk(x, 3), _inputs(((4, 8), F32)), dtype=F32, dynamic=True
    )


# --------------------------------------------------------------------------- shape
def _shape_cases() -> Iterator[Case]:
    fam = "shape"
    yield _case(fam, "view", lambda x: x.view(8, 4) + 1, _inputs(((4, 8), F32)), dtype=F32)
    yield _case(
        fam, "reshape_flatten", lambda x: x.flatten(1) * 2, _inputs(((2, 4, 8), F16)), dtype=F16
    )
    yield _case(
        fam,
        "view_chain",
        lambda x: x.view(32).view(4, 8).view(2, 16) + 1,
        _inputs(((4, 8), F32)),
        dtype=F32,
    )
    yield _case(
        fam, "permute", lambda x: x.permute(2, 0, 1) + 1, _inputs(((2, 4, 8), F32)), dtype=F32
    )
    yield _case(
        fam, "permute_size1", lambda x: x.permute(1, 0, 2) + 1, _inputs(((1, 4, 8), F32)), dtype=F32
    )
    yield _case(
        fam, "transpose", lambda x: x.transpose(-1, -2) + 1, _inputs(((2, 4, 8), BF16)), dtype=BF16
    )
    yield _case(
        fam,
        "transpose_twice",
        lambda x: x.transpose(0, 1).transpose(0, 1) + 1,
        _inputs(((4, 8), F32)),
        dtype=F32,
    )
    yield _case(fam, "t", lambda x: x.t() + 1, _inputs(((4, 8), I64)), dtype=I64)
    yield _case(fam, "expand", lambda x: x.expand(4, 8) + 1, _inputs(((1, 8), F32)), dtype=F32)
    yield _case(
        fam,
        "unsqueeze_squeeze",
        lambda x: x.unsqueeze(1).squeeze(-1) + 1,
        _inputs(((4, 1), F32)),
        dtype=F32,
    )
    yield _case(
        fam, "squeeze_all", lambda x: x.squeeze() + 1, _inputs(((1, 4, 1, 8), F32)), dtype=F32
    )
    yield _case(
        fam,
        "cat",
        lambda x, y: torch.cat([x, y], dim=-1),
        _inputs(((4, 8), F32), ((4, 3), F32)),
        dtype=F32,
    )
    yield _case(
        fam,
        "cat",
        lambda x, y: torch.cat([x, y], dim=0),
        _inputs(((4, 8), I64), ((2, 8), I64)),
        dtype=I64,
    )
    yield _case(
        fam,
        "stack",
        lambda x, y: torch.stack([x, y], dim=1),
        _inputs(((4, 8), F16), ((4, 8), F16)),
        dtype=F16,
    )
    yield _case(
        fam, "unbind", lambda x: [t * 2 for t in x.unbind(1)], _inputs(((4, 3), F32)), dtype=F32
    )
    yield _case(
        fam,
        "split",
        lambda x: [t * 2 for t in x.split(3, dim=-1)],
        _inputs(((4, 8), F32)),
        dtype=F32,
    )
    yield _case(
        fam,
        "split_unused",
        lambda x: x.split([2, 6], dim=1)[1] + 1,
        _inputs(((4, 8), F32)),
        dtype=F32,
    )
    yield _case(
        fam,
        "chunk",
        lambda x: [t * 2 for t in torch.chunk(x, 2, dim=0)],
        _inputs(((4, 8), BF16)),
        dtype=BF16,
    )
    yield _case(fam, "slice", lambda x: x[:, 2:6] * 2, _inputs(((4, 8), F32)), dtype=F32)
    yield _case(fam, "slice_step", lambda x: x[1:, ::2] * 2, _inputs(((4, 8), F32)), dtype=F32)
    yield _case(fam, "slice_open_end", lambda x: x[:, -3:] * 2, _inputs(((4, 8), I64)), dtype=I64)
    yield _case(fam, "select", lambda x: x[:, 1] * 2, _inputs(((4, 8), F32)), dtype=F32)
    yield _case(fam, "select_neg", lambda x: x[-1] * 2, _inputs(((4, 8), F16)), dtype=F16)
    yield _case(fam, "repeat", lambda x: x.repeat(2, 3), _inputs(((4, 8), F32)), dtype=F32)
    yield _case(fam, "pad", lambda x: F.pad(x, (1, 2)), _inputs(((4, 8), F32)), dtype=F32)
    yield _case(
        fam,
        "pad_2d",
        lambda x: F.pad(x, (1, 1, 2, 0), value=0.5),
        _inputs(((2, 4, 8), F16)),
        dtype=F16,
    )
    yield _case(fam, "flip", lambda x: x.flip(-1), _inputs(((4, 8), F32)), dtype=F32)
    yield _case(
        fam,
        "contiguous_transpose",
        lambda x: x.transpose(0, 1).contiguous(),
        _inputs(((4, 8), F32)),
        dtype=F32,
    )
    yield _case(
        fam, "view", lambda x: x.view(-1) + 1, _inputs(((4, 8), F32)), dtype=F32, dynamic=True
    )
    yield _case(
        fam,
        "cat",
        lambda x, y: torch.cat([x, y], dim=-1),
        _inputs(((4, 8), F32), ((4, 3), F32)),
        dtype=F32,
        dynamic=True,
    )
    yield _case(
        fam, "slice", lambda x: x[:, 2:6] * 2, _inputs(((4, 8), F32)), dtype=F32, dynamic=True
    )
    yield _case(
        fam,
        "split",
        lambda x: [t * 2 for t in x.split(3, dim=-1)],
        _inputs(((4, 9), F32)),
        dtype=F32,
        dynamic=True,
    )
    yield _case(
        fam,
        "permute",
        lambda x: x.permute(2, 0, 1) + 1,
        _inputs(((2, 4, 8), F32)),
        dtype=F32,
        dynamic=True,
    )


# --------------------------------------------------------------------------- nn
def _layer_norm(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return F.layer_norm(x, (x.shape[-1],), w, b, 1e-5)


def _rms_norm(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6) * w


def _attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    s = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])
    return torch.softmax(s, dim=-1) @ v


def _mlp(x: torch.Tensor, w1: torch.Tensor, b1: torch.Tensor, w2: torch.Tensor) -> torch.Tensor:
    return F.linear(F.gelu(F.linear(x, w1, b1)), w2)


def _nn_cases() -> Iterator[Case]:
    fam = "nn"
    for dt in (F32, F16, BF16):
        yield _case(fam, "softmax", lambda x: torch.softmax(x, -1), _inputs(((4, 8), dt)), dtype=dt)
        yield _case(
            fam,
            "layer_norm",
            _layer_norm,
            _inputs(((2, 4, 16), dt), ((16,), dt), ((16,), dt)),
            dtype=dt,
        )
    yield _case(
        fam, "softmax_dim0", lambda x: torch.softmax(x, 0), _inputs(((4, 8), F32)), dtype=F32
    )
    yield _case(
        fam, "log_softmax", lambda x: torch.log_softmax(x, -1), _inputs(((4, 8), F32)), dtype=F32
    )
    yield _case(
        fam,
        "softmax_half_to_float",
        lambda x: torch.softmax(x, -1, dtype=torch.float32),
        _inputs(((4, 8), F16)),
        dtype=F16,
    )
    yield _case(
        fam,
        "layer_norm_noaffine",
        lambda x: F.layer_norm(x, (16,)),
        _inputs(((2, 4, 16), F32)),
        dtype=F32,
    )
    yield _case(fam, "rms_norm", _rms_norm, _inputs(((2, 4, 16), F32), ((16,), F32)), dtype=F32)
    yield _case(fam, "rms_norm", _rms_norm, _inputs(((2, 4, 16), F16), ((16,), F16)), dtype=F16)
    yield _case(
        fam, "embedding", F.embedding, _inputs(_idx((2, 5), 100), ((100, 16), F32)), dtype=F32
    )
    yield _case(
        fam, "embedding", F.embedding, _inputs(_idx((2, 5), 100), ((100, 16), BF16)), dtype=BF16
    )
    yield _case(fam, "attention", _attention, _inputs(*[((2, 4, 8, 16), F32)] * 3), dtype=F32)
    yield _case(fam, "attention", _attention, _inputs(*[((2, 4, 8, 16), F16)] * 3), dtype=F16)
    yield _case(
        fam, "sdpa", F.scaled_dot_product_attention, _inputs(*[((2, 4, 8, 16), F32)] * 3), dtype=F32
    )
    yield _case(
        fam,
        "mlp",
        _mlp,
        _inputs(((4, 16), F32), ((32, 16), F32), ((32,), F32), ((16, 32), F32)),
        dtype=F32,
    )
    yield _case(
        fam,
        "conv2d",
        lambda x, w, b: F.conv2d(x, w, b, padding=1),
        _inputs(((1, 3, 8, 8), F32), ((4, 3, 3, 3), F32), ((4,), F32)),
        dtype=F32,
    )
    yield _case(
        fam,
        "conv2d_stride",
        lambda x, w: F.conv2d(x, w, stride=2),
        _inputs(((1, 3, 8, 8), F16), ((4, 3, 3, 3), F16)),
        dtype=F16,
    )
    yield _case(
        fam,
        "dropout_eval",
        lambda x: F.dropout(x, 0.1, training=False) + 1,
        _inputs(((4, 8), F32)),
        dtype=F32,
    )
    yield _case(
        fam,
        "softmax",
        lambda x: torch.softmax(x, -1),
        _inputs(((4, 8), F32)),
        dtype=F32,
        dynamic=True,
    )
    yield _case(
        fam,
        "layer_norm",
        _layer_norm,
        _inputs(((2, 4, 16), F32), ((16,), F32), ((16,), F32)),
        dtype=F32,
        dynamic=True,
    )
    yield _case(
        fam,
        "rms_norm",
        _rms_norm,
        _inputs(((2, 4, 16), F16), ((16,), F16)),
        dtype=F16,
        dynamic=True,
    )
    yield _case(
        fam, "attention", _attention, _inputs(*[((2, 4, 8, 16), F32)] * 3), dtype=F32, dynamic=True
    )
    yield _case(
        fam,
        "embedding",
        F.embedding,
        _inputs(_idx((2, 5), 100), ((100, 16), F32)),
        dtype=F32,
        dynamic=True,
    )
    yield from _interpolate_cases(fam)


def _interpolate_cases(fam: str) -> Iterator[Case]:
    """F.interpolate under torch.compile: kept whole (Resize ops), not index arithmetic."""
    modes = {
        "interpolate_nearest": dict(mode="nearest"),
        "interpolate_bilinear": dict(mode="bilinear", align_corners=False),
        "interpolate_bilinear_align": dict(mode="bilinear", align_corners=True),
    }
    for name, kwargs in modes.items():
        for dt, dynamic in ((F32, False), (F16, False), (F32, True)):
            yield _case(
                fam,
                name,
                lambda x, kw=kwargs: F.interpolate(x, scale_factor=2, **kw),
                _inputs(((1, 3, 4, 6), dt)),
                dtype=dt,
                dynamic=dynamic,
            )


# --------------------------------------------------------------------------- index
def _copy_into(cache: torch.Tensor, new: torch.Tensor) -> torch.Tensor:
    cache.copy_(new)
    return cache


def _index_copy_(cache: torch.Tensor, idx: torch.Tensor, src: torch.Tensor) -> torch.Tensor:
    cache.index_copy_(0, idx, src)
    return cache


def _slice_setitem(cache: torch.Tensor, src: torch.Tensor) -> torch.Tensor:
    cache[:, 2:4] = src
    return cache


def _index_put_(cache: torch.Tensor, idx: torch.Tensor, src: torch.Tensor) -> torch.Tensor:
    cache[idx] = src
    return cache


def _index_cases() -> Iterator[Case]:
    fam = "index"
    idx3 = torch.tensor([1, 4, 6])
    yield _case(
        fam,
        "index_select",
        lambda x, i: x.index_select(1, i),
        _inputs(((4, 8), F32), idx3),
        dtype=F32,
    )
    yield _case(
        fam,
        "index_select",
        lambda x, i: x.index_select(0, i),
        _inputs(((8, 4), I64), idx3),
        dtype=I64,
    )
    yield _case(
        fam,
        "gather",
        lambda x, i: x.gather(1, i),
        _inputs(((4, 8), F32), _idx((4, 3), 8)),
        dtype=F32,
    )
    yield _case(
        fam,
        "scatter_src",
        lambda x, i, s: x.scatter(1, i, s),
        _inputs(((4, 8), F32), _idx((4, 3), 8), ((4, 3), F32)),
        dtype=F32,
    )
    yield _case(
        fam,
        "scatter_value",
        lambda x, i: x.scatter(1, i, 0.5),
        _inputs(((4, 8), F16), _idx((4, 3), 8)),
        dtype=F16,
    )
    yield _case(
        fam,
        "scatter_add",
        lambda x, i, s: x.scatter_add(1, i, s),
        _inputs(((4, 8), F32), _idx((4, 3), 8), ((4, 3), F32)),
        dtype=F32,
    )
    yield _case(fam, "index_tensor", lambda x, i: x[i], _inputs(((8, 4), F32), idx3), dtype=F32)
    yield _case(
        fam,
        "index_tensor_2",
        lambda x, i, j: x[i, j],
        _inputs(((8, 8), F32), idx3, torch.tensor([0, 2, 5])),
        dtype=F32,
    )
    yield _case(
        fam,
        "index_put",
        lambda x, i, s: x.index_put((i,), s),
        _inputs(((8, 4), F32), idx3, ((3, 4), F32)),
        dtype=F32,
    )
    yield _case(
        fam,
        "index_copy",
        lambda x, i, s: x.index_copy(0, i, s),
        _inputs(((8, 4), F32), idx3, ((3, 4), F32)),
        dtype=F32,
    )
    yield _case(fam, "copy_inplace", _copy_into, _inputs(((4, 8), F16), ((4, 8), F16)), dtype=F16)
    yield _case(
        fam,
        "index_copy_inplace",
        _index_copy_,
        _inputs(((8, 4), F32), idx3, ((3, 4), F32)),
        dtype=F32,
    )
    yield _case(
        fam, "slice_setitem", _slice_setitem, _inputs(((4, 8), F32), ((4, 2), F32)), dtype=F32
    )
    # The in-place updates again with TorchAir's enable_ref_data: written inputs as RefData.
    ref_data = (("experimental_config.enable_ref_data", True),)
    yield _case(
        fam,
        "copy_inplace_refdata",
        _copy_into,
        _inputs(((4, 8), F16), ((4, 8), F16)),
        dtype=F16,
        config=ref_data,
    )
    yield _case(
        fam,
        "slice_setitem_refdata",
        _slice_setitem,
        _inputs(((4, 8), F32), ((4, 2), F32)),
        dtype=F32,
        config=ref_data,
    )
    yield _case(
        fam,
        "index_put_inplace",
        _index_put_,
        _inputs(((8, 4), BF16), idx3, ((3, 4), BF16)),
        dtype=BF16,
    )
    yield _case(
        fam,
        "select_scatter",
        lambda x, s: torch.select_scatter(x, s, 0, 1),
        _inputs(((4, 8), F32), ((8,), F32)),
        dtype=F32,
    )
    yield _case(
        fam,
        "slice_scatter",
        lambda x, s: torch.slice_scatter(x, s, 1, 2, 4),
        _inputs(((4, 8), F32), ((4, 2), F32)),
        dtype=F32,
    )
    yield _case(
        fam,
        "index_select",
        lambda x, i: x.index_select(1, i),
        _inputs(((4, 8), F32), idx3),
        dtype=F32,
        dynamic=True,
    )
    yield _case(
        fam,
        "gather",
        lambda x, i: x.gather(1, i),
        _inputs(((4, 8), F32), _idx((4, 3), 8)),
        dtype=F32,
        dynamic=True,
    )
    yield _case(
        fam,
        "index_copy_inplace",
        _index_copy_,
        _inputs(((8, 4), F32), idx3, ((3, 4), F32)),
        dtype=F32,
        dynamic=True,
    )


# --------------------------------------------------------------------------- creation
def _creation_cases() -> Iterator[Case]:
    fam = "creation"
    yield _case(
        fam, "zeros_add", lambda x: x + torch.zeros(4, 8), _inputs(((4, 8), F32)), dtype=F32
    )
    yield _case(
        fam, "ones_like", lambda x: torch.ones_like(x) + x, _inputs(((4, 8), F16)), dtype=F16
    )
    yield _case(
        fam,
        "full",
        lambda x: x * torch.full((4, 8), 2.0, dtype=torch.bfloat16),
        _inputs(((4, 8), BF16)),
        dtype=BF16,
    )
    yield _case(
        fam, "full_like", lambda x: torch.full_like(x, 7) + x, _inputs(((4, 8), I64)), dtype=I64
    )
    yield _case(
        fam, "zeros_like", lambda x: torch.zeros_like(x) - x, _inputs(((4, 8), F32)), dtype=F32
    )
    yield _case(
        fam, "new_zeros", lambda x: x.new_zeros(4, 8) + x, _inputs(((4, 8), F32)), dtype=F32
    )
    yield _case(fam, "arange", lambda x: x + torch.arange(8), _inputs(((4, 8), I64)), dtype=I64)
    yield _case(
        fam,
        "arange_float",
        lambda x: x + torch.arange(0, 4, 0.5),
        _inputs(((4, 8), F32)),
        dtype=F32,
    )
    yield _case(fam, "triu", lambda x: torch.triu(x, 1), _inputs(((8, 8), F32)), dtype=F32)
    yield _case(fam, "tril", lambda x: torch.tril(x), _inputs(((8, 8), F16)), dtype=F16)
    yield _case(
        fam,
        "causal_mask",
        lambda x: x.masked_fill(torch.ones(8, 8, dtype=torch.bool).triu(1), float("-inf")),
        _inputs(((8, 8), F32)),
        dtype=F32,
    )
    yield _case(
        fam, "scalar_tensor", lambda x: x * torch.tensor(3.0), _inputs(((4, 8), F32)), dtype=F32
    )
    yield _case(
        fam,
        "ones_like",
        lambda x: torch.ones_like(x) + x,
        _inputs(((4, 8), F32)),
        dtype=F32,
        dynamic=True,
    )
    yield _case(
        fam,
        "arange",
        lambda x: x + torch.arange(8),
        _inputs(((4, 8), I64)),
        dtype=I64,
        dynamic=True,
    )


# --------------------------------------------------------------------------- symbolic
def _symbolic_cases() -> Iterator[Case]:
    fam = "symbolic"
    yield _case(
        fam,
        "view_batch",
        lambda x: x.view(x.shape[0], -1) + 1,
        _inputs(((3, 4, 8), F32)),
        dtype=F32,
        dynamic=True,
    )
    yield _case(
        fam,
        "reshape_product",
        lambda x: x.reshape(x.size(0) * x.size(1), x.size(2)) * 2,
        _inputs(((3, 4, 8), F32)),
        dtype=F32,
        dynamic=True,
    )
    yield _case(
        fam,
        "arange_len",
        lambda x: x + torch.arange(x.shape[-1]),
        _inputs(((3, 5), I64)),
        dtype=I64,
        dynamic=True,
    )
    yield _case(
        fam,
        "zeros_batch",
        lambda x: x + torch.zeros(x.shape[0], 1),
        _inputs(((3, 5), F32)),
        dtype=F32,
        dynamic=True,
    )
    yield _case(
        fam,
        "new_ones_sym",
        lambda x: x.new_ones(x.shape) * x,
        _inputs(((3, 5), F16)),
        dtype=F16,
        dynamic=True,
    )
    yield _case(
        fam,
        "expand_sym",
        lambda x, y: x.expand(y.shape[0], -1) + y,
        _inputs(((1, 5), F32), ((3, 5), F32)),
        dtype=F32,
        dynamic=True,
    )
    yield _case(
        fam,
        "slice_half",
        lambda x: x[:, : x.shape[1] // 2] * 2,
        _inputs(((3, 6), F32)),
        dtype=F32,
        dynamic=True,
    )
    yield _case(
        fam,
        "scale_by_len",
        lambda x: x / x.shape[-1],
        _inputs(((3, 5), F32)),
        dtype=F32,
        dynamic=True,
    )
    yield _case(
        fam,
        "heads_split",
        lambda x: x.view(x.shape[0], x.shape[1], 2, -1).transpose(1, 2) * 2,
        _inputs(((3, 5, 8), F32)),
        dtype=F32,
        dynamic=True,
    )
    yield _case(
        fam,
        "sym_size_output",
        lambda x: (x * 2, x.shape[0]),
        _inputs(((3, 5), F32)),
        dtype=F32,
        dynamic=True,
    )
    yield _case(
        fam,
        "causal_mask_sym",
        lambda x: x.masked_fill(
            torch.ones(x.shape[-1], x.shape[-1], dtype=torch.bool).triu(1), float("-inf")
        ),
        _inputs(((2, 6, 6), F32)),
        dtype=F32,
        dynamic=True,
    )
    yield _case(
        fam,
        "cat_sym",
        lambda x, y: torch.cat([x, y], 0).view(-1, y.shape[1]),
        _inputs(((3, 4), F32), ((2, 4), F32)),
        dtype=F32,
        dynamic=True,
    )


# --------------------------------------------------------------------------- collective
def _world() -> Any:
    import torch.distributed as dist

    return dist.group.WORLD


def _collective_cases() -> Iterator[Case]:
    """The functional collectives on the default group (1 rank: shapes stay as they are)."""
    import torch.distributed as dist
    import torch.distributed._functional_collectives as funcol

    fam = "collective"
    for op in ("sum", "max", "min", "avg", "product"):
        yield _case(
            fam,
            f"all_reduce_{op}",
            lambda x, op=op: funcol.all_reduce(x * 2, op, _world()),
            _inputs(((4, 8), F32)),
            dtype=F32,
        )
    yield _case(
        fam,
        "all_reduce_sum",
        lambda x: funcol.all_reduce(x * 2, "sum", _world()),
        _inputs(((4, 8), F16)),
        dtype=F16,
    )

    def inplace_all_reduce(x: torch.Tensor) -> torch.Tensor:
        y = x * 2
        dist.all_reduce(y)
        return y

    def all_reduce_of_input(x: torch.Tensor) -> torch.Tensor:
        dist.all_reduce(x)  # an update of the input: written back after the run
        return x * 2

    yield _case(
        fam, "dist_all_reduce_inplace", inplace_all_reduce, _inputs(((4, 8), F32)), dtype=F32
    )
    yield _case(
        fam, "dist_all_reduce_input", all_reduce_of_input, _inputs(((4, 8), F32)), dtype=F32
    )
    for dt in (F32, I64):
        yield _case(
            fam,
            "all_gather_into_tensor",
            lambda x: funcol.all_gather_tensor(x + 1, 0, _world()),
            _inputs(((4, 8), dt)),
            dtype=dt,
        )
    yield _case(
        fam,
        "reduce_scatter_tensor_sum",
        lambda x: funcol.reduce_scatter_tensor(x * 2, "sum", 0, _world()),
        _inputs(((4, 8), F32)),
        dtype=F32,
    )
    yield _case(
        fam,
        "all_to_all_single_equal",
        lambda x: funcol.all_to_all_single(x * 2, None, None, _world()),
        _inputs(((4, 8), F32)),
        dtype=F32,
    )
    yield _case(
        fam,
        "all_to_all_single_splits",  # explicit split sizes (1 rank: all rows to itself)
        lambda x: funcol.all_to_all_single(x * 2, [4], [4], _world()),
        _inputs(((4, 8), F32)),
        dtype=F32,
    )
    yield _case(
        fam,
        "broadcast",
        lambda x: funcol.broadcast(x * 2, 0, _world()),
        _inputs(((4, 8), F32)),
        dtype=F32,
    )


def _all_cases() -> list[Case]:
    cases = [
        *_elementwise_cases(),
        *_matmul_cases(),
        *_reduction_cases(),
        *_shape_cases(),
        *_nn_cases(),
        *_index_cases(),
        *_creation_cases(),
        *_symbolic_cases(),
        *_collective_cases(),
    ]
    seen: set[str] = set()
    for case in cases:
        if case.name in seen:
            raise ValueError(f"duplicate case name {case.name!r} in tools/oracle/cases.py")
        if case.family not in FAMILIES:
            raise ValueError(f"case {case.name!r}: unknown family {case.family!r}")
        seen.add(case.name)
    return cases


#: Every case, in family order.
CASES: list[Case] = _all_cases()


def select(patterns: list[str] | None = None) -> list[Case]:
    """The cases whose name or family matches one of ``patterns`` (fnmatch); all if none given.

    Raises:
        ValueError: a pattern matches no case.
    """
    import fnmatch

    if not patterns:
        return list(CASES)
    chosen: list[Case] = []
    for pattern in patterns:
        hits = [c for c in CASES if fnmatch.fnmatchcase(c.name, pattern) or c.family == pattern]
        if not hits:
            raise ValueError(f"case pattern {pattern!r} matches no case in tools/oracle/cases.py")
        chosen.extend(c for c in hits if c not in chosen)
    return chosen
