"""GearPlan: combinations, O(1) lookup, padding target, description and GE options."""

import doctest
import re

import pytest
import torch

from airgraph_gears import GearPlan, set_dim_gears
from airgraph_gears import plan as plan_module

MISSION_SHAPES = [(2, 2), (2, 2)]
MISSION_GEARS = [{0: [2, 4]}, {0: [2, 4]}]


def test_zip_plan_of_the_mission_example():
    plan = GearPlan(MISSION_SHAPES, MISSION_GEARS, "zip")
    assert plan.combinations == (((2, 2), (2, 2)), ((4, 2), (4, 2)))
    assert plan.dims == ((0, 0), (1, 0))
    assert plan.shapes == ((None, 2), (None, 2))
    assert plan.policy == "zip"
    assert len(plan) == 2


def test_product_plan_of_the_mission_example():
    plan = GearPlan(MISSION_SHAPES, MISSION_GEARS, "product")
    assert plan.combinations == (
        ((2, 2), (2, 2)),
        ((2, 2), (4, 2)),
        ((4, 2), (2, 2)),
        ((4, 2), (4, 2)),
    )


def test_geared_entries_of_shapes_may_be_anything_and_negative_dims_count():
    plan = GearPlan([(None, 16), (-1, 16, 3)], [{-2: [1, 8]}, {0: [1, 8]}], "zip")
    assert plan.gears == ({0: (1, 8)}, {0: (1, 8)})
    assert plan.combinations == (((1, 16), (1, 16, 3)), ((8, 16), (8, 16, 3)))


def test_inputs_without_gears_and_scalars():
    plan = GearPlan([(2, 3), (), (5,)], [{0: [1, 2]}, None, {}], "product")
    assert plan.dims == ((0, 0),)
    assert plan.gears == ({0: (1, 2)}, None, None)
    assert plan.combinations == (((1, 3), (), (5,)), ((2, 3), (), (5,)))


def test_explicit_combinations_follow_dims_order():
    plan = GearPlan([(1, 16)], [{0: [1, 8], 1: [16, 128]}], [(8, 16), (1, 128)])
    assert plan.policy == "explicit"
    assert plan.combinations == (((1, 128),), ((8, 16),))


def test_a_plan_without_gears_is_one_static_combination():
    plan = GearPlan([(2, 3)], [None])
    assert plan.combinations == (((2, 3),),)
    assert plan.lookup([(2, 3)]) == 0


def test_from_tensors_reads_the_marks():
    x1, x2 = torch.ones(2, 2), torch.ones(2, 2)
    set_dim_gears(x1, {0: [2, 4]})
    set_dim_gears(x2, {0: [2, 4]})
    assert GearPlan.from_tensors([x1, x2], "product") == GearPlan(
        MISSION_SHAPES, MISSION_GEARS, "product"
    )
    plan = GearPlan.from_tensors([x1, 7, torch.ones(3)])
    assert plan.combinations == (((2, 2), (), (3,)), ((4, 2), (), (3,)))


@pytest.mark.parametrize(
    ("shapes", "gears", "policy", "error", "message"),
    [
        ((2, 2), MISSION_GEARS, "zip", TypeError, None),
        (
            "ab",
            MISSION_GEARS,
            "zip",
            TypeError,
            "shapes must be a list of per-input shapes, got 'ab' (str)",
        ),
        (
            MISSION_SHAPES,
            {0: [2, 4]},
            "zip",
            TypeError,
            "gears must be a list with one gear spec (or None) per input",
        ),
        (
            MISSION_SHAPES,
            [None],
            "zip",
            ValueError,
            "shapes and gears must have one entry per input, got 2 shapes and 1 gear specs",
        ),
        (
            [(2, 2), 5],
            MISSION_GEARS,
            "zip",
            TypeError,
            "shapes[1] must be a tuple of ints, got 5 (int)",
        ),
        (
            [(2, None)],
            [None],
            "zip",
            ValueError,
            "shapes[0][1] must be an int >= 0 (the dim has no gears, so it is static), got None (NoneType)",
        ),
        ([(2, -1)], [{0: [2, 4]}], "zip", ValueError, "shapes[0][1] must be an int >= 0"),
        (
            [(2, 2)],
            [{2: [2, 4]}],
            "zip",
            ValueError,
            "Dim index in gears[0] must be in range [0, 1], but got 2.",
        ),
        (
            [(2, 2)],
            [{0: [2, 0]}],
            "zip",
            ValueError,
            "Gear value at index 1 for dim index 0 must not be 0, but got 0.",
        ),
        (
            [(2, 2)],
            [[2, 4]],
            "zip",
            TypeError,
            "gears[0] must be a dict mapping a dim to a list of gears",
        ),
        (
            MISSION_SHAPES,
            [{0: [2, 4]}, {0: [2, 4, 8]}],
            "zip",
            ValueError,
            "when dynamic_gears_merge_policy is zip, input gears len must same.",
        ),
        (
            MISSION_SHAPES,
            [{0: list(range(1, 12))}, {0: list(range(1, 11))}],
            "product",
            ValueError,
            "The total number of gears set cannot exceed 100, and the current number of gears is: 110",
        ),
        (
            MISSION_SHAPES,
            MISSION_GEARS,
            "stack",
            ValueError,
            "dynamic_gears_merge_policy must be one of ['product', 'zip']",
        ),
    ],
)
def test_bad_arguments_have_clear_errors(shapes, gears, policy, error, message):
    with pytest.raises(error, match=None if message is None else re.escape(message)):
        GearPlan(shapes, gears, policy)


