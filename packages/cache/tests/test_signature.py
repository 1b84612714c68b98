"""signature.describe_inputs: dataclass and namedtuple arguments (TorchAir's InputMeta style)."""

from __future__ import annotations

import collections
import dataclasses

import pytest
import torch

from airgraph_cache.signature import describe_inputs


@dataclasses.dataclass
class InputMeta:
    data: torch.Tensor
    is_prompt: bool


@dataclasses.dataclass
class OtherMeta:
    data: torch.Tensor
    is_prompt: bool


Pair = collections.namedtuple("Pair", ["a", "n"])


def _one(value, dynamic=True):
    return describe_inputs([value], dynamic=dynamic)[0]


def test_a_dataclass_is_described_by_class_and_field():
    described = _one(InputMeta(torch.ones(3, 2), True))
    assert described["kind"] == "dataclass"
    assert described["type"].endswith("test_signature.InputMeta")
    assert described["fields"]["is_prompt"] == {"kind": "bool", "value": True}
    assert described["fields"]["data"]["shape"] == [-1, -1]


def test_a_namedtuple_is_not_a_plain_tuple():
    described = _one(Pair(torch.ones(2), 3), dynamic=False)
    assert described["kind"] == "namedtuple"
    assert described["fields"]["n"] == {"kind": "int", "value": 3}
    assert described != _one((torch.ones(2), 3), dynamic=False)


@pytest.mark.parametrize(
    "other",
    [
        InputMeta(torch.ones(3, 2), False),  # a field's value
        OtherMeta(torch.ones(3, 2), True),  # the class
        InputMeta(torch.ones(3, 2, dtype=torch.float16), True),  # a tensor field's dtype
    ],
    ids=["field_value", "class", "tensor_field"],
)
def test_what_shapes_the_graph_changes_the_description(other):
    assert _one(InputMeta(torch.ones(3, 2), True)) != _one(other)


def test_the_same_record_describes_the_same():
    assert _one(InputMeta(torch.ones(3, 2), True)) == _one(InputMeta(torch.zeros(5, 2), True))


def test_other_objects_are_still_refused():
    with pytest.raises(TypeError, match="dataclass instances, namedtuples"):
        _one(object())
