"""Graph outputs that are views: rebuilt after the target ran, exactly as eager makes them.

A GE graph's outputs are new tensors: GE cannot return a view of its input.
But an ATen graph may return a view of an input (``x[1:4].t()``), of the
value written into an input (``x.add_(1)[0]``) or of another output
(``y, y.t()``). PyTorch expects those as real views with eager's sizes,
strides and storage offset: AOTAutograd rebuilds them from the base with
the layout of the tensor the compiled graph returned, and a wrong layout
there is a silently wrong value.

So the lowering keeps such outputs out of ``NetOutput`` (output kind
``"v"``) and records, as data, the chain of ATen view ops (and the size
arithmetic they need) from the base to each of them: an
:class:`OutputViews`. After the target ran, :meth:`OutputViews.apply`
replays the chain on the real base: an input, or an output the target
returned. The result is what eager computes, under static shapes, symbolic
shapes and gears alike, on every target. TorchAir does the same for views
of inputs (its ``ViewOfInput`` outputs).

The record is JSON and names only ATen view ops, size queries and integer
arithmetic, so a cache entry can store it and load it without executing
anything else.
"""

from __future__ import annotations

import json
import operator
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch.fx import GraphModule, Node

from airgraph_core._torch_compat import OpOverload
from airgraph_core._view_steps import (
    IDENTITY,
    bind_argument,
    bind_kwargs,
    resolve_target,
    target_name,
)
from airgraph_core.dense_layouts import dim_order, eager_order, with_layout

__all__ = ["OutputViews", "find_output_views"]


class _NotReplayable(Exception):
    """A node the replay cannot reproduce from its bases (not a view chain)."""


