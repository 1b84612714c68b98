"""The gears step: from ``set_dim_gears`` marks to a checked :class:`GearSetup`.

Gear marks live on the example tensors of the first call (see
``airgraph_gears``); Dynamo hands those tensors to the backend, and
:func:`~airgraph_dynamo.inputs.aten_input_origins` maps every ATen
placeholder back to them. With at least one geared input, this step:

1. removes the runtime size asserts that geared sizes may bring into the
   ATen graph (``Eq(s0, s1)``, ...) and keeps them as a small checker graph:
   they are evaluated once per gear at compile time instead of at every call
   (:func:`split_size_asserts`);
2. after lowering, maps each geared dim to its GE ``Data`` input and checks
   that it stayed symbolic (``-1``), and that no other ``Data`` dim is
   dynamic;
3. builds the :class:`airgraph_gears.GearPlan` over the geared ``Data``
   inputs with the configured merge policy, and works out per combination
   the value of every geared size symbol, the host scalar inputs (symbolic
   sizes are derived from the tensor shapes) and whether the model's own
   constraints allow it (a ``product`` combination that adds tensors of
   different sizes does not) and whether it satisfies every size guard the
   trace left (:class:`~airgraph_dynamo.gear_guards.TraceGuards`);
4. prepares what the ``pad`` policy needs to slice outputs back.

The runtime side (dispatch by shapes, eager or lazy compiles, out-of-gear
policies) is :mod:`airgraph_dynamo.gear_dispatch`.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch.fx import GraphModule, Node

from airgraph_core import GeGraph, lowered_of
from airgraph_dynamo import _dynamo_compat
from airgraph_dynamo.gear_asserts import check_size_asserts, split_size_asserts
from airgraph_dynamo.gear_guards import TraceGuards
from airgraph_dynamo.inputs import InputOrigin
from airgraph_gears import GearPlan, get_dim_gears

__all__ = ["GearSetup", "GearSetupError", "build_gear_setup", "has_gears", "split_size_asserts"]

log = logging.getLogger("airgraph.dynamo")


class GearSetupError(ValueError):
    """The gears cannot serve this graph (e.g. the model specialized a geared dim)."""


def has_gears(origins: Sequence[InputOrigin]) -> bool:
    """True when some input of the graph carries ``set_dim_gears`` marks."""
    return any(get_dim_gears(o.value) for o in origins if isinstance(o.value, torch.Tensor))


@dataclasses.dataclass(frozen=True)
class GearInput:
    """A geared ``Data`` input of the GE graph.

    Attributes:
        source: the user input it reads (Dynamo's name, e.g. ``L['x1']``).
        data_name: the GE ``Data`` op's name.
        data_index: the ``Data`` op's ``index``.
        position: the ATen placeholder position it is fed from.
        symbols: geared dim -> the size symbol it was traced with.
    """

    source: str
    data_name: str
    data_index: int
    position: int
    symbols: Mapping[int, Any]


@dataclasses.dataclass
class GearSetup:
    """Everything the runtime needs to serve a graph's gears.

    Attributes:
        plan: the :class:`~airgraph_gears.GearPlan` over the geared ``Data``
            inputs (in ``Data`` order), as declared.
        inputs: the plan's inputs, one :class:`GearInput` each.
        symbol_values: per combination, the value of every geared size
            symbol (``None`` for an infeasible combination).
        scalars: per feasible combination, the value of every host scalar
            (symbolic size) placeholder: ATen position -> int.
        infeasible: combination index -> why the model rules it out.
        pad_blocker: why ``out_of_gear="pad"`` cannot serve this graph, or None.
        output_sizes: per graph output, the size expressions of a tensor
            output, an expression for a size output, or None.
        compiled: combination index -> seconds its compile took (host
            target; filled by the runtime).
    """

    plan: GearPlan
    inputs: tuple[GearInput, ...]
    symbol_values: tuple[dict[Any, int] | None, ...]
    scalars: dict[int, dict[int, int]]
    infeasible: dict[int, str]
    pad_blocker: str | None
    output_sizes: tuple[Any, ...]
    compiled: dict[int, float] = dataclasses.field(default_factory=dict)

    @property
    def feasible(self) -> list[int]:
        """The combination indices the model can run, ascending."""
        return [i for i in range(len(self.plan)) if i not in self.infeasible]

    def describe(self) -> str:
        """The plan's table, which input each column is, and infeasible combinations."""
        legend = ", ".join(
            f"input {i} = {g.source} (Data {g.data_name})" for i, g in enumerate(self.inputs)
        )
        lines = [self.plan.describe(), f"  where {legend}"]
        for index, reason in sorted(self.infeasible.items()):
            lines.append(f"  gear {index} is not served: {reason}")
        return "\n".join(lines)

    def ge_options(self, graph: GeGraph) -> dict[str, str]:
        """The GE gear options (``ge.inputShape``, ``ge.dynamicDims``, ``ge.dynamicNodeType``).

        They cover every ``Data`` input of ``graph`` and list the feasible
        combinations only, so GE never builds a variant the model rejects.

        Raises:
            GearSetupError: no combination is feasible.
        """
        feasible = self.feasible
        if not feasible:
            raise GearSetupError(f"no gear combination can run this model:\n{self.describe()}")
        datas = graph.data_ops
        shapes = [tuple(op.output_descs[0].shape or ()) for op in datas]
        gears: list[dict[int, tuple[int, ...]] | None] = [None] * len(datas)
        for k, g in enumerate(self.inputs):
            gears[g.data_index] = self.plan.gears[k]
        values = [
            tuple(self.plan.combinations[i][k][dim] for k, dim in self.plan.dims) for i in feasible
        ]
        full = GearPlan(shapes, gears, values)
        return full.ge_options([op.name for op in datas], shapes)


def build_gear_setup(
    gm: GraphModule,
    graph: GeGraph,
    example_inputs: Sequence[Any],
    origins: Sequence[InputOrigin],
    policy: str,
    checker: GraphModule | None = None,
) -> GearSetup:
    """Check a lowered graph against its inputs' gears and build the :class:`GearSetup`.

    Args:
        gm: the ATen graph (after :func:`split_size_asserts`).
        graph: the GE graph lowered from it.
        example_inputs: one value per ATen placeholder (fake tensors and
            SymInts carrying the traced symbolic sizes).
        origins: one :class:`InputOrigin` per ATen placeholder; the gear
            marks are read from their real values.
        policy: ``inference_config.dynamic_gears_merge_policy``.
        checker: the size asserts moved out of ``gm``, evaluated per gear.

    Returns:
        The setup.

    Raises:
        GearSetupError: a geared dim was specialized to a constant by the
            model, a ``Data`` dim is dynamic without gears, or a host scalar
            input cannot be derived from the geared sizes.
        ValueError: the gears break a merge rule (see ``airgraph_gears``).
    """
    inputs, template, specs = _geared_inputs(graph, example_inputs, origins)
    plan = GearPlan(template, specs, policy)
    sizes = [example_inputs[g.position].shape[d] for g in inputs for d in g.symbols]
    guards = TraceGuards.of(sizes[0], {s for g in inputs for s in g.symbols.values()})
    undecided: set[str] = set()
    symbol_values: list[dict[Any, int] | None] = []
    scalars: dict[int, dict[int, int]] = {}
    infeasible: dict[int, str] = {}
    for index, combination in enumerate(plan.combinations):
        values, reason = _symbol_values(plan, inputs, combination)
        if reason is None:
            reason = guards.reason(values, undecided)
        if reason is None:
            scalars[index] = _scalar_values(gm, example_inputs, origins, values)
            geared = {g.position: shape for g, shape in zip(inputs, combination)}
            reason = check_size_asserts(checker, example_inputs, geared, scalars[index])
        if reason is not None:
            infeasible[index] = reason
            scalars.pop(index, None)
            values = None
        symbol_values.append(values)
    output_sizes = _output_sizes(gm, graph)
    setup = GearSetup(
        plan,
        tuple(inputs),
        tuple(symbol_values),
        scalars,
        infeasible,
        _pad_blocker(gm, inputs, output_sizes),
        output_sizes,
    )
    if undecided:
        log.warning(
            "gears: the trace of %s guards sizes the gears do not decide (Dynamo checks them at "
            "every call and traces again if one fails): %s",
            graph.name,
            ", ".join(sorted(undecided)),
        )
    if infeasible:
        log.warning(
            "gears: %d of %d gear combinations cannot run this model and are not compiled:\n%s",
            len(infeasible),
            len(plan),
            "\n".join(f"  gear {i}: {r}" for i, r in sorted(infeasible.items())),
        )
    log.info("gears: graph %s serves\n%s", graph.name, setup.describe())
    return setup


def _geared_inputs(
    graph: GeGraph, example_inputs: Sequence[Any], origins: Sequence[InputOrigin]
) -> tuple[list[GearInput], list[tuple[int, ...]], list[dict[int, tuple[int, ...]]]]:
    """The geared ``Data`` inputs, their shape templates and gear specs; checks the rest."""
    sources = lowered_of(graph).input_sources
    inputs: list[GearInput] = []
    template: list[tuple[int, ...]] = []
    specs: list[dict[int, tuple[int, ...]]] = []
    for index, (op, pos) in enumerate(zip(graph.data_ops, sources)):
        origin = origins[pos]
        shape = op.output_descs[0].shape
        spec = get_dim_gears(origin.value) if isinstance(origin.value, torch.Tensor) else None
        spec = spec or {}
        dynamic = [d for d, size in enumerate(shape or ()) if size < 0 and d not in spec]
        if shape is None or dynamic:
            raise GearSetupError(
                f"{origin.name} (Data {op.name!r}, shape {shape}) has dynamic dims {dynamic} "
                "without gears. With gears, every dynamic dim must be geared: call "
                "set_dim_gears on it too, mark it static (torch._dynamo.mark_static), or "
                "compile with dynamic=False"
            )
        if not spec:
            continue
        example = example_inputs[pos]
        symbols = {}
        for dim in spec:
            size = example.shape[dim]
            expr = _dynamo_compat.size_expr(size) if isinstance(size, torch.SymInt) else None
            if expr is None or shape[dim] != -1 or expr.is_number:
                raise GearSetupError(
                    f"{origin.name} dim {dim} has gears {list(spec[dim])}, but the model "
                    f"specialized it to the constant {int(size)} (GE Data {op.name!r} has shape "
                    f"{list(shape)}), so the graph would serve only that size. Remove what pins "
                    "the size in the model (e.g. a view to a literal shape, or a torch._check "
                    "on it), or drop that dim's gears"
                )
            if not expr.is_Symbol:
                raise GearSetupError(
                    f"{origin.name} dim {dim} has gears but was traced as the size "
                    f"expression {expr}, not as a size of its own; airgraph cannot dispatch on it"
                )
            symbols[dim] = expr
        inputs.append(GearInput(origin.name, op.name, index, pos, symbols))
        template.append(tuple(-1 if d in spec else int(s) for d, s in enumerate(shape)))
        specs.append(spec)
    return inputs, template, specs


def _symbol_values(
    plan: GearPlan, inputs: Sequence[GearInput], combination: Sequence[Sequence[int]]
) -> tuple[dict[Any, int], str | None]:
    """Each geared size symbol's value in ``combination``, or why the model rules it out."""
    values: dict[Any, int] = {}
    owner: dict[Any, tuple[int, int]] = {}
    for k, dim in plan.dims:
        symbol, value = inputs[k].symbols[dim], combination[k][dim]
        if symbol in values and values[symbol] != value:
            first, first_dim = owner[symbol]
            return values, (
                f"the model needs {inputs[first].source} dim {first_dim} == "
                f"{inputs[k].source} dim {dim} (both are {symbol}), but the gear gives them "
                f"{values[symbol]} and {value}"
            )
        values[symbol] = value
        owner[symbol] = (k, dim)
    return values, None


def evaluate_size(expr: Any, values: Mapping[Any, int]) -> int | None:
    """``expr`` (an int or a sympy size expression) with ``values`` substituted, or None.

    Args:
        expr: a size as the traced graph has it (an int or a sympy expression).
        values: the value of each size symbol in one gear.

    Returns:
        The size in that gear, or ``None`` when symbols remain unknown.
    """
    if isinstance(expr, int):
        return expr
    result = expr.xreplace(values)
    if isinstance(result, int):
        return result
    return int(result) if result.is_number else None


def _scalar_values(
    gm: GraphModule,
    example_inputs: Sequence[Any],
    origins: Sequence[InputOrigin],
    values: Mapping[Any, int],
) -> dict[int, int]:
    """The value of every symbolic size placeholder under ``values``.

    A size placeholder the graph never reads (e.g. the storage offset of an
    input that is a slice, which Dynamo makes symbolic) has no value to
    derive and needs none: it is left out.
    """
    placeholders = list(gm.graph.find_nodes(op="placeholder"))
    scalars = {}
    for pos, example in enumerate(example_inputs):
        if not isinstance(example, torch.SymInt):
            continue
        value = evaluate_size(_dynamo_compat.size_expr(example), values)
        if value is None and pos < len(placeholders) and not placeholders[pos].users:
            continue
        if value is None:
            raise GearSetupError(
                f"the graph input {origins[pos].name} is the size {example}, which "
                "does not follow from the geared sizes; with gears, sizes must come from geared "
                "dims (compile with dynamic=False, or gear the dim it comes from)"
            )
        scalars[pos] = value
    return scalars


def _output_sizes(gm: GraphModule, graph: GeGraph) -> tuple[Any, ...]:
    """Per graph output: its dims' size expressions (tensor), its expression (size), or None.

    The GE graph's hidden view bases (outputs after the ATen outputs, see
    :class:`~airgraph_core.OutputViews`) follow, so padding slices them back too.
    """
    output = next(iter(gm.graph.find_nodes(op="output")))
    flat = output.args[0] if isinstance(output.args[0], (list, tuple)) else [output.args[0]]
    views = lowered_of(graph).output_views
    if views is not None and views.bases:
        by_name = {node.name: node for node in gm.graph.nodes}
        flat = [*flat, *(by_name[name] for name in views.bases)]
    sizes: list[Any] = []
    for out in flat:
        value = out.meta.get("val") if isinstance(out, Node) else out
        if isinstance(value, torch.Tensor):
            sizes.append(tuple(_expr(s) for s in value.shape))
        elif isinstance(value, (int, torch.SymInt)):
            sizes.append(_expr(value))
        else:
            sizes.append(None)
    return tuple(sizes)


def _expr(size: Any) -> Any:
    if isinstance(size, torch.SymInt):
        expr = _dynamo_compat.size_expr(size)
        return int(expr) if expr.is_number else expr
    return int(size)


def _pad_blocker(
    gm: GraphModule, inputs: Sequence[GearInput], output_sizes: Sequence[Any]
) -> str | None:
    """Why padding inputs and slicing outputs back would be unsafe here, or None."""
    symbols = {s for g in inputs for s in g.symbols.values()}
    for i, sizes in enumerate(output_sizes):
        if isinstance(sizes, tuple):
            for dim, size in enumerate(sizes):
                if isinstance(size, int) or size in symbols:
                    continue
                return (
                    f"output {i} dim {dim} has size {size}, which is not one geared size, so "
                    "it cannot be sliced back after padding"
                )
        elif sizes is not None and not isinstance(sizes, int) and not sizes.free_symbols <= symbols:
            return f"output {i} is the size {sizes}, which does not follow from the geared sizes"
    geared = {g.position for g in inputs}
    placeholders = list(gm.graph.find_nodes(op="placeholder"))
    for node in gm.graph.nodes:
        if node.op == "call_function" and node.target is torch.ops.aten.copy_.default:
            target = node.args[0]
            if target in placeholders and placeholders.index(target) in geared:
                return (
                    f"the model updates the geared input {target.name} in place; a padded "
                    "copy would receive the update instead"
                )
    return None
