"""TorchAir's ``torchair.scope``: scopes that set GE attributes on the ops they enclose.

``with torchair.scope.npu_stream_switch("1", 3):`` puts the ops inside on the
NPU stream labelled ``"1"``; ``super_kernel``, ``limit_core_num``,
``op_never_timeout`` and ``data_dump`` set their own attributes the same way,
and ``npu_wait_tensor(x, dep)`` orders ``x``'s readers after ``dep``. Inside
``torch.compile`` (``fullgraph=True`` included) every GE op lowered inside the
``with`` block carries the attributes TorchAir sets (``_user_stream_label``,
``_super_kernel_scope``, ``_op_aicore_num``, ...). They steer NPU scheduling
only: results are the same with or without them, the host target ignores
them, and outside ``torch.compile`` the scopes do nothing.

Example::

    import torch
    import airgraph as torchair

    def f(x, y):
        z = x + y
        with torchair.scope.npu_stream_switch("1", 3):
            torchair.scope.npu_wait_tensor(y, z)
            w = torch.mm(x, y)
        return z, w

    torch.compile(f, backend=torchair.get_npu_backend())(torch.ones(2, 2), torch.ones(2, 2))
"""

from __future__ import annotations

from typing import Any

import torch

from airgraph_core import scope_ops

__all__ = [
    "data_dump",
    "limit_core_num",
    "npu_stream_switch",
    "npu_wait_tensor",
    "op_never_timeout",
    "super_kernel",
]


class Scope:
    """A context manager giving the GE ops lowered inside it the attributes ``attrs``.

    The functions of this module return one; it is not meant to be built directly.
    """

    def __init__(self, attrs: dict[str, str]) -> None:
        self.attrs = attrs

    def __enter__(self) -> None:
        scope_ops.enter_scope(self.attrs)

    def __exit__(self, *exc_info: Any) -> None:
        scope_ops.exit_scope()


def npu_wait_tensor(self: torch.Tensor, dependency: torch.Tensor) -> torch.Tensor:
    """Return ``self``'s value, computed on the NPU only after ``dependency``.

    Use it to order work across streams: readers of the result wait for
    ``dependency``'s producer (a GE ``Identity`` with a control edge).

    Args:
        self: the tensor to pass on.
        dependency: the tensor that must be ready first.

    Returns:
        A tensor equal to ``self`` (a copy outside ``torch.compile``).
    """
    return scope_ops.wait_tensor(self, dependency)


def npu_stream_switch(
    stream_tag: str, stream_priority: int = 0, enable_inner_parallel: bool = True
) -> Scope:
    """Run the enclosed ops on the NPU stream labelled ``stream_tag``.

    Args:
        stream_tag: the stream's label (``_user_stream_label``).
        stream_priority: its priority (``_user_stream_priority``).
        enable_inner_parallel: whether GE may parallelize within the stream
            (``_enable_inner_parallel``).

    Returns:
        A :class:`Scope` to use with ``with``.
    """
    return Scope(
        {
            "_user_stream_label": str(stream_tag),
            "_user_stream_priority": str(stream_priority),
            "_enable_inner_parallel": str(enable_inner_parallel),
        }
    )


def super_kernel(scope: str, options: str = "") -> Scope:
    """Fuse the enclosed ops into the NPU super kernel ``scope``.

    Args:
        scope: the super kernel's name (``_super_kernel_scope``); ``None`` or
            ``""`` takes the enclosed ops out of any surrounding super kernel.
        options: compile options of the super kernel (``_super_kernel_options``).

    Returns:
        A :class:`Scope` to use with ``with``.
    """
    return Scope({"_super_kernel_scope": scope or "", "_super_kernel_options": str(options)})


def limit_core_num(op_aicore_num: int, op_vectorcore_num: int) -> Scope:
    """Limit the AI cores and vector cores each enclosed op may use.

    Args:
        op_aicore_num: AI cores per op (``_op_aicore_num``).
        op_vectorcore_num: vector cores per op (``_op_vectorcore_num``).

    Returns:
        A :class:`Scope` to use with ``with``.
    """
    return Scope(
        {"_op_aicore_num": str(op_aicore_num), "_op_vectorcore_num": str(op_vectorcore_num)}
    )


def op_never_timeout(enable: bool = True) -> Scope:
    """Let the enclosed ops run without GE's execution timeout (``_op_exec_never_timeout``).

    Args:
        enable: ``True`` to disable the timeout, ``False`` to keep it
            (e.g. inside an outer ``op_never_timeout()``).

    Returns:
        A :class:`Scope` to use with ``with``.

    Raises:
        TypeError: ``enable`` is not a bool.
    """
    if not isinstance(enable, bool):
        raise TypeError(
            f"op_never_timeout() argument 'enable' must be bool, but got {type(enable).__name__}."
        )
    return Scope({"_op_exec_never_timeout": str(enable)})


def data_dump() -> Scope:
    """Mark the enclosed ops for GE's data dump on the NPU (``torchair_enable_data_dump``).

    Returns:
        A :class:`Scope` to use with ``with``.
    """
    return Scope({"torchair_enable_data_dump": "True"})
