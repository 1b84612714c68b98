"""TorchAir's ``torchair.ops``: ``npu_print``, a print that stays in compiled graphs.

``torchair.ops.npu_print("x =", x)`` prints ``x`` when the graph runs, not when
it is traced: it is recorded as the op ``airgraph.print``, which tracing keeps
in program order (as a side effect), so ``torch.compile`` with an FX backend
such as ``aot_eager`` prints each value as eager would, in-place updates
included. Tensors print in TorchAir's format: elements separated by spaces,
rows on their own lines, bools as ``1``/``0``; with ``summarize_size=n`` only
the first and last ``n`` entries of each dimension, with ``...`` between.

The airgraph backend does not lower ``airgraph.print`` yet (TorchAir emits GE's
``StringFormat`` + ``PrintV2``, which the host target cannot run): a graph that
prints fails to compile with ``UnsupportedOpError``, unless
``config.airgraph_config.unsupported_op = "fallback"``: then each print runs in
PyTorch at its place in the graph, with the values of that run, and the rest
of the graph still compiles.

Example::

    import torch
    import airgraph as torchair

    torchair.ops.npu_print("x =", torch.tensor([1.5, 2.0]))  # prints: x = [1.5 2]
"""

from __future__ import annotations

from typing import Any

import torch

__all__ = ["format_tensor", "npu_print"]

_lib = torch.library.Library("airgraph", "FRAGMENT")
_lib.define("print(Tensor[] tensors, str template, int summarize_size, bool tensor_detail) -> ()")


def _print_impl(
    tensors: list[torch.Tensor], template: str, summarize_size: int, tensor_detail: bool
) -> None:
    values = []
    for t in tensors:
        text = format_tensor(t, summarize_size)
        if tensor_detail:
            text = f"tensor({text}, shape={list(t.shape)}, dtype={t.dtype})"
        values.append(text)
    print(template.format(*values))  # the purpose of npu_print


def _print_fake(
    tensors: list[torch.Tensor], template: str, summarize_size: int, tensor_detail: bool
) -> None:
    return None  # tracing prints nothing; the print happens when the graph runs


_lib.impl("print", _print_impl, "CompositeExplicitAutograd")
torch.library.register_fake("airgraph::print", _print_fake, lib=_lib)
torch.fx.node.has_side_effect(torch.ops.airgraph.print.default)


def npu_print(*args: Any, summarize_size: int = 3, tensor_detail: bool = False) -> None:
    """Print ``args`` (tensors and other values, separated by spaces) when the graph runs.

    Args:
        args: what to print; tensors print their values, other values their ``str``.
        summarize_size: how many leading and trailing entries of each dimension
            to print (``-1``: all).
        tensor_detail: print each tensor as ``tensor(<values>, shape=[...], dtype=...)``.

    Raises:
        TypeError: ``summarize_size`` is not an int, or ``tensor_detail`` not a bool.
        ValueError: ``summarize_size`` is 0 or below -1.
    """
    if not isinstance(summarize_size, int) or isinstance(summarize_size, bool):
        raise TypeError(f"summarize_size must be int, got {type(summarize_size).__name__}")
    if summarize_size == 0 or summarize_size < -1:
        raise ValueError(f"summarize_size must be -1 or a positive int, got {summarize_size}")
    if not isinstance(tensor_detail, bool):
        raise TypeError(f"tensor_detail must be bool, got {type(tensor_detail).__name__}")
    tensors = [a for a in args if isinstance(a, torch.Tensor)]
    parts = [
        "{}" if isinstance(a, torch.Tensor) else str(a).replace("{", "{{").replace("}", "}}")
        for a in args
    ]
    torch.ops.airgraph.print(tensors, " ".join(parts), summarize_size, tensor_detail)


def format_tensor(t: torch.Tensor, summarize_size: int = -1) -> str:
    """``t``'s values as ``npu_print`` prints them (see the module docstring).

    Args:
        t: the tensor.
        summarize_size: entries kept at each end of a dimension, or ``-1`` for all.

    Returns:
        The text, e.g. ``"[[1 2]\\n [3 4]]"``.
    """
    if t.dtype is torch.bool:
        values = t.detach().cpu().to(torch.int64)
    elif t.is_floating_point():
        values = t.detach().cpu().to(torch.float64)
    else:
        values = t.detach().cpu()
    return _format(values, summarize_size, 1)


def _scalar(value: torch.Tensor) -> str:
    v = value.item()
    return f"{v:g}" if isinstance(v, float) else str(v)


def _format(t: torch.Tensor, summarize: int, depth: int) -> str:
    if t.dim() == 0:
        return _scalar(t)
    n = t.shape[0]
    if summarize != -1 and n > 2 * summarize:
        rows = [*range(summarize), None, *range(n - summarize, n)]
    else:
        rows = list(range(n))
    if t.dim() == 1:
        return "[" + " ".join("..." if i is None else _scalar(t[i]) for i in rows) + "]"
    parts = ["..." if i is None else _format(t[i], summarize, depth + 1) for i in rows]
    return "[" + ("\n" + " " * depth).join(parts) + "]"
