"""Merge policies: how the gears of several dims combine into shape combinations.

A policy is a function from the gear lists (one per geared dim, in a fixed
order) to combinations (one value per geared dim). Policies live in one
table, ``MERGE_POLICIES``; adding a policy is adding one entry. Instead of a
policy name, a caller may give the combinations explicitly.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from typing import Any

from airgraph_gears._values import describe, is_int
from airgraph_gears.errors import GearSpecError

__all__ = [
    "MAX_COMBINATIONS",
    "MERGE_POLICIES",
    "MergePolicy",
    "merge_gears",
    "product_policy",
    "zip_policy",
]

#: Most distinct combinations a plan may hold (GE's limit, enforced by TorchAir).
MAX_COMBINATIONS = 100

#: A merge policy: gear lists (one per geared dim) -> combinations.
MergePolicy = Callable[[Sequence[Sequence[int]]], list[tuple[int, ...]]]


def zip_policy(gear_lists: Sequence[Sequence[int]]) -> list[tuple[int, ...]]:
    """Pair gears by position: the i-th combination takes every list's i-th gear.

    Args:
        gear_lists: one gear list per geared dim; all of the same length.

    Returns:
        The combinations, in the lists' order (may repeat).

    Raises:
        GearSpecError: the lists differ in length (TorchAir's message; a
            ``ValueError`` and an ``AssertionError``).

    Examples:
        >>> zip_policy([[2, 4], [2, 4]])
        [(2, 2), (4, 4)]
    """
    lengths = [len(gears) for gears in gear_lists]
    if len(set(lengths)) > 1:
        raise GearSpecError(
            "when dynamic_gears_merge_policy is zip, input gears len must same. "
            f"Got gear lists {[list(gears) for gears in gear_lists]} of lengths {lengths}; "
            "give every geared dim the same number of gears or use 'product'"
        )
    return list(zip(*gear_lists))


def product_policy(gear_lists: Sequence[Sequence[int]]) -> list[tuple[int, ...]]:
    """Take every combination: the Cartesian product of the gear lists.

    Args:
        gear_lists: one gear list per geared dim.

    Returns:
        The combinations (may repeat when a list repeats a gear).

    Examples:
        >>> product_policy([[2, 4], [2, 4]])
        [(2, 2), (2, 4), (4, 2), (4, 4)]
    """
    return list(itertools.product(*gear_lists))


#: The merge policies by name (``inference_config.dynamic_gears_merge_policy``).
MERGE_POLICIES: dict[str, MergePolicy] = {
    "zip": zip_policy,
    "product": product_policy,
}


def _explicit_combinations(
    combinations: Sequence[Any], gear_lists: Sequence[Sequence[int]]
) -> list[tuple[int, ...]]:
    if len(combinations) == 0:
        raise ValueError("an explicit list of gear combinations must hold at least one combination")
    checked = []
    for index, combination in enumerate(combinations):
        if not isinstance(combination, (list, tuple)) or len(combination) != len(gear_lists):
            raise ValueError(
                f"gear combination {index} must be a list or tuple of {len(gear_lists)} ints, "
                f"one per geared dim, got {combination!r}"
            )
        for position, (value, gears) in enumerate(zip(combination, gear_lists)):
            if not is_int(value):
                raise TypeError(
                    f"gear combination {index} value {position} must be an int, "
                    f"got {describe(value)}"
                )
            if value not in gears:
                raise ValueError(
                    f"gear combination {index} value {position} is {value}, which is not one "
                    f"of that dim's gears {list(gears)}"
                )
        checked.append(tuple(int(value) for value in combination))
    return checked


def merge_gears(
    gear_lists: Sequence[Sequence[int]],
    policy: str | Sequence[Sequence[int]] = "zip",
) -> list[tuple[int, ...]]:
    """Combine the gears of several dims into distinct, sorted combinations.

    Args:
        gear_lists: one gear list per geared dim, in the order the
            combinations' values follow.
        policy: a name in ``MERGE_POLICIES`` (``"zip"``, ``"product"``), or
            an explicit list of combinations, each holding one value per
            geared dim taken from that dim's gears.

    Returns:
        The distinct combinations in ascending order. With no geared dims,
        the single empty combination ``[()]`` (a static plan).

    Raises:
        ValueError: an unknown policy name; ``zip`` over lists of different
            lengths; an explicit combination of the wrong length or with a
            value outside its dim's gears; more than ``MAX_COMBINATIONS``
            distinct combinations.
        TypeError: ``policy`` is neither a name nor a list of combinations.

    Examples:
        >>> merge_gears([[2, 4], [2, 4]], "product")
        [(2, 2), (2, 4), (4, 2), (4, 4)]
    """
    if isinstance(policy, str):
        if policy not in MERGE_POLICIES:
            raise ValueError(
                f"dynamic_gears_merge_policy must be one of {sorted(MERGE_POLICIES)} "
                f"or an explicit list of combinations, got {policy!r}"
            )
        if not gear_lists:
            return [()]
        combinations = MERGE_POLICIES[policy](gear_lists)
    elif isinstance(policy, Sequence):
        combinations = _explicit_combinations(policy, gear_lists)
    else:
        raise TypeError(
            f"dynamic_gears_merge_policy must be one of {sorted(MERGE_POLICIES)} "
            f"or an explicit list of combinations, got {describe(policy)}"
        )
    unique = sorted(set(combinations))
    if len(unique) > MAX_COMBINATIONS:
        raise GearSpecError(
            "The total number of gears set cannot exceed 100, "
            f"and the current number of gears is: {len(unique)}"
        )
    return unique
