"""Scope marks and waits (:mod:`airgraph_core.scope_ops`): GE op attributes and control edges.

``airgraph.scope_enter`` / ``scope_exit`` emit no op: they open and close a
scope on the graph builder, and every op emitted inside gets the scope's
attributes. ``airgraph.wait_tensor(x, dep)`` is an ``Identity`` of ``x`` with a
control edge from ``dep``'s producer, as TorchAir emits it.
"""

from __future__ import annotations

from typing import Any

import torch

from airgraph_core import scope_ops
from airgraph_core.converters.context import ConversionContext
from airgraph_core.converters.registry import register
from airgraph_core.ir.builder import TensorRef

ops = torch.ops.airgraph


@register(ops.scope_enter.default, dtypes=None)
def scope_enter(ctx: ConversionContext, keys: list[str], values: list[str]) -> None:
    attrs: dict[str, Any] = {}
    for key, value in zip(keys, values, strict=True):
        attrs[key] = value == "True" if key in scope_ops.BOOL_ATTRS else value
    ctx.b.push_scope(attrs)


@register(ops.scope_exit.default, dtypes=None)
def scope_exit(ctx: ConversionContext) -> None:
    ctx.b.pop_scope()


@register(ops.wait_tensor.default, dtypes=None, ge_ops=["Identity"])
def wait_tensor(ctx: ConversionContext, x: TensorRef, dependency: TensorRef) -> TensorRef:
    (out,) = ctx.b.add_op("Identity", [x], outputs=[x.spec], control=[dependency])
    return out
