"""Gear plans: every input-shape combination one compiled function serves.

A ``GearPlan`` is fixed at the one Dynamo trace. It lists its combinations
as full per-input shapes in ascending order, finds a call's combination with
one dict lookup, picks the next larger combination for padding, and builds
the GE options (``ge.inputShape``, ``ge.dynamicDims``, ``ge.dynamicNodeType``)
that make GE compile one graph with a variant per combination.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch

from airgraph_gears._values import describe, is_int
from airgraph_gears.errors import GearSpecError
from airgraph_gears.marks import get_dim_gears, normalize_dim_gears
from airgraph_gears.merge import merge_gears

__all__ = ["GearPlan", "Shape", "Shapes"]

log = logging.getLogger("airgraph.gears")

#: One input's shape.
Shape = tuple[int, ...]
#: One shape per input, in input order.
Shapes = tuple[Shape, ...]


class GearPlan:
    """Every shape combination allowed by the inputs' gears and a merge policy.

    Args:
        shapes: one shape per input, in input order. Dims without gears must
            be ints >= 0; the entries of geared dims are ignored (an int such
            as the example's size, ``-1`` or ``None``). A 0-d input (e.g. a
            scalar) has the shape ``()``.
        gears: one gear spec per input, as ``set_dim_gears`` takes it
            (``{dim: [gears]}``), or None (or ``{}``) for an input without
            gears. Same rules as ``set_dim_gears``.
        policy: ``"zip"`` (default), ``"product"`` (see ``MERGE_POLICIES``),
            or an explicit list of combinations, each holding one value per
            geared dim in ``dims`` order.

    Attributes:
        shapes: the shape template, ``None`` at geared dims.
        gears: the normalized gear spec per input (dims >= 0), or None.
        policy: the policy name, or ``"explicit"``.
        dims: the geared ``(input index, dim)`` pairs, ascending.
        combinations: every combination as full per-input shapes, ascending.

    Raises:
        TypeError: ``shapes`` or ``gears`` is malformed (see ``set_dim_gears``).
        ValueError: the lengths differ, a static dim is not an int >= 0, a
            gear rule is broken, or merging fails (see ``merge_gears``).

    Examples:
        >>> plan = GearPlan([(2, 2), (2, 2)], [{0: [2, 4]}, {0: [2, 4]}], "product")
        >>> plan.combinations[1]
        ((2, 2), (4, 2))
        >>> plan.lookup([(4, 2), (2, 2)])
        2
    """

    def __init__(
        self,
        shapes: Sequence[Sequence[int | None]],
        gears: Sequence[Mapping[int, Sequence[int]] | None],
        policy: str | Sequence[Sequence[int]] = "zip",
    ) -> None:
        if not isinstance(shapes, Sequence) or isinstance(shapes, str):
            raise TypeError(f"shapes must be a list of per-input shapes, got {describe(shapes)}")
        if not isinstance(gears, Sequence) or isinstance(gears, str):
            raise TypeError(
                f"gears must be a list with one gear spec (or None) per input, got {describe(gears)}"
            )
        if len(shapes) != len(gears):
            raise ValueError(
                f"shapes and gears must have one entry per input, got {len(shapes)} shapes "
                f"and {len(gears)} gear specs"
            )
        template: list[tuple[int | None, ...]] = []
        specs: list[dict[int, tuple[int, ...]] | None] = []
        for index, (shape, spec) in enumerate(zip(shapes, gears)):
            if not isinstance(shape, Sequence) or isinstance(shape, str):
                raise TypeError(f"shapes[{index}] must be a tuple of ints, got {describe(shape)}")
            normalized = (
                normalize_dim_gears(spec, len(shape), name=f"gears[{index}]") if spec else None
            )
            entries: list[int | None] = []
            for dim, size in enumerate(shape):
                if normalized is not None and dim in normalized:
                    entries.append(None)
                elif is_int(size) and size >= 0:
                    entries.append(int(size))
                else:
                    raise ValueError(
                        f"shapes[{index}][{dim}] must be an int >= 0 (the dim has no gears, so "
                        f"it is static), got {describe(size)}"
                    )
            template.append(tuple(entries))
            specs.append(normalized)
        self.shapes: tuple[tuple[int | None, ...], ...] = tuple(template)
        self.gears: tuple[dict[int, tuple[int, ...]] | None, ...] = tuple(specs)
        self.policy: str = policy if isinstance(policy, str) else "explicit"
        self.dims: tuple[tuple[int, int], ...] = tuple(
            (index, dim) for index, spec in enumerate(specs) if spec for dim in spec
        )
        values = merge_gears([self.gears[index][dim] for index, dim in self.dims], policy)
        self.combinations: tuple[Shapes, ...] = tuple(self._fill(combo) for combo in values)
        self._index: dict[Shapes, int] = {
            combination: position for position, combination in enumerate(self.combinations)
        }
        log.debug("gear plan built:\n%s", self.describe())

    @classmethod
    def from_tensors(
        cls, inputs: Sequence[Any], policy: str | Sequence[Sequence[int]] = "zip"
    ) -> GearPlan:
        """Build the plan of example inputs, reading their ``set_dim_gears`` marks.

        Args:
            inputs: the example inputs, in order. A non-tensor (a Python or
                symbolic scalar) counts as a 0-d input without gears.
            policy: as for ``GearPlan``.

        Returns:
            The plan.

        Examples:
            >>> from airgraph_gears import set_dim_gears
            >>> x = torch.ones(2, 2)
            >>> set_dim_gears(x, {0: [2, 4]})
            >>> GearPlan.from_tensors([x]).combinations
            (((2, 2),), ((4, 2),))
        """
        shapes = [tuple(t.shape) if isinstance(t, torch.Tensor) else () for t in inputs]
        gears = [get_dim_gears(t) if isinstance(t, torch.Tensor) else None for t in inputs]
        return cls(shapes, gears, policy)

    def _fill(self, values: tuple[int, ...]) -> Shapes:
        shapes = [list(shape) for shape in self.shapes]
        for (index, dim), value in zip(self.dims, values):
            shapes[index][dim] = value
        return tuple(tuple(shape) for shape in shapes)

    def __len__(self) -> int:
        return len(self.combinations)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, GearPlan):
            return NotImplemented
        return (self.shapes, self.combinations) == (other.shapes, other.combinations)

    def __hash__(self) -> int:
        return hash((self.shapes, self.combinations))

    def __repr__(self) -> str:
        return (
            f"GearPlan(shapes={self.shapes!r}, dims={self.dims!r}, policy={self.policy!r}, "
            f"combinations={len(self.combinations)})"
        )

    def lookup(self, shapes: Sequence[Sequence[int]]) -> int | None:
        """Return the index of the combination equal to ``shapes``, or None.

        One dict lookup: no search over the combinations.

        Args:
            shapes: one shape (tuple, list or ``torch.Size``) per input.

        Returns:
            The index into ``combinations``, or None when not a combination.
        """
        return self._index.get(tuple(tuple(shape) for shape in shapes))

    def next_larger(self, shapes: Sequence[Sequence[int]]) -> int | None:
        """Return the combination to pad ``shapes`` up to, or None.

        That is the combination with the fewest elements in total among those
        whose static dims equal ``shapes`` and whose geared dims are all at
        least as large; ties go to the lower index. ``shapes`` itself when it
        is a combination.

        Args:
            shapes: one shape per input.

        Returns:
            The index into ``combinations``, or None when no combination fits.
        """
        shapes = tuple(tuple(shape) for shape in shapes)
        exact = self._index.get(shapes)
        if exact is not None:
            return exact
        best: tuple[int, int] | None = None
        for position, combination in enumerate(self.combinations):
            if self._covers(combination, shapes):
                cost = sum(math.prod(shape) for shape in combination)
                if best is None or cost < best[0]:
                    best = (cost, position)
        return None if best is None else best[1]

    def _covers(self, combination: Shapes, shapes: Shapes) -> bool:
        if len(shapes) != len(combination):
            return False
        for template, gear_shape, shape in zip(self.shapes, combination, shapes):
            if len(shape) != len(gear_shape):
                return False
            for static, gear_size, size in zip(template, gear_shape, shape):
                fits = size <= gear_size if static is None else size == gear_size
                if not fits:
                    return False
        return True

    def describe(self) -> str:
        """Return the plan as a readable table: one row per combination.

        Examples:
            >>> print(GearPlan([(2, 2), (2, 2)], [{0: [2, 4]}, {0: [2, 4]}]).describe())
            GearPlan: 2 combinations of 2 inputs, policy 'zip', geared: input 0 dim 0, input 1 dim 0
              gear  input 0  input 1
                 0  (2, 2)   (2, 2)
                 1  (4, 2)   (4, 2)
        """
        geared = ", ".join(f"input {index} dim {dim}" for index, dim in self.dims) or "nothing"
        header = [
            f"GearPlan: {len(self.combinations)} combinations of {len(self.shapes)} inputs, "
            f"policy {self.policy!r}, geared: {geared}"
        ]
        columns = [["gear", *(str(position) for position in range(len(self.combinations)))]]
        for index in range(len(self.shapes)):
            cells = [str(combination[index]) for combination in self.combinations]
            columns.append([f"input {index}", *cells])
        widths = [max(len(cell) for cell in column) for column in columns]
        rows = []
        for row in range(len(self.combinations) + 1):
            cells = [columns[0][row].rjust(widths[0])]
            cells += [column[row].ljust(width) for column, width in zip(columns[1:], widths[1:])]
            rows.append(("  " + "  ".join(cells)).rstrip())
        return "\n".join(header + rows)

    def ge_options(
        self,
        data_names: Sequence[str],
        data_shapes: Sequence[Sequence[int]] | None = None,
    ) -> dict[str, str]:
        """Build the GE options that give one GE graph a variant per combination.

        ``ge.inputShape`` lists every input as ``name:d0,d1`` (``-1`` at geared
        dims), sorted by name as strings and joined by ``;``.
        ``ge.dynamicDims`` lists each combination's geared values, ordered by
        input name then dim, joined by ``,``; combinations are joined by
        ``;`` in ascending order (TorchAir's order is arbitrary).
        ``ge.dynamicNodeType`` is ``"1"``.

        Args:
            data_names: the GE ``Data`` op name of each input, in input order.
            data_shapes: optional, the ``Data`` ops' shapes as lowered (``-1``
                where dynamic), checked against the plan: exactly the geared
                dims must be ``-1``.

        Returns:
            The options, or ``{}`` when no input has gears.

        Raises:
            ValueError: the names are not one distinct string per input; the
                data shapes disagree with the plan; or every geared dim is
                static in ``data_shapes`` ("At least one dimension should
                have levels.", TorchAir's message).

        Examples:
            >>> plan = GearPlan([(2, 2), (2, 2)], [{0: [2, 4]}, {0: [2, 4]}], "product")
            >>> plan.ge_options(["arg0_1", "arg1_1"])["ge.dynamicDims"]
            '2,2;2,4;4,2;4,4'
        """
        names = list(data_names) if not isinstance(data_names, str) else None
        if (
            names is None
            or len(names) != len(self.shapes)
            or not all(isinstance(name, str) and name for name in names)
            or len(set(names)) != len(names)
        ):
            raise ValueError(
                f"data_names must hold {len(self.shapes)} distinct non-empty strings, one Data op "
                f"name per input, got {data_names!r}"
            )
        if data_shapes is not None:
            self._check_data_shapes(data_shapes)
        if not self.dims:
            return {}
        order = sorted(range(len(names)), key=lambda index: names[index])
        input_shape = ";".join(
            f"{names[index]}:" + ",".join("-1" if size is None else str(size) for size in shape)
            for index, shape in ((index, self.shapes[index]) for index in order)
        )
        dims_by_name = sorted(
            range(len(self.dims)), key=lambda k: (names[self.dims[k][0]], self.dims[k][1])
        )
        rows = sorted(
            tuple(combination[self.dims[k][0]][self.dims[k][1]] for k in dims_by_name)
            for combination in self.combinations
        )
        return {
            "ge.inputShape": input_shape,
            "ge.dynamicDims": ";".join(",".join(map(str, row)) for row in rows),
            "ge.dynamicNodeType": "1",
        }

    def _check_data_shapes(self, data_shapes: Sequence[Sequence[int]]) -> None:
        if len(data_shapes) != len(self.shapes):
            raise ValueError(
                f"data_shapes must hold one shape per input ({len(self.shapes)}), "
                f"got {len(data_shapes)}"
            )
        dynamic_geared = 0
        for index, (template, shape) in enumerate(zip(self.shapes, data_shapes)):
            shape = tuple(shape)
            if len(shape) != len(template):
                raise ValueError(
                    f"data_shapes[{index}] = {shape} has rank {len(shape)}, but the plan's input "
                    f"{index} has rank {len(template)}"
                )
            for dim, (static, size) in enumerate(zip(template, shape)):
                if static is None and size == -1:
                    dynamic_geared += 1
                elif static is not None and size != static:
                    raise ValueError(
                        f"data_shapes[{index}][{dim}] is {size}, but the dim has no gears and "
                        f"the plan fixes it to {static}"
                    )
        if self.dims and dynamic_geared == 0:
            raise GearSpecError("At least one dimension should have levels.")
        if dynamic_geared != len(self.dims):
            raise ValueError(
                f"data_shapes {[tuple(shape) for shape in data_shapes]} must have -1 at every "
                f"geared dim {list(self.dims)}: a geared dim was specialized to a constant"
            )