def test_lookup_is_a_dict_lookup_and_accepts_torch_sizes():
    plan = GearPlan(MISSION_SHAPES, MISSION_GEARS, "product")
    assert plan.lookup([torch.Size([4, 2]), (2, 2)]) == 2
    assert plan.lookup([[2, 2], [4, 2]]) == 1
    assert plan.lookup([(3, 2), (2, 2)]) is None
    assert plan.lookup([(2, 2)]) is None
    assert plan.lookup([(2, 3), (2, 2)]) is None
    assert plan.lookup(plan.combinations[3]) == 3


def test_zip_plan_does_not_serve_mixed_shapes():
    plan = GearPlan(MISSION_SHAPES, MISSION_GEARS, "zip")
    assert plan.lookup([(2, 2), (4, 2)]) is None


@pytest.mark.parametrize(
    ("shapes", "expected"),
    [
        ([(2, 2), (2, 2)], ((2, 2), (2, 2))),  # a gear pads to itself
        ([(1, 2), (1, 2)], ((2, 2), (2, 2))),
        ([(3, 2), (1, 2)], ((4, 2), (2, 2))),
        ([(1, 2), (3, 2)], ((2, 2), (4, 2))),
        ([(3, 2), (4, 2)], ((4, 2), (4, 2))),
        ([(5, 2), (1, 2)], None),  # larger than every gear
        ([(1, 3), (1, 2)], None),  # a static dim differs
        ([(1, 2)], None),  # wrong number of inputs
        ([(1, 2, 1), (1, 2)], None),  # wrong rank
    ],
)
def test_next_larger_picks_the_smallest_covering_combination(shapes, expected):
    plan = GearPlan(MISSION_SHAPES, MISSION_GEARS, "product")
    index = plan.next_larger(shapes)
    assert (None if index is None else plan.combinations[index]) == expected


def test_next_larger_minimizes_total_elements():
    plan = GearPlan([(1, 16)], [{0: [1, 8], 1: [16, 128]}], [(8, 16), (1, 128)])
    # (1, 128) has 128 elements, (8, 16) has 128 too: the tie goes to the lower index.
    assert plan.combinations[plan.next_larger([(1, 17)])] == ((1, 128),)
    assert plan.combinations[plan.next_larger([(2, 3)])] == ((8, 16),)


def test_describe_is_a_table():
    plan = GearPlan(MISSION_SHAPES, MISSION_GEARS, "zip")
    assert plan.describe() == (
        "GearPlan: 2 combinations of 2 inputs, policy 'zip', geared: input 0 dim 0, input 1 dim 0\n"
        "  gear  input 0  input 1\n"
        "     0  (2, 2)   (2, 2)\n"
        "     1  (4, 2)   (4, 2)"
    )
    assert "geared: nothing" in GearPlan([(2,)], [None]).describe()


def test_repr_and_equality():
    plan = GearPlan(MISSION_SHAPES, MISSION_GEARS, "zip")
    assert repr(plan) == (
        "GearPlan(shapes=((None, 2), (None, 2)), dims=((0, 0), (1, 0)), policy='zip', combinations=2)"
    )
    assert plan == GearPlan(MISSION_SHAPES, [{0: (2, 4)}, {-2: [2, 4]}], "zip")
    assert plan != GearPlan(MISSION_SHAPES, MISSION_GEARS, "product")
    assert len({plan, GearPlan(MISSION_SHAPES, MISSION_GEARS)}) == 1


