"""The ATen decomposition table our torch.compile backend hands to AOTAutograd.

Policy
------
After AOTAutograd has applied this table, an ATen graph should contain only
ops that map naturally onto one GE op (or a short fixed pattern of GE ops),
so that each converter stays small. Concretely:

* **Keep** every op that has a direct GE counterpart (see the ATen -> GE table
  in GE_REFERENCE.md): ``add``/``sub``/``mul``/``div``, ``mm``/``bmm``/
  ``addmm``/``baddbmm``, ``view``/``permute``/``expand``/``slice``/``cat``/
  ``split``, ``_softmax``/``_log_softmax``, ``native_layer_norm``, ``gelu``/
  ``silu``/``relu``, ``embedding``/``index_select``/``index.Tensor``,
  ``where``/``masked_fill``, ``_to_copy``, ``full``/``arange``, ``copy_``,
  reductions, comparisons, ... They are never listed here. Decomposing them
  would only make graphs bigger and hide the fused GE kernels.
* **Decompose** ops that are
  1. *composite* with no portable GE op: scaled-dot-product attention
     (GE's fused attention ops are NPU-specific custom ops with their own
     layouts; lowering to ``bmm`` + ``_softmax`` works on every target and
     a later pass may pattern-match it back);
  2. *awkward*: multi-output training-flavoured kernels whose extra outputs
     are dead in inference (``native_group_norm``, the batch-norm family,
     ``var_mean``), norms with an ``ord`` parameter (``linalg_vector_norm``);
  3. *aliases or variants* of ops we keep (``rsub`` -> ``sub``,
     ``_reshape_alias`` -> ``view``, ``_unsafe_index`` -> ``index``,
     ``new_zeros``/``new_ones``/... -> ``full``; ``zeros_like``/``ones_like``
     stay, as TorchAir's ``ZerosLike``/``OnesLike``);
  4. small activations/elementwise helpers that TorchAir does not lower and
     that decompose into a handful of kept elementwise ops.

* **Keep whole** ops that torch's own Python kernels would decompose while
  AOTAutograd traces, whatever this table says, where a converter lowers
  them to TorchAir's GE op (:func:`kept_whole_ops`): ``F.interpolate``'s
  ``upsample_nearest2d`` / ``upsample_bilinear2d`` become
  ``ResizeNearestNeighborV2`` / ``ResizeBilinearV2`` instead of index
  arithmetic. Where the converter would refuse a call, torch's
  decomposition runs as before. torch itself is left as it is outside
  our trace.

Most entries are ``torch._decomp``'s registered decompositions (PyTorch's
reference numerics). A few (var/std family, group norm) are written here
because torch's versions emit ``prims.*``/``as_strided`` nodes that no
converter should have to see. Users extend or override the table
with ``CompilerConfig``'s ``custom_decompositions`` via
:func:`merge_decompositions` (the user's entries win).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from airgraph_core._torch_compat import OpOverload, OpOverloadPacket, get_decompositions
from airgraph_core.converters.upsample import bilinear_takes, nearest_takes

__all__ = ["default_decompositions", "kept_whole_ops", "merge_decompositions"]

aten = torch.ops.aten

# Each group: (ops, why). Packets (``aten.foo``) pull in every overload that
# torch._decomp knows; out= / in-place overloads never reach us after
# functionalization, so including them is harmless.
_DECOMPOSED_OPS: tuple[tuple[tuple[Any, ...], str], ...] = (
    (
        (
            # CPU's SDPA kernel (what F.scaled_dot_product_attention
            # dispatches to on the host): -> mul.Scalar (q and k each
            # scaled by sqrt(scale)), expand/view/bmm, add (mask) or
            # ones+tril+where (is_causal), _softmax, and the fully-masked-row
            # guard eq.Scalar(-inf)/all.dim/full_like/where.
            aten._scaled_dot_product_flash_attention_for_cpu.default,
            # The other backend-specific SDPA kernels have no generic
            # decomposition in torch 2.13; they are listed so that, if torch
            # adds one, we pick it up (get_decompositions skips unknown ones).
            aten._scaled_dot_product_flash_attention,
            aten._scaled_dot_product_efficient_attention,
            aten._scaled_dot_product_cudnn_attention,
            aten._scaled_dot_product_fused_attention_overrideable,
            # Softmax that yields 0 for fully masked rows (used by SDPA's math
            # path): -> _softmax + where/eq/all-style helpers we already keep.
            aten._safe_softmax.default,
        ),
        "composite attention: no portable GE op; lower to matmul + softmax",
    ),
    (
        (
            aten._native_batch_norm_legit_no_training.default,
            aten._native_batch_norm_legit.default,
            aten._native_batch_norm_legit.no_stats,
            aten._native_batch_norm_legit_functional.default,
            aten.native_batch_norm.default,
            aten._batch_norm_with_update.default,
            aten._batch_norm_with_update_functional.default,
            aten._batch_norm_no_update.default,
            # torch's fused RMSNorm kernel: GE has RmsNorm only as an NPU
            # custom op, so lower to pow/mean/rsqrt/mul.
            aten._fused_rms_norm.default,
        ),
        "multi-output normalisation kernels (mean/rstd outputs are dead in "
        "inference): -> elementwise + mean/var reductions",
    ),
    (
        (
            aten.linalg_vector_norm,
            aten.norm,
            aten.logsumexp.default,
        ),
        "norms with an ord parameter and logsumexp: -> pow/abs/sum/amax/exp/log",
    ),
    (
        (
            aten.rsub,
            aten._reshape_alias.default,
            aten._unsafe_index.Tensor,
            aten._unsafe_index_put.default,
            aten.new_zeros.default,
            aten.new_ones.default,
            aten.new_full.default,
            aten.new_empty.default,
            # zeros_like/ones_like are kept: TorchAir's ZerosLike/OnesLike read
            # the shape from the input, which needs no size ops under dynamic=True.
            aten.squeeze_copy,
            aten.unsqueeze_copy.default,
            aten.transpose_copy.int,
            aten.split_with_sizes_copy.default,
            aten.unbind_copy.int,
            aten.narrow_copy.default,
        ),
        "aliases and *_copy/new_*/*_like variants of ops we keep: fewer "
        "distinct ops for converters",
    ),
    (
        (
            aten.addcmul.default,
            aten.addcdiv.default,
            aten.lerp,
            aten.hardswish.default,
            aten.hardsigmoid.default,
            aten.mish.default,
            aten.softplus.default,
            aten.elu.default,
            aten.celu.default,
            aten.selu.default,
            aten.leaky_relu.default,
            aten.glu.default,
            aten.logit.default,
            aten.frac.default,
            aten.roll.default,
        ),
        "elementwise helpers and activations TorchAir does not lower (roll "
        "is stub-only): -> a few kept elementwise/slice/cat ops",
    ),
)


# torch._decomp's own decompositions of these go down to prims (prims.var,
# prims.broadcast_in_dim, as_strided), which no converter should see, so we
# write them with ops we keep. var/std/var_mean/std_mean's .dim/.default
# overloads are CompositeImplicit and reach the .correction ones.


def _reduction_dims(x: torch.Tensor, dim: Any) -> list[int]:
    if dim is None or (isinstance(dim, (list, tuple)) and len(dim) == 0):
        return list(range(x.dim()))
    if isinstance(dim, int):
        return [dim]
    return list(dim)


def _var_mean_correction(
    x: torch.Tensor,
    dim: Any = None,
    *,
    correction: Any = None,
    keepdim: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    dims = _reduction_dims(x, dim)
    count = 1
    for d in dims:
        count = count * x.shape[d]
    corr = 1 if correction is None else correction
    mean = aten.mean.dim(x, dims, True)
    diff = aten.sub.Tensor(x, mean)
    sq_sum = aten.sum.dim_IntList(aten.mul.Tensor(diff, diff), dims, keepdim)
    # A symbolic count stays a plain SymInt expression (no sym_max node):
    # count <= correction only happens for degenerate, empty reductions.
    if isinstance(count, int):
        denom = max(count - corr, 0)
    else:
        denom = count - corr if corr != 0 else count
    var = aten.div.Tensor(sq_sum, denom)
    if not keepdim:
        mean = aten.squeeze.dims(mean, dims)
    return var, mean


def _var_correction(x, dim=None, *, correction=None, keepdim=False):
    return _var_mean_correction(x, dim, correction=correction, keepdim=keepdim)[0]


def _std_correction(x, dim=None, *, correction=None, keepdim=False):
    var = _var_mean_correction(x, dim, correction=correction, keepdim=keepdim)[0]
    return aten.sqrt.default(var)


def _std_mean_correction(x, dim=None, *, correction=None, keepdim=False):
    var, mean = _var_mean_correction(x, dim, correction=correction, keepdim=keepdim)
    return aten.sqrt.default(var), mean


def _native_group_norm(x, weight, bias, n, c, hxw, group, eps):
    grouped = aten.view.default(x, [n, group, -1])
    var, mean = _var_mean_correction(grouped, [2], correction=0, keepdim=True)
    rstd = aten.rsqrt.default(aten.add.Scalar(var, eps))
    out = aten.mul.Tensor(aten.sub.Tensor(grouped, mean), rstd)
    out = aten.view.default(out, list(x.shape))
    affine_shape = [1, c] + [1] * (x.dim() - 2)
    if weight is not None:
        out = aten.mul.Tensor(out, aten.view.default(weight, affine_shape))
    if bias is not None:
        out = aten.add.Tensor(out, aten.view.default(bias, affine_shape))
    return out, aten.view.default(mean, [n, group]), aten.view.default(rstd, [n, group])


def _convert_element_type(x: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    return aten._to_copy.default(x, dtype=dtype)


def _view_of(x: torch.Tensor) -> torch.Tensor:
    return aten.alias.default(x)


def _sdpa_flash_for_cpu(
    query, key, value, dropout_p=0.0, is_causal=False, *, attn_mask=None, scale=None
):
    output, attn = aten._scaled_dot_product_attention_math.default(
        query,
        key,
        value,
        attn_mask=attn_mask,
        dropout_p=dropout_p,
        is_causal=is_causal,
        dropout_mask=None,
        scale=scale,
        enable_gqa=query.size(1) != key.size(1),
    )
    # The CPU kernel's layout, (N, L, H, E) contiguous seen as (N, H, L, E);
    # clone, not contiguous(), so no stride check guards a symbolic size.
    output = output.transpose(1, 2).clone(memory_format=torch.contiguous_format).transpose(1, 2)
    return output, attn


_CUSTOM: tuple[tuple[dict[Any, Callable], str], ...] = (
    (
        {
            torch.ops.prims.convert_element_type.default: _convert_element_type,
            torch.ops.prims.view_of.default: _view_of,
        },
        "prims that torch's reference decompositions may emit: -> _to_copy "
        "(Cast) and alias (Identity). NB: with dynamic=True, AOTAutograd's "
        "tensorify_python_scalars pass inserts prims.convert_element_type "
        "*after* tracing (for Python floats such as eps that Dynamo lifts to "
        "0-d float64 inputs); no table can catch those, converters must",
    ),
    (
        {
            aten.var_mean.correction: _var_mean_correction,
            aten.var.correction: _var_correction,
            aten.std.correction: _std_correction,
            aten.std_mean.correction: _std_mean_correction,
        },
        "var/std with correction (var_mean is stub-only in TorchAir; GE's "
        "ReduceStd has other semantics): -> mean/sub/mul/sum/div/sqrt",
    ),
    (
        {aten.native_group_norm.default: _native_group_norm},
        "group norm returns dead mean/rstd in inference and has no "
        "TorchAir converter: -> view + var_mean above + rsqrt/mul/add",
    ),
    (
        {aten._scaled_dot_product_flash_attention_for_cpu.default: _sdpa_flash_for_cpu},
        "CPU sdpa as torch decomposes it, but with the CPU kernel's output "
        "layout: torch's lays it out (L, N, H, E), so a caller's "
        "transpose(1, 2).contiguous() guards batch != 1 (gears with batch 1)",
    ),
)


def _output_size(x: torch.Tensor, output_size: Any, scale_factors: Any) -> list[Any]:
    """``.vec``'s output size as torch's Python kernel computes it (symbolic sizes stay symbolic).

    The C++ composite would guard each symbolic size to an integer.
    """
    if output_size is not None:
        return list(output_size)
    sizes = []
    for i, scale in enumerate(scale_factors):
        size = x.shape[i + 2]
        sizes.append(size * int(scale) if int(scale) == scale else torch.sym_int(size * scale))
    return sizes


def _upsample_nearest2d_vec(x, output_size, scale_factors):
    size = _output_size(x, output_size, scale_factors)
    return aten.upsample_nearest2d.default(x, size, *(scale_factors or (None, None)))


def _upsample_bilinear2d_vec(x, output_size, align_corners, scale_factors):
    size = _output_size(x, output_size, scale_factors)
    scales = scale_factors or (None, None)
    return aten.upsample_bilinear2d.default(x, size, align_corners, *scales)


# Each group: (ops kept whole where takes(*args, **kwargs), our kernels for
# composites that lead to them, why).
_KEPT_WHOLE: tuple[tuple[dict[Any, Callable[..., bool]], dict[Any, Callable], str], ...] = (
    (
        {
            aten.upsample_nearest2d.default: nearest_takes,
            aten.upsample_bilinear2d.default: bilinear_takes,
        },
        {
            aten.upsample_nearest2d.vec: _upsample_nearest2d_vec,
            aten.upsample_bilinear2d.vec: _upsample_bilinear2d_vec,
        },
        "F.interpolate (nearest, bilinear): .vec computes the output size and "
        "calls .default, which lowers to ResizeNearestNeighborV2 / "
        "ResizeBilinearV2 as TorchAir's graphs have it; a scale GE cannot "
        "reproduce (1.5 on 3 rows) or another dtype is decomposed by torch",
    ),
)


def kept_whole_ops(decompositions: dict | None = None) -> tuple[dict, dict]:
    """Return the ops our trace keeps whole against torch's Python decompositions.

    Args:
        decompositions: the table handed to AOTAutograd; an op in it (the
            user asked to decompose it) is left to torch.

    Returns:
        ``(takes, composites)``: ``takes`` maps an ``OpOverload`` to a
        predicate over its arguments (the op is kept whole where it is
        true); ``composites`` maps an ``OpOverload`` to the kernel run
        instead of torch's Python decomposition (it calls ops of ``takes``).
    """
    table = decompositions or {}
    takes: dict[Any, Callable[..., bool]] = {}
    composites: dict[Any, Callable] = {}
    for group_takes, group_composites, _why in _KEPT_WHOLE:
        takes.update({op: fn for op, fn in group_takes.items() if op not in table})
        composites.update({op: fn for op, fn in group_composites.items() if op not in table})
    return takes, composites


def default_decompositions() -> dict:
    """Return a fresh copy of airgraph's decomposition table.

    Returns:
        A dict mapping ``torch._ops.OpOverload`` to the Python function that
        decomposes it, suitable for AOTAutograd's ``decompositions=``.
        The caller may mutate it freely.
    """
    ops: list[Any] = []
    for group, _why in _DECOMPOSED_OPS:
        ops.extend(group)
    table = dict(get_decompositions(ops))
    for custom, _why in _CUSTOM:
        table.update(custom)
    return table


def merge_decompositions(user_table: dict | None) -> dict:
    """Return our default table updated with the user's entries.

    Args:
        user_table: ``CompilerConfig``'s ``custom_decompositions``: a dict
            mapping ``OpOverload`` or ``OpOverloadPacket`` to a callable, or
            ``None``. A packet stands for every overload it has; an entry for a
            specific overload wins over an entry for its packet. The user's
            entries win over ours.

    Returns:
        A new dict keyed by ``OpOverload`` (the inputs are not modified).

    Raises:
        TypeError: if ``user_table`` is not a dict, or a key is not an ATen
            ``OpOverload``/``OpOverloadPacket``, or a value is not callable.
    """
    table = default_decompositions()
    if user_table is None:
        return table
    if not isinstance(user_table, dict):
        raise TypeError(
            "custom_decompositions must be a dict mapping torch OpOverload or "
            f"OpOverloadPacket to a callable, got {type(user_table).__name__}"
        )
    packets: dict[OpOverload, Callable] = {}
    overloads: dict[OpOverload, Callable] = {}
    for key, fn in user_table.items():
        if not callable(fn):
            raise TypeError(
                f"custom_decompositions[{key!r}] must be callable, got {type(fn).__name__}"
            )
        if isinstance(key, OpOverloadPacket):
            for name in key.overloads():
                packets[getattr(key, name)] = fn
        elif isinstance(key, OpOverload):
            overloads[key] = fn
        else:
            raise TypeError(
                "custom_decompositions keys must be torch OpOverload or "
                f"OpOverloadPacket (e.g. torch.ops.aten.gelu.default), got "
                f"{key!r} of type {type(key).__name__}"
            )
    table.update(packets)
    table.update(overloads)
    return table
