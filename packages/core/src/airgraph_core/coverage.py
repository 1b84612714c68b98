"""How much of PyTorch's forward core ATen opset airgraph lowers.

The denominator is every overload tagged ``torch.Tag.core`` that is a forward
op: overloads whose operator name contains ``backward``, in-place overloads
(name ending in ``_``) and ``out=`` overloads are left out. An op counts as
covered when it has a converter, or when tracing it through airgraph's
decomposition table (and PyTorch's own CompositeImplicitAutograd kernels)
yields only ops that have converters; the trace runs on a small sample input
kept here, so a decomposition that stops reaching supported ops stops
counting. Every op not covered carries a reason.

Examples:
    >>> from airgraph_core.coverage import core_aten_coverage
    >>> report = core_aten_coverage()
    >>> 0 < report.covered <= report.total
    True
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch.fx.experimental.proxy_tensor import make_fx

from airgraph_core._torch_compat import OpOverload, all_aten_op_names
from airgraph_core.converters.registry import registered, target_name
from airgraph_core.decompositions import default_decompositions

__all__ = [
    "DECOMPOSITION_SAMPLES",
    "LEFT_OUT_REASONS",
    "CoreOpCoverage",
    "CoverageReport",
    "core_aten_coverage",
    "core_forward_opset",
]

aten = torch.ops.aten

CONVERTER = "converter"
DECOMPOSED = "decomposed"
GE_CANNOT = "GE cannot express it"
DATA_DEPENDENT = "data-dependent"
RANDOM = "random"
NOT_YET = "not yet done"

#: Categories of ops that no converter can honestly cover.
INEXPRESSIBLE = frozenset({GE_CANNOT, DATA_DEPENDENT, RANDOM})

_NO_STRIDES = "GE tensors are dense, with no strides or storage offset to report"
_RNG = "GE's random ops draw from another stream than torch's generator, so no result matches eager"

#: Why each forward core op without a converter is not covered: (category, reason).
LEFT_OUT_REASONS: dict[str, tuple[str, str]] = {
    "aten.sym_stride.int": (GE_CANNOT, _NO_STRIDES),
    "aten.sym_storage_offset.default": (GE_CANNOT, _NO_STRIDES),
    "aten.sym_is_contiguous.default": (GE_CANNOT, _NO_STRIDES),
    "aten._local_scalar_dense.default": (
        DATA_DEPENDENT,
        "`.item()`: a host Python scalar read from a tensor's value; a GE graph outputs "
        "tensors only (Dynamo breaks the graph there unless capture_scalar_outputs)",
    ),
    "aten.rand.default": (RANDOM, _RNG),
    "aten.randn.default": (RANDOM, _RNG),
    "aten.randperm.default": (RANDOM, _RNG),
    "aten.native_dropout.default": (
        RANDOM,
        "training-mode dropout (eval graphs never hold it); GE's "
        "StatelessDropOutGenMask + DropOutDoMask cannot reproduce torch's mask",
    ),
}


def _x(*shape: int) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(0))


#: A small sample call of each op covered (or meant to be) through a decomposition.
DECOMPOSITION_SAMPLES: dict[str, Callable[[], tuple[Any, ...]]] = {
    "aten.var.dim": lambda: (_x(3, 4), [1]),
    "aten.var.correction": lambda: (_x(3, 4), [1]),
    "aten.elu.default": lambda: (_x(3, 4),),
    "aten.leaky_relu.default": lambda: (_x(3, 4),),
    "aten.native_group_norm.default": lambda: (_x(2, 4, 3), _x(4), _x(4), 2, 4, 3, 2, 1e-5),
    "aten._native_batch_norm_legit_no_training.default": lambda: (
        _x(2, 3, 4),
        _x(3),
        _x(3),
        _x(3),
        _x(3).abs(),
        0.1,
        1e-5,
    ),
    "aten._native_batch_norm_legit.no_stats": lambda: (_x(2, 3, 4), _x(3), _x(3), True, 0.1, 1e-5),
    "aten._native_batch_norm_legit.default": lambda: (
        _x(2, 3, 4),
        _x(3),
        _x(3),
        _x(3),
        _x(3).abs(),
        True,
        0.1,
        1e-5,
    ),
    "aten.avg_pool1d.default": lambda: (_x(2, 3, 8), [2]),
    "aten.adaptive_avg_pool1d.default": lambda: (_x(2, 3, 8), [4]),
    "aten.upsample_nearest2d.vec": lambda: (_x(1, 2, 3, 4), None, [2.0, 2.0]),
    "aten.upsample_bilinear2d.vec": lambda: (_x(1, 2, 3, 4), None, False, [2.0, 2.0]),
}


@dataclasses.dataclass(frozen=True)
class CoreOpCoverage:
    """One forward core ATen overload and how airgraph handles it.

    Attributes:
        name: ``aten.var.dim``.
        category: ``converter``, ``decomposed``, or why it is not covered
            (``GE cannot express it``, ``data-dependent``, ``random``,
            ``not yet done``).
        detail: the ops a decomposition reaches, or the reason.
    """

    name: str
    category: str
    detail: str = ""

    @property
    def covered(self) -> bool:
        return self.category in (CONVERTER, DECOMPOSED)


@dataclasses.dataclass(frozen=True)
class CoverageReport:
    """The coverage of the forward core ATen opset, op by op."""

    ops: tuple[CoreOpCoverage, ...]

    @property
    def total(self) -> int:
        return len(self.ops)

    @property
    def covered(self) -> int:
        return sum(op.covered for op in self.ops)

    @property
    def expressible(self) -> int:
        """Ops GE can express: the total less those no converter can cover honestly."""
        return sum(op.category not in INEXPRESSIBLE for op in self.ops)

    @property
    def percent(self) -> float:
        return 100.0 * self.covered / self.total

    def markdown(self) -> str:
        """The summary line and a table of every op not covered, with its reason."""
        n_conv = sum(op.category == CONVERTER for op in self.ops)
        lines = [
            f"**{self.covered} of {self.total} forward core ATen overloads covered "
            f"({self.percent:.1f}%)**: {n_conv} by a converter, "
            f"{self.covered - n_conv} through a decomposition; "
            f"{self.covered} of the {self.expressible} that GE can express "
            f"({100.0 * self.covered / self.expressible:.1f}%).",
            "",
            "| ATen overload | covered by / left out because | detail |",
            "|---|---|---|",
        ]
        for op in self.ops:
            if op.category != CONVERTER:
                lines.append(f"| `{op.name}` | {op.category} | {op.detail} |")
        return "\n".join(lines) + "\n"


def _is_forward(qualified: str) -> bool:
    name, _, overload = qualified.removeprefix("aten::").partition(".")
    if "backward" in name or name.endswith("_"):
        return False
    return not (overload == "out" or overload.endswith("_out"))


def core_forward_opset() -> list[OpOverload]:
    """Every forward ATen overload tagged ``torch.Tag.core``, sorted by name.

    Returns:
        Overloads such as ``torch.ops.aten.add.Tensor``; ``*backward*``,
        in-place and ``out=`` overloads are left out.
    """
    ops = []
    for qualified in sorted(set(all_aten_op_names())):
        if not _is_forward(qualified):
            continue
        name, _, overload = qualified.removeprefix("aten::").partition(".")
        op = getattr(getattr(aten, name), overload or "default")
        if torch.Tag.core in op.tags:
            ops.append(op)
    return ops


def _traced_ops(op: OpOverload, args: tuple[Any, ...], table: dict) -> set[Any]:
    gm = make_fx(lambda *a: op(*a), decomposition_table=table)(*args)
    return {n.target for n in gm.graph.nodes if isinstance(n.target, OpOverload)}


def _classify(op: OpOverload, converters: Mapping[Any, Any], table: dict) -> CoreOpCoverage:
    name = target_name(op)
    if op in converters:
        return CoreOpCoverage(name, CONVERTER)
    if name in LEFT_OUT_REASONS:
        return CoreOpCoverage(name, *LEFT_OUT_REASONS[name])
    sample = DECOMPOSITION_SAMPLES.get(name)
    if sample is None:
        return CoreOpCoverage(name, NOT_YET, "no converter")
    reached = _traced_ops(op, sample(), table)
    missing = sorted(target_name(t) for t in reached if t not in converters)
    if missing:
        return CoreOpCoverage(
            name,
            NOT_YET,
            "decomposes to " + ", ".join(f"`{m}`" for m in missing) + " (no converter)",
        )
    how = "airgraph's table" if op in table else "PyTorch's composite kernel"
    via = ", ".join(f"`{target_name(t)}`" for t in sorted(reached, key=target_name))
    return CoreOpCoverage(name, DECOMPOSED, f"{how} → {via}")


def core_aten_coverage(converters: Mapping[Any, Any] | None = None) -> CoverageReport:
    """Classify every forward core ATen overload against the converter registry.

    Args:
        converters: the registry to count against, keyed by ATen overload;
            ``None`` (the default) for airgraph's own.

    Returns:
        A :class:`CoverageReport`; ``report.markdown()`` is the docs section.
    """
    if converters is None:
        converters = registered()
    table = default_decompositions()
    return CoverageReport(tuple(_classify(op, converters, table) for op in core_forward_opset()))
