"""OutputSpec.capture: the method's returned leaves matched to the program's outputs."""

from __future__ import annotations

import pytest
import torch

from airgraph_cache.binding import OutputSpec, UncacheableError


def test_views_with_equal_layouts_keep_their_own_outputs():
    # ``return x[2:], x[n:]`` first called with n == 2: AOTAutograd hands the
    # caller new view objects, equal in layout, of two different outputs.
    # Each leaf must keep its own output, or a warm call with n == 3 returns
    # x[3:] for x[2:].
    x = torch.arange(8.0)
    outputs = [x[2:], x[2:]]
    result = (x[2:], x[2:])
    spec = OutputSpec.capture(result, outputs, [x])
    assert spec.leaves == [["out", 0], ["out", 1]]


def test_the_same_returned_view_twice_is_one_output():
    x = torch.arange(8.0)
    outputs = [x[2:], x[2:]]
    view = x[2:]
    spec = OutputSpec.capture((view, view, x[2:]), outputs, [x])
    assert spec.leaves == [["out", 0], ["out", 0], ["out", 1]]


def test_identity_matches_are_not_taken_by_layout_matches():
    x = torch.arange(8.0)
    outputs = [x[2:], x[2:]]
    spec = OutputSpec.capture((x[2:], outputs[0]), outputs, [x])
    assert spec.leaves == [["out", 1], ["out", 0]]


def test_views_of_one_output_share_it():
    x = torch.arange(8.0)
    spec = OutputSpec.capture((x[2:], x[2:]), [x[2:]], [x])
    assert spec.leaves == [["out", 0], ["out", 0]]


def test_a_tensor_no_output_explains_is_uncacheable():
    x = torch.arange(8.0)
    with pytest.raises(UncacheableError, match="not an output"):
        OutputSpec.capture((x[3:],), [x[2:]], [x])