class OutputViews:
    """How to rebuild the outputs of an ATen graph that are views.

    Args:
        steps: the ops to replay, in order: ``[target, args, kwargs]`` where
            ``target`` names an ATen view op (``"aten.slice.Tensor"``), a size
            query, ``"getitem"`` or integer arithmetic (``"operator.sub"``);
            ``args``/``kwargs`` are JSON values in which ``{"in": i}`` is the
            graph's input ``i`` (``Data`` index), ``{"out": k}`` its ATen
            output ``k``, ``{"step": j}`` the result of step ``j`` and
            ``{"dtype": name}`` a ``torch.dtype``.
        outputs: ``[k, j]`` pairs: ATen output ``k`` is the result of step ``j``.
        bases: the FX names of intermediates the views are taken of that the
            ATen graph does not return: the GE graph returns them after the
            ATen outputs (output kind ``"b"``), as ``{"out": k}`` with ``k``
            past the ATen outputs, and :meth:`apply` drops them.
        layouts: ``[k, order]`` pairs: base ``k``'s eager layout is dense but not
            contiguous, ``order`` its dims outermost first (``torch.empty_permuted``'s
            ``physical_layout``); :meth:`apply` first copies such a base (targets
            return contiguous tensors) into that layout, so views replay as eager's.

    Raises:
        ValueError: a step names a target outside the allowed set or a
            reference is malformed (e.g. a damaged cache entry).
    """

    def __init__(
        self,
        steps: Sequence[Sequence[Any]],
        outputs: Sequence[Sequence[int]],
        bases: Sequence[str] = (),
        layouts: Sequence[Sequence[Any]] = (),
    ) -> None:
        self.steps = [[str(t), list(a), dict(kw)] for t, a, kw in steps]
        self.outputs = [(int(k), int(j)) for k, j in outputs]
        self.bases = [str(name) for name in bases]
        self.layouts = [(int(k), dim_order(order)) for k, order in layouts]
        self._program = [
            (resolve_target(t), bind_argument(a, j), bind_kwargs(kw, j))
            for j, (t, a, kw) in enumerate(self.steps)
        ]
        for k, j in self.outputs:
            if not 0 <= j < len(self.steps):
                raise ValueError(f"outputs: output {k} names step {j} of {len(self.steps)}")

    def __len__(self) -> int:
        return len(self.outputs)

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, OutputViews)
            and self.steps == other.steps
            and self.outputs == other.outputs
            and self.bases == other.bases
            and self.layouts == other.layouts
        )

    def __repr__(self) -> str:
        return f"OutputViews({len(self.outputs)} outputs, {len(self.steps)} steps)"

    @property
    def view_outputs(self) -> frozenset[int]:
        """The ATen output positions this record rebuilds."""
        return frozenset(k for k, _ in self.outputs)

    def to_json(self) -> str:
        """The record as compact JSON (see :meth:`from_json`)."""
        data: dict[str, Any] = {"steps": self.steps, "outputs": self.outputs, "bases": self.bases}
        if self.layouts:
            data["layouts"] = [[k, list(order)] for k, order in self.layouts]
        return json.dumps(data, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> OutputViews:
        """Read a record written by :meth:`to_json`.

        Raises:
            ValueError: the text is not such a record.
        """
        try:
            data = json.loads(text)
            return cls(
                data["steps"], data["outputs"], data.get("bases", ()), data.get("layouts", ())
            )
        except (KeyError, TypeError, json.JSONDecodeError) as e:
            raise ValueError(f"text: not an output-views record ({e})") from e

    def apply(self, inputs: Sequence[Any], outputs: list[Any]) -> list[Any]:
        """Fill in the view outputs of one call, in place.

        Args:
            inputs: the graph's inputs of this call, one per ``Data`` op in
                index order (after the target ran: inputs it updates in
                place hold their new values).
            outputs: one value per ATen output, then one per hidden base, as
                the target's outputs map to them
                (:func:`~airgraph_core.lowering.convert_outputs`); view
                positions hold ``None`` and are overwritten, hidden bases are
                removed.

        Returns:
            ``outputs``, one value per ATen output.
        """
        for k, order in self.layouts:
            outputs[k] = with_layout(outputs[k], order)
        results: list[Any] = []
        for fn, args, kwargs in self._program:
            results.append(fn(*args(inputs, outputs, results), **kwargs(inputs, outputs, results)))
        for k, j in self.outputs:
            outputs[k] = results[j]
        if self.bases:
            del outputs[-len(self.bases) :]
        return outputs


# -- finding the views of an ATen graph ---------------------------------------


def find_output_views(
    gm: GraphModule,
    data_index: Mapping[Node, int],
    outputs: Sequence[Any],
    input_aliases: Mapping[int, int] | None = None,
) -> OutputViews | None:
    """Find the outputs of ``gm`` that are view chains of an input or of another output.

    Args:
        gm: the ATen graph.
        data_index: the ``Data`` index of each placeholder that is a graph
            input (frozen placeholders are absent: they are constants).
        outputs: the graph's output values (the ``output`` node's args, flat).
        input_aliases: output position -> placeholder position of the input
            eager's output is or views. After functionalization the value
            written into an input (``copy_(x, v)``) stands both for the input
            (``x.add_(1); return x``) and for a new tensor (``v = x + 1;
            x.copy_(v); return v``); only outputs listed here are rebuilt from
            the input. ``None``: none are.

    Returns:
        The record, or ``None`` when no output is such a view.
    """
    copied_into: dict[Node, list[Node]] = {}
    for node in gm.graph.nodes:
        if node.op == "call_function" and node.target is torch.ops.aten.copy_.default:
            dst, src = node.args[0], node.args[1]
            if isinstance(dst, Node) and dst.op == "placeholder" and isinstance(src, Node):
                copied_into.setdefault(src, []).append(dst)
    roots = _output_roots(outputs)
    finder = _ViewFinder(data_index, copied_into, roots, len(outputs))
    placeholders = list(gm.graph.find_nodes(op="placeholder"))
    found: list[tuple[int, int]] = []
    for k, out in enumerate(outputs):
        if not isinstance(out, Node):
            continue
        # A view chain, or the input itself (or its new value, returned after an in-place update).
        if not (_is_view_node(out) or out.op == "placeholder" or out in copied_into):
            continue
        aliased = (input_aliases or {}).get(k)
        finder.allowed = (
            frozenset({placeholders[aliased]})
            if aliased is not None and 0 <= aliased < len(placeholders)
            else frozenset()
        )
        if (
            out.op != "placeholder"
            and not _is_view_node(out)
            and out not in _copied_allowed(finder)
        ):
            continue  # the value written into an input, returned as a new tensor
        mark = finder.mark()
        try:
            found.append((k, finder.encode(out, top=True)))
        except _NotReplayable:
            finder.rollback(mark)
    if not found:
        return None
    hidden = [node.name for node in finder.hidden]
    return OutputViews(finder.steps, found, hidden, sorted(finder.layouts.items()))


def _copied_allowed(finder: _ViewFinder) -> set[Node]:
    return {v for v in finder.copied_into if finder.copy_target(v) is not None}


def _output_roots(outputs: Sequence[Any]) -> dict[Node, int]:
    """Outputs that are not views themselves: bases a view output may be rebuilt from."""
    roots: dict[Node, int] = {}
    for k, out in enumerate(outputs):
        if isinstance(out, Node) and out.op != "placeholder" and not _is_view_node(out):
            roots.setdefault(out, k)
    return roots


def _is_view_node(node: Node) -> bool:
    if node.op != "call_function":
        return False
    if node.target is operator.getitem:
        parent = node.args[0]
        return isinstance(parent, Node) and _is_view_node(parent)
    return isinstance(node.target, OpOverload) and node.target.is_view


class _ViewFinder:
    """Encodes view chains (and the sizes they use) as replay steps, sharing common steps."""

    def __init__(
        self,
        data_index: Mapping[Node, int],
        copied_into: Mapping[Node, list[Node]],
        roots: Mapping[Node, int],
        n_outputs: int,
    ) -> None:
        self.data_index = data_index
        self.copied_into = copied_into
        self.roots = roots
        self.n_outputs = n_outputs
        # Intermediates the ATen graph does not return that views are taken
        # of: the GE graph returns them too, so eager's aliasing holds.
        self.hidden: list[Node] = []
        # The inputs the output being encoded may be rebuilt from through the
        # value written into them (see ``input_aliases``).
        self.allowed: frozenset[Node] = frozenset()
        self.steps: list[list[Any]] = []
        self._done: dict[Node, int] = {}
        self._sizes: dict[Node, dict[str, int] | None] = {}
        # Output position -> eager's dense, non-contiguous dim order of that base.
        self.layouts: dict[int, tuple[int, ...]] = {}

    def mark(self) -> tuple[Any, ...]:
        n_steps, n_hidden = len(self.steps), len(self.hidden)
        return n_steps, dict(self._done), dict(self._sizes), n_hidden, dict(self.layouts)

    def rollback(self, mark: tuple[Any, ...]) -> None:
        del self.steps[mark[0] :]
        self._done, self._sizes = mark[1], mark[2]
        del self.hidden[mark[3] :]
        self.layouts = mark[4]

    def encode(self, node: Node, top: bool = False) -> int:
        """The step index that yields ``node``'s value (steps are appended as needed)."""
        if node in self._done:
            return self._done[node]
        base = self._base_ref(node)
        if base is not None:
            if not top:
                raise _NotReplayable  # callers take bases as references, not steps
            return self._append(node, IDENTITY, [base], {})
        if node.op != "call_function":
            raise _NotReplayable
        name = target_name(node.target)
        if name is None:
            raise _NotReplayable
        args = [self._arg(a) for a in node.args]
        kwargs = {key: self._arg(v) for key, v in node.kwargs.items()}
        return self._append(node, name, args, kwargs)

    def _append(self, node: Node, name: str, args: list[Any], kwargs: dict[str, Any]) -> int:
        self.steps.append([name, args, kwargs])
        self._done[node] = len(self.steps) - 1
        return self._done[node]

    def _base_ref(self, node: Node) -> dict[str, int] | None:
        """A reference to ``node``'s runtime value when the target provides it."""
        if node.op == "placeholder":
            size = self._size_of_input(node)
            if size is not None:
                return size
            if node not in self.data_index:
                raise _NotReplayable  # a frozen (constant) input
            return {"in": self.data_index[node]}
        placeholder = self.copy_target(node)
        if placeholder is not None:
            # The new value of an input updated in place, and eager's output is that input.
            if placeholder not in self.data_index:
                raise _NotReplayable
            return {"in": self.data_index[placeholder]}
        if node in self.roots:
            return self._target_output(node, self.roots[node])
        if _is_computed_tensor(node):
            if node not in self.hidden:
                self.hidden.append(node)
            return self._target_output(node, self.n_outputs + self.hidden.index(node))
        return None

    def _target_output(self, node: Node, k: int) -> dict[str, int]:
        """A reference to output ``k`` (``node``'s value), noting eager's layout if not contiguous."""
        order = eager_order(node.meta.get("val"))
        if order is not None and order != tuple(range(len(order))):
            self.layouts[k] = order
        return {"out": k}

    def copy_target(self, node: Node) -> Node | None:
        """The input ``node``'s value is written into and the current output may alias."""
        return next((p for p in self.copied_into.get(node, ()) if p in self.allowed), None)

    def _size_of_input(self, node: Node) -> dict[str, int] | None:
        """A size placeholder read off a tensor input's dim (the target may get no size inputs)."""
        val = node.meta.get("val")
        if not isinstance(val, torch.SymInt):
            return None
        if node in self._sizes:
            return self._sizes[node]
        ref = None
        for tensor, i in self.data_index.items():
            t = tensor.meta.get("val")
            if not isinstance(t, torch.Tensor):
                continue
            dims = [d for d, n in enumerate(t.shape) if isinstance(n, torch.SymInt)]
            d = next((d for d in dims if t.shape[d].node.expr == val.node.expr), None)
            if d is not None:
                self.steps.append(["aten.sym_size.int", [{"in": i}, d], {}])
                ref = {"step": len(self.steps) - 1}
                break
        self._sizes[node] = ref
        return ref

    def _arg(self, value: Any) -> Any:
        if isinstance(value, Node):
            base = self._base_ref(value)
            if base is not None:
                return base
            if _is_folded(value):
                return _literal(value.meta["val"])
            return {"step": self.encode(value)}
        if isinstance(value, (list, tuple)):
            return [self._arg(v) for v in value]
        return _literal(value)


def _is_computed_tensor(node: Node) -> bool:
    """A tensor the graph computes (not a view, not a size): the target can return it."""
    return (
        node.op == "call_function"
        and not _is_view_node(node)
        and isinstance(node.meta.get("val"), torch.Tensor)
    )


def _is_folded(node: Node) -> bool:
    val = node.meta.get("val")
    return isinstance(val, (int, float, bool)) and not isinstance(val, torch.SymInt)


def _literal(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, torch.dtype):
        return {"dtype": str(value).removeprefix("torch.")}
    if isinstance(value, (list, tuple)):
        return [_literal(v) for v in value]
    raise _NotReplayable