# --- GE options ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("policy", "dynamic_dims"),
    [("zip", "2,2;4,4"), ("product", "2,2;2,4;4,2;4,4")],
)
def test_ge_options_of_the_mission_example(policy, dynamic_dims):
    plan = GearPlan(MISSION_SHAPES, MISSION_GEARS, policy)
    assert plan.ge_options(["arg0_1", "arg1_1"]) == {
        "ge.inputShape": "arg0_1:-1,2;arg1_1:-1,2",
        "ge.dynamicDims": dynamic_dims,
        "ge.dynamicNodeType": "1",
    }


def test_ge_options_sort_inputs_by_name_as_strings():
    # Input 0 is "arg10_1", which sorts before "arg2_1": its geared values come first.
    plan = GearPlan([(1, 16), (8, 4), (3,)], [{0: [1, 2]}, {0: [8, 16], 1: [4, 5]}, None], "zip")
    assert plan.combinations == (
        ((1, 16), (8, 4), (3,)),
        ((2, 16), (16, 5), (3,)),
    )
    options = plan.ge_options(["arg10_1", "arg2_1", "arg0_1"])
    assert options["ge.inputShape"] == "arg0_1:3;arg10_1:-1,16;arg2_1:-1,-1"
    assert options["ge.dynamicDims"] == "1,8,4;2,16,5"


def test_ge_options_order_values_by_name_then_sort_combinations():
    # By name, input 1 ("a") comes first, so its values lead each combination and the sort.
    plan = GearPlan([(1,), (2,)], [{0: [1, 2]}, {0: [2, 1]}], "zip")
    assert plan.ge_options(["b", "a"])["ge.dynamicDims"] == "1,2;2,1"
    assert plan.ge_options(["a", "b"])["ge.dynamicDims"] == "1,2;2,1"
    plan = GearPlan([(1,), (8,)], [{0: [1, 2]}, {0: [8, 4]}], "zip")
    assert plan.ge_options(["b", "a"])["ge.dynamicDims"] == "4,2;8,1"
    assert plan.ge_options(["a", "b"])["ge.dynamicDims"] == "1,8;2,4"


def test_ge_options_of_a_scalar_input():
    plan = GearPlan([(), (1, 2)], [None, {0: [1, 4]}])
    assert plan.ge_options(["arg0_1", "arg1_1"])["ge.inputShape"] == "arg0_1:;arg1_1:-1,2"


def test_ge_options_are_empty_without_gears():
    assert GearPlan([(2, 2), ()], [None, None]).ge_options(["x", "y"]) == {}


def test_ge_options_check_data_shapes():
    plan = GearPlan(MISSION_SHAPES, MISSION_GEARS, "zip")
    names = ["arg0_1", "arg1_1"]
    assert plan.ge_options(names, [(-1, 2), (-1, 2)]) == plan.ge_options(names)
    with pytest.raises(ValueError, match=re.escape("At least one dimension should have levels.")):
        plan.ge_options(names, [(2, 2), (2, 2)])
    with pytest.raises(
        ValueError, match=re.escape("must have -1 at every geared dim [(0, 0), (1, 0)]")
    ):
        plan.ge_options(names, [(-1, 2), (2, 2)])
    with pytest.raises(
        ValueError, match=re.escape("data_shapes[0][1] is -1, but the dim has no gears")
    ):
        plan.ge_options(names, [(-1, -1), (-1, 2)])
    with pytest.raises(ValueError, match=re.escape("data_shapes[1] = (-1,) has rank 1")):
        plan.ge_options(names, [(-1, 2), (-1,)])
    with pytest.raises(
        ValueError, match=re.escape("data_shapes must hold one shape per input (2), got 1")
    ):
        plan.ge_options(names, [(-1, 2)])


@pytest.mark.parametrize("names", [["a"], ["a", "a"], "ab", ["a", ""], ["a", 1]])
def test_ge_options_need_one_distinct_name_per_input(names):
    plan = GearPlan(MISSION_SHAPES, MISSION_GEARS, "zip")
    with pytest.raises(
        ValueError, match=re.escape("data_names must hold 2 distinct non-empty strings")
    ):
        plan.ge_options(names)


def test_docstring_examples_run():
    assert doctest.testmod(plan_module).failed == 0
