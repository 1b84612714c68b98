"""Gear marks on tensors: ``set_dim_gears`` declares the sizes a dim may take.

The gears live on the tensor object the user passes to the first compiled
call (attribute ``_airgraph_dim_gears``, a dict dim -> tuple of gears). The
geared dims are also marked for Dynamo so that one trace covers every gear.
How they are traced is :func:`set_gear_tracing`'s choice:

``"unbacked"`` (the default): ``mark_unbacked``. Dynamo never specializes an
unbacked size to 0 or 1 (``mark_dynamic``, TorchAir's choice, does, so
TorchAir forbids gear 1), so gears 1, 2, 4, 8 share one trace. But a branch
on the size (``if x.size(0) > 2``, transformers' mask and sdpa code) cannot
be traced. Not ``strict=True``: in torch 2.13 that flag takes another path
that makes the dim an ordinary (backed) dynamic dim, which specializes 1
again.

``"backed"`` (experimental): ``maybe_mark_dynamic``, a *backed* size (its
hint is the first call's size), traced with size-oblivious reasoning in
every Dynamo compile of a frame that takes a geared tensor (see
``_torch_compat.install_oblivious_tracing``). Size-oblivious, it is not
specialized to 0 or 1; backed, a branch on it traces, following the first
call's size, and leaves a Dynamo guard. The backend checks every such guard
against every gear of the plan and reports (and does not compile) the gears
that break one; Dynamo's guard then sends a call with such a gear to a trace
of its own.

Either way, a model that pins a geared dim to a constant is reported by the
backend, naming the input and dim.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import torch

from airgraph_gears import _torch_compat
from airgraph_gears._values import describe, is_int
from airgraph_gears.errors import GearSpecError, GearSpecTypeError

__all__ = [
    "GEARS_ATTR",
    "GEAR_TRACINGS",
    "MAX_GEARS_PER_DIM",
    "MIN_GEARS_PER_DIM",
    "get_dim_gears",
    "get_gear_tracing",
    "normalize_dim_gears",
    "set_dim_gears",
    "set_gear_tracing",
]

log = logging.getLogger("airgraph.gears")

#: Name of the tensor attribute that holds the gears (dim -> tuple of gears).
GEARS_ATTR = "_airgraph_dim_gears"
#: Fewest gears a dim may have (TorchAir's rule).
MIN_GEARS_PER_DIM = 2
#: Most gears a dim may have (TorchAir's rule).
MAX_GEARS_PER_DIM = 100
#: The ways geared dims can be traced (see :func:`set_gear_tracing`).
GEAR_TRACINGS = ("unbacked", "backed")

_tracing = ["unbacked"]


def set_gear_tracing(mode: str) -> None:
    """Choose how ``set_dim_gears`` makes Dynamo trace geared dims, from now on.

    ``"unbacked"`` (the default): unknown sizes; gear 1 shares the trace, but
    code that branches on a geared size cannot be traced. ``"backed"``
    (experimental): sizes with the first call's value as hint, traced
    size-oblivious; branches on them trace and leave guards that the backend
    checks for every gear (gears that break one are reported and get a
    trace of their own). Affects the tensors marked after the call.

    Args:
        mode: one of :data:`GEAR_TRACINGS`.

    Raises:
        ValueError: ``mode`` is not one of them.

    Examples:
        >>> set_gear_tracing("backed")
        >>> get_gear_tracing()
        'backed'
        >>> set_gear_tracing("unbacked")
    """
    if mode not in GEAR_TRACINGS:
        raise ValueError(f"mode must be one of {list(GEAR_TRACINGS)}, got {mode!r}")
    _tracing[0] = mode


def get_gear_tracing() -> str:
    """How geared dims are traced now: ``"unbacked"`` or ``"backed"`` (see :func:`set_gear_tracing`)."""
    return _tracing[0]


def normalize_dim_gears(
    dim_gears: Any, ndim: int, *, name: str = "dim_gears"
) -> dict[int, tuple[int, ...]]:
    """Validate one tensor's gear spec and return it as {dim: gears}, dims >= 0.

    Gears keep the order and repetitions given: ``zip`` pairs gears by
    position, so ``{0: [2, 2, 4]}`` next to ``{0: [8, 16, 16]}`` is meaningful.
    Shared by ``set_dim_gears`` and ``GearPlan`` so both enforce one rule set.
    Where TorchAir checks the same rule, the message is TorchAir's (with
    ``name`` where TorchAir says ``dim_gears``).

    Args:
        dim_gears: the spec as the user gave it, e.g. ``{0: [2, 4]}``.
        ndim: rank of the tensor the spec belongs to.
        name: how error messages name the spec.

    Returns:
        ``{dim: gears}`` with non-negative dims in ascending order.

    Raises:
        GearSpecTypeError: the spec, a dim or a gear has the wrong type (a
            ``TypeError`` and an ``AssertionError``).
        GearSpecError: a dim is out of range or named twice, a gear is not
            positive, or a dim has too few or too many gears (a
            ``ValueError`` and an ``AssertionError``).
    """
    if not isinstance(dim_gears, Mapping):
        raise GearSpecTypeError(
            f"{name} must be a dict mapping a dim to a list of gears, "
            f"e.g. {{0: [2, 4]}}, got {describe(dim_gears)}"
        )
    if not dim_gears:
        raise GearSpecError(f"{name} must name at least one dim, e.g. {{0: [2, 4]}}, got {{}}")
    normalized: dict[int, tuple[int, ...]] = {}
    given_as: dict[int, int] = {}
    for dim, gears in dim_gears.items():
        if not is_int(dim):
            raise GearSpecTypeError(f"Dim index in {name} must be an integer, but got {type(dim)}.")
        dim = int(dim)
        if dim >= ndim:
            raise GearSpecError(
                f"Dim index in {name} must be in range [0, {ndim - 1}], but got {dim}."
            )
        if dim < -ndim:  # negative dims count from the end (TorchAir refuses them all)
            raise GearSpecError(
                f"Dim index in {name} must be in range [{-ndim}, {ndim - 1}], but got {dim}."
            )
        positive = dim % ndim
        if positive in normalized:
            raise GearSpecError(
                f"{name} names dim {positive} twice (as {given_as[positive]} and {dim})"
            )
        if not isinstance(gears, (list, tuple)):
            raise GearSpecTypeError(
                f"Gears for dim index {dim} in {name} must be a list or tuple, "
                f"but got {type(gears)}."
            )
        for index, gear in enumerate(gears):
            if not is_int(gear):
                raise GearSpecTypeError(
                    f"Element at index {index} of value for dim index {dim} in {name} "
                    f"must be an integer, but got {type(gear)}."
                )
            if gear == 0:
                raise GearSpecError(
                    f"Gear value at index {index} for dim index {dim} must not be 0, "
                    f"but got {gear}."
                )
            if gear < 0:
                raise GearSpecError(
                    f"Gear value at index {index} for dim index {dim} must be a positive "
                    f"int, but got {gear}: gears are sizes of at least 1."
                )
        if not MIN_GEARS_PER_DIM <= len(gears) <= MAX_GEARS_PER_DIM:
            raise GearSpecError(
                f"Length of gears for dim index {dim} in {name} must be in range "
                f"[{MIN_GEARS_PER_DIM}, {MAX_GEARS_PER_DIM}], but got {len(gears)}."
            )
        normalized[positive] = tuple(int(gear) for gear in gears)
        given_as[positive] = dim
    return dict(sorted(normalized.items()))


def set_dim_gears(t: torch.Tensor, dim_gears: Mapping[int, list[int] | tuple[int, ...]]) -> None:
    """Declare the sizes (gears) some dims of an input tensor may take.

    Call it on the example inputs of the first compiled call. Every gear
    combination allowed by the merge policy then runs from one Dynamo trace as
    a static graph, without recompiling. Dims without gears are static, also
    under ``torch.compile(dynamic=True)`` (as in TorchAir). Unlike TorchAir, a
    gear of 1 is allowed (batch-1 decode).

    Rules (TorchAir's, with its messages): dims are ints below the rank
    (negative ones, which TorchAir refuses, count from the end); each dim has
    2 to 100 gears, each a positive int (``bool`` is not an int). Gears keep
    their order and repetitions, because ``zip`` pairs them by position. The
    tensor's current size in a geared dim must be one of its gears: the first
    call traces and runs at that size. A tensor's gears are set once: calling
    again with the same gears does nothing, with different ones (other gears,
    or more dims) raises. Nothing is changed when a rule fails.

    Every error is catchable as TorchAir's ``AssertionError`` and as
    airgraph's ``ValueError`` / ``TypeError`` (:class:`GearSpecError`,
    :class:`GearSpecTypeError`).

    Args:
        t: an input of the compiled function (TorchAir's parameter name).
        dim_gears: maps a dim to its gears, e.g. ``{0: [1, 2, 4, 8]}``.

    Raises:
        GearSpecTypeError: ``t`` is not a tensor, ``dim_gears`` not a dict, a
            dim not an int, gears not a list/tuple, or a gear not an int.
        GearSpecError: no dims, a dim out of range or named twice, a gear below
            1, fewer than 2 or more than 100 gears, the current size not among
            the gears, or the tensor already has different gears.

    Examples:
        >>> x = torch.ones(2, 16)
        >>> set_dim_gears(x, dim_gears={0: [1, 2, 4, 8]})
        >>> get_dim_gears(x)
        {0: (1, 2, 4, 8)}
    """
    if not isinstance(t, torch.Tensor):
        raise GearSpecTypeError(f"set_dim_gears: t must be a torch.Tensor, got {describe(t)}")
    gears_by_dim = normalize_dim_gears(dim_gears, t.dim())
    current = get_dim_gears(t)
    if current is not None:
        if current != gears_by_dim:
            raise GearSpecError(
                f"Tensor {t} already has set dim gears, and it is not supported to set it again."
            )
        return
    for dim, gears in gears_by_dim.items():
        size = t.size(dim)
        if size not in gears:
            raise GearSpecError(
                f"dim_gears[{dim}] = {list(gears)} does not contain the tensor's current size "
                f"{size} in dim {dim}: the first compiled call traces and runs at this size, "
                "so it must be one of the gears"
            )
    if _tracing[0] == "backed":
        _torch_compat.install_oblivious_tracing(_is_geared)
        for dim in gears_by_dim:
            _torch_compat.mark_geared(t, dim)
    else:
        for dim in gears_by_dim:
            _torch_compat.mark_unbacked(t, dim)
    setattr(t, GEARS_ATTR, gears_by_dim)
    log.debug("gears set on a tensor of shape %s: %s", tuple(t.shape), gears_by_dim)


def get_dim_gears(tensor: Any) -> dict[int, tuple[int, ...]] | None:
    """Return the gears set on a tensor by ``set_dim_gears``, or None.

    Args:
        tensor: any object; only tensors marked by ``set_dim_gears`` have gears.

    Returns:
        A new dict mapping each geared dim (>= 0, ascending) to its gears as a
        tuple, or None when no gears are set.

    Examples:
        >>> get_dim_gears(torch.ones(2)) is None
        True
    """
    gears = getattr(tensor, GEARS_ATTR, None)
    return None if gears is None else dict(gears)


def _is_geared(value: Any) -> bool:
    return isinstance(value, torch.Tensor) and getattr(value, GEARS_ATTR, None) is not None
