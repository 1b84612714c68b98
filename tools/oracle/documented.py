"""Differences from TorchAir that airgraph keeps on purpose, with the reason.

Each :class:`Reason` names the cases it covers (name patterns) and the kinds
of difference it explains (regular expressions over the difference
signatures :func:`compare._signature` prints in ``RESULTS.md``, e.g.
``airgraph only: GeluV2`` or ``TopKV2.dim differs``). A differing case is
reported as ``differs, documented: <reason>`` only when every signature of
its differences is explained by a reason that covers it; a new kind of
difference in the same case shows up undocumented again.

The table in ``docs/development/torchair-oracle.md`` gives the same
judgements in prose; change both together.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import re
from collections.abc import Iterable

__all__ = ["REASONS", "Reason", "reasons_for"]


@dataclasses.dataclass(frozen=True)
class Reason:
    """Why some cases differ from TorchAir and airgraph keeps its own graph."""

    cases: tuple[str, ...]
    explains: tuple[str, ...]
    why: str

    def covers(self, case: str) -> bool:
        return any(fnmatch.fnmatchcase(case, pattern) for pattern in self.cases)

    def explains_signature(self, signature: str) -> bool:
        return any(re.fullmatch(rx, signature) for rx in self.explains)


REASONS: tuple[Reason, ...] = (
    Reason(
        ("gelu*", "mlp_fp32*"),
        (r"airgraph only: (Data, )?GeluV2", r"TorchAir only: Gelu"),
        "exact GELU is GeluV2(approximate='none'); TorchAir's Gelu is the tanh "
        "approximation whatever `approximate` says, so ours matches eager",
    ),
    Reason(
        (
            "isnan_isinf*",
            "logical*",
            "amax_amin*",
            "min_dim*",
            "prod*",
            "index_put*",
            "index_copy*",
            "sdpa*",
        ),
        (r"TorchAir fails: .*",),
        "TorchAir has no converter (or fails on CPU) for this op; airgraph lowers it",
    ),  # fmt: skip
    Reason(
        ("interpolate_bilinear*",),
        (r"airgraph only: (Cast, )?ResizeBilinearV2", r"TorchAir only: .*", r"TorchAir fails: .*"),
        "TorchAir has no bilinear converter, so torch decomposes F.interpolate into index "
        "arithmetic (which fails on true_divide with align_corners under dynamic=True); "
        "airgraph keeps upsample_bilinear2d whole as one ResizeBilinearV2",
    ),
    Reason(
        ("clamp_min*",),
        (r"airgraph only: Maximum", r"TorchAir only: ClipByValueV2, Const"),
        "clamp_min as Maximum(x, min) is exact and one op; TorchAir clips with an inf bound",
    ),
    Reason(
        ("baddbmm*",),
        (r"TorchAir only: Cast, Const, Mul",),
        "beta=1: TorchAir multiplies the input by an INT64 Const 1 and casts back; "
        "airgraph adds it directly (one op less, same values)",
    ),
    Reason(
        ("arange*",),
        (
            r"TorchAir only: Cast",
            r"Const#\d+\.value differs",
            r"Const#\d+ outputs differs",
            r"Const\.value differs",
            r"Const outputs differs",
        ),
        "Range in int64 (TorchAir: int32 then Cast): no int32 overflow for long ranges",
    ),  # fmt: skip
    Reason(
        ("mul_scalar_bf16*", "chunk_bf16*", "cast_fp8e4m3fn_to_bf16"),
        (r"airgraph only: Cast(x2)?",),
        "Muls' GE prototype (shared/ge/opdefs.json) lists no BF16, so bf16 scales in "
        "float32 between two Casts; same single rounding as TorchAir's Muls",
    ),
    Reason(
        ("topk*",),
        (r"Const\.value differs", r"Const outputs differs", r"TopKV2\.sort_policy differs"),
        "TopKV2's prototype lists only INT32 for k and declares no sort_policy; TorchAir's "
        "generated builder feeds an INT64 k and adds sort_policy=1 (newer CANN)",
    ),
    Reason(
        ("sym_size_output*",),
        (r"TorchAir only: Const, Gather, Shape",),
        "TorchAir leaves a dead Shape + Gather for a size Dynamo returns itself; "
        "airgraph emits no op for it",
    ),
    Reason(
        ("split*", "chunk*"),
        (r"TorchAir only: (Const, )?Pack",),
        "split sizes as one 1-D Const; TorchAir packs one 0-d Const per piece (a Pack GE "
        "folds back into that Const)",
    ),
    Reason(
        ("matmul_4d*", "linear_bias_3d*", "*view_out*", "attention_fp*", "cat_sym*"),
        (
            r"TorchAir only: (Const, )?Reshape",
            r"TorchAir only: (Const, )?Gather, Pack, Reshape, Shape",
            r"TorchAir only: Pack, Reshape",
        ),
        "the output is a view (an ATen `view` of the matmul or cat result): airgraph returns "
        "that result from GE and makes the output as a view of it after the run, with "
        "eager's sizes, strides and aliasing (docs/concepts/targets.md, 'Outputs that alias "
        "inputs or other outputs'); TorchAir copies it through a GE Reshape (under "
        "dynamic=True to a Pack of the sizes; TorchAir also leaves dead Packs of sizes)",
    ),
    Reason(
        ("attention_fp32@dyn",),
        (r"airgraph only: Cast",),
        "`scalar_tensor(size)` is float32 in ATen (its default dtype) before the graph's "
        "float64 cast, and airgraph casts as ATen does; TorchAir's scalar_tensor keeps the "
        "int64 when no dtype is given and casts it to float64 directly (same value below 2**24)",
    ),
    Reason(
        ("rsub_scalar*",),
        (r"airgraph only: Sub", r"TorchAir only: Const, Sxpy"),
        "`1 - x` is Sub(1, x) (rsub decomposes to sub): one op, exact, the form TorchAir's "
        "own rsub.Tensor converter emits for alpha=1; its rsub.Scalar Sxpy(1, x, alpha=1) "
        "(Axpy on arch35 SoCs) computes the same with an extra alpha Const",
    ),
    Reason(
        ("select_scatter*",),
        (
            r"airgraph only: ConcatV2, Const, StridedSliceV2, Unsqueeze",
            r"TorchAir only: BroadcastTo, ExpandDims, ScatterElements, Shape",
        ),
        "select_scatter is written as slice_scatter of the unsqueezed row (the slices around "
        "it and ConcatV2, TorchAir's own slice_scatter form, identical in slice_scatter_fp32); "
        "TorchAir's ScatterElements broadcasts an int64 index and the row to the input's full "
        "shape, two input-sized tensors more, every position along dim writing the same slot",
    ),
    Reason(
        ("scalar_tensor*",),
        (r"TorchAir only: Identity",),
        "`torch.tensor(3.0)` in the function is a graph constant read through lift_fresh_copy; "
        "nothing writes it, so airgraph reads the Const directly; TorchAir copies it with "
        "an Identity",
    ),
    Reason(
        ("scatter_value*", "new_ones_sym*"),
        (r"TorchAir only: Cast",),
        "a fill value for a float16 tensor is a float16 Const, rounded once from the Python "
        "number as eager rounds it; TorchAir builds a float32 Const and Casts it (two roundings)",
    ),
    Reason(
        ("expand_sym*",),
        (r"airgraph only: Gather, Shape",),
        "expand's -1 (keep the size) becomes the input's size, read with Shape + Gather, so "
        "BroadcastTo gets its explicit target shape; TorchAir passes -1 through and relies on "
        "the kernel reading it as 'keep'",
    ),
    Reason(
        ("reshape_product*",),
        (r"TorchAir only: Pack",),
        "TorchAir leaves a dead Pack of the sizes (a second copy of the Reshape's shape); "
        "airgraph emits it once",
    ),
    Reason(
        ("all_reduce_avg*",),
        (r"TorchAir fails: ValueError: ge unsupported reduce type AVG",),
        "GE's Hcom reductions are sum, prod, max and min: TorchAir refuses avg; airgraph "
        "emits HcomAllReduce(sum) and a RealDiv by the group size",
    ),
    Reason(
        ("dist_all_reduce_input*",),
        (r"TorchAir only: Identity",),
        "the in-place all-reduce of an input: airgraph's cleanup bypasses wait_tensor's "
        "Identity before the input update becomes an output (the HcomAllReduce result is "
        "a fresh buffer, so no copy is needed); TorchAir returns the Identity copy",
    ),
    Reason(
        ("all_to_all_single*",),
        (r"NetOutput inputs differs",),
        "TorchAir adds a control edge HcomAllToAllV -> NetOutput to every all_to_all "
        "(so GE never prunes it); where the result is an output, as here, the data edge "
        "already keeps it, and airgraph adds none",
    ),
)


def reasons_for(case: str, signatures: Iterable[str | None]) -> list[str] | None:
    """The reasons that explain every difference of ``case``, or ``None`` if one is unexplained.

    Args:
        case: the case name.
        signatures: the signature of each difference line (``None`` for
            lines that carry no signature of their own, e.g. op listings).
    """
    applicable = [r for r in REASONS if r.covers(case)]
    used: list[str] = []
    seen = False
    for sig in signatures:
        if sig is None:
            continue
        seen = True
        match = next((r for r in applicable if r.explains_signature(sig)), None)
        if match is None:
            return None
        if match.why not in used:
            used.append(match.why)
    return used if seen else None
