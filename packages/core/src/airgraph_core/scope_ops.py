"""Torch ops that mark scopes and waits in a traced graph (TorchAir's ``torchair.scope``).

``with torchair.scope.npu_stream_switch("1"):`` and its siblings call
:func:`enter_scope` / :func:`exit_scope`, which Dynamo records as the ops
``airgraph.scope_enter`` / ``airgraph.scope_exit``. They compute nothing and
are registered as having side effects, so tracing keeps them in program
order around the ops they enclose. When a graph is lowered, every GE op
emitted between the two carries the scope's attributes (``_user_stream_label``,
``_super_kernel_scope``, ``_op_aicore_num``...), as in TorchAir's GE graphs.
They only steer NPU scheduling: values are the same without them, and the
host target ignores them.

``airgraph.wait_tensor(self, dependency)`` returns a copy of ``self`` that
GE may only compute after ``dependency`` (an ``Identity`` with a control edge).

Example:
    >>> import torch
    >>> from airgraph_core import scope_ops
    >>> scope_ops.enter_scope({"_user_stream_label": "1"})
    >>> scope_ops.exit_scope()
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

__all__ = ["BOOL_ATTRS", "enter_scope", "exit_scope", "wait_tensor"]

#: Scope attributes GE reads as bools; the rest are strings (as TorchAir sets them).
BOOL_ATTRS = frozenset({"_op_exec_never_timeout", "_enable_inner_parallel"})

_lib = torch.library.Library("airgraph", "FRAGMENT")
_lib.define("scope_enter(str[] keys, str[] values) -> ()")
_lib.define("scope_exit() -> ()")
_lib.define("wait_tensor(Tensor self, Tensor dependency) -> Tensor")


def _no_effect(*args: object) -> None:
    return None


def _wait_tensor(self: torch.Tensor, dependency: torch.Tensor) -> torch.Tensor:
    return self.clone()


def _wait_tensor_backward(ctx: object, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
    # The result is self's value, so its gradient is self's; the dependency only orders.
    return grad, None


_lib.impl("scope_enter", _no_effect, "CompositeExplicitAutograd")
_lib.impl("scope_exit", _no_effect, "CompositeExplicitAutograd")
_lib.impl("wait_tensor", _wait_tensor, "CompositeExplicitAutograd")
# Without a formula, autograd's fallback warned in eager and, traced by AOTAutograd
# (torch.compile with aot_eager or inductor), dropped self's gradient silently.
torch.library.register_autograd("airgraph::wait_tensor", _wait_tensor_backward)

# Nothing reads their outputs: without this, tracing would drop them as dead code.
for _op in (
    torch.ops.airgraph.scope_enter.default,
    torch.ops.airgraph.scope_exit.default,
    torch.ops.airgraph.wait_tensor.default,
):
    torch.fx.node.has_side_effect(_op)


def enter_scope(attrs: Mapping[str, str]) -> None:
    """Open a scope: GE ops lowered until the matching :func:`exit_scope` carry ``attrs``.

    Args:
        attrs: GE attribute names and their values, as strings (``"True"``/``"False"``
            for the names in :data:`BOOL_ATTRS`).

    Raises:
        TypeError: a name or value is not a string.
    """
    for key, value in attrs.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise TypeError(
                f"attrs: expected str names and values, got {key!r}: {value!r} "
                f"({type(value).__name__})"
            )
    torch.ops.airgraph.scope_enter(list(attrs), list(attrs.values()))


def exit_scope() -> None:
    """Close the innermost scope opened by :func:`enter_scope`."""
    torch.ops.airgraph.scope_exit()


def wait_tensor(self: torch.Tensor, dependency: torch.Tensor) -> torch.Tensor:
    """A copy of ``self`` that the GE graph computes only after ``dependency``.

    Args:
        self: the tensor to pass on.
        dependency: the tensor whose producer must run first.

    Returns:
        A tensor equal to ``self``.
    """
    return torch.ops.airgraph.wait_tensor(self, dependency)
