"""Merge policies: the table, zip and product, explicit combinations, the 100 limit."""

import doctest
import re

import pytest

from airgraph_gears import (
    MAX_COMBINATIONS,
    MERGE_POLICIES,
    merge_gears,
    product_policy,
    zip_policy,
)
from airgraph_gears import merge as merge_module


def test_the_table_holds_zip_and_product():
    assert dict(MERGE_POLICIES) == {"zip": zip_policy, "product": product_policy}


def test_zip_pairs_by_position_as_in_the_mission_example():
    assert merge_gears([[2, 4], [2, 4]], "zip") == [(2, 2), (4, 4)]


def test_product_takes_every_combination_as_in_the_mission_example():
    assert merge_gears([[2, 4], [2, 4]], "product") == [(2, 2), (2, 4), (4, 2), (4, 4)]


def test_zip_is_the_default():
    assert merge_gears([[4, 2], [8, 16]]) == [(2, 16), (4, 8)]


@pytest.mark.parametrize(
    ("gear_lists", "policy", "expected"),
    [
        ([[2, 2, 4], [8, 16, 16]], "zip", [(2, 8), (2, 16), (4, 16)]),
        ([[2, 2], [4, 4]], "zip", [(2, 4)]),
        ([[2, 4, 2], [1, 1]], "product", [(2, 1), (4, 1)]),
        ([[8, 1, 4]], "product", [(1,), (4,), (8,)]),
        ([], "zip", [()]),
        ([], "product", [()]),
        ([], [()], [()]),
    ],
)
def test_combinations_are_distinct_and_sorted(gear_lists, policy, expected):
    assert merge_gears(gear_lists, policy) == expected


def test_zip_needs_equal_gear_counts_with_torchairs_message():
    message = "when dynamic_gears_merge_policy is zip, input gears len must same."
    with pytest.raises(ValueError, match=re.escape(message)) as info:
        merge_gears([[2, 4], [2, 4, 8]], "zip")
    assert "lengths [2, 3]" in str(info.value)


def test_explicit_combinations_are_a_subset_of_the_product():
    combos = [(8, 16), (1, 128), (1, 16), (1, 16)]
    assert merge_gears([[1, 8], [16, 128]], combos) == [(1, 16), (1, 128), (8, 16)]


@pytest.mark.parametrize(
    ("policy", "error", "message"),
    [
        (
            "stack",
            ValueError,
            "dynamic_gears_merge_policy must be one of ['product', 'zip'] or an explicit list of combinations, got 'stack'",
        ),
        (
            3,
            TypeError,
            "dynamic_gears_merge_policy must be one of ['product', 'zip'] or an explicit list of combinations, got 3 (int)",
        ),
        (
            [],
            ValueError,
            "an explicit list of gear combinations must hold at least one combination",
        ),
        (
            [(1, 16, 3)],
            ValueError,
            "gear combination 0 must be a list or tuple of 2 ints, one per geared dim, got (1, 16, 3)",
        ),
        ([(1, 16), 8], ValueError, "gear combination 1 must be a list or tuple of 2 ints"),
        ([(1, 16.0)], TypeError, "gear combination 0 value 1 must be an int, got 16.0 (float)"),
        (
            [(2, 16)],
            ValueError,
            "gear combination 0 value 0 is 2, which is not one of that dim's gears [1, 8]",
        ),
    ],
)
def test_bad_policies_have_clear_errors(policy, error, message):
    with pytest.raises(error, match=re.escape(message)):
        merge_gears([[1, 8], [16, 128]], policy)


def test_hundred_combinations_is_the_limit():
    assert (
        len(merge_gears([list(range(1, 11)), list(range(1, 11))], "product"))
        == MAX_COMBINATIONS
        == 100
    )


def test_more_than_hundred_combinations_raise_torchairs_message():
    message = (
        "The total number of gears set cannot exceed 100, and the current number of gears is: 110"
    )
    with pytest.raises(ValueError, match=re.escape(message)):
        merge_gears([list(range(1, 12)), list(range(1, 11))], "product")


def test_duplicates_do_not_count_toward_the_limit():
    gears = list(range(1, 101)) + list(range(1, 101))
    assert len(merge_gears([gears, gears], "zip")) == 100


def test_adding_a_policy_is_adding_an_entry(monkeypatch):
    monkeypatch.setitem(
        MERGE_POLICIES, "first", lambda gear_lists: [tuple(g[0] for g in gear_lists)]
    )
    assert merge_gears([[2, 4], [8, 16]], "first") == [(2, 8)]


def test_docstring_examples_run():
    assert doctest.testmod(merge_module).failed == 0
