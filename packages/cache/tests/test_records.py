"""records: dataclass and namedtuple return values through the stored output structure,
and OutputSpec's replay of returned symbolic sizes."""

from __future__ import annotations

import collections
import dataclasses
import json

import pytest
import torch

from airgraph_cache.binding import OutputSpec, UncacheableError
from airgraph_cache.records import (
    RECORD_MARKER,
    RecordError,
    decode_records,
    encode_records,
    has_records,
)


@dataclasses.dataclass
class Hidden:
    last_hidden_state: torch.Tensor
    past: list | None = None
    note: str = dataclasses.field(default="x", init=False)


Pair = collections.namedtuple("Pair", ["a", "b"])


def _roundtrip(result, outputs, inputs=()):
    spec = OutputSpec.capture(result, outputs, list(inputs))
    stored = OutputSpec(**json.loads(json.dumps(dataclasses.asdict(spec))))
    return spec, stored.builder()


@pytest.mark.parametrize(
    "make",
    [
        lambda t: Hidden(t[0], [t[1]]),
        lambda t: Pair(t[0], (t[1], 3)),
        lambda t: [Pair(t[0], Hidden(t[1])), {"k": Hidden(t[0], None)}],
    ],
    ids=["dataclass", "namedtuple", "nested"],
)
def test_records_are_rebuilt_with_their_class(make):
    outs = [torch.ones(2), torch.zeros(3)]
    spec, build = _roundtrip(make(outs), outs)
    assert has_records(spec.treespec)
    new = [torch.full((2,), 5.0), torch.full((3,), 7.0)]
    got, want = build(new, []), make(new)
    assert type(got) is type(want)
    assert repr(got) == repr(want)  # same structure, same values, same classes


def test_non_init_fields_are_restored():
    obj = Hidden(torch.ones(1))
    obj.note = "changed"
    assert decode_records(encode_records(obj)).note == "changed"


def test_plain_structures_carry_no_records():
    out = torch.ones(1)
    spec = OutputSpec.capture((out, [None]), [out], [])
    assert not has_records(spec.treespec)


def test_a_class_not_found_by_name_is_uncacheable():
    @dataclasses.dataclass
    class Local:
        x: torch.Tensor

    out = torch.ones(1)
    with pytest.raises(UncacheableError, match="cannot be found by its name"):
        OutputSpec.capture(Local(out), [out], [])


def test_decoding_imports_nothing():
    forged = {RECORD_MARKER: ["dataclass", "some_module_never_imported", "X"], "fields": {}}
    with pytest.raises(RecordError, match="is not imported"):
        decode_records(forged)


def test_decoding_refuses_a_class_that_is_no_longer_a_record():
    forged = {RECORD_MARKER: ["dataclass", "collections", "OrderedDict"], "fields": {}}
    with pytest.raises(RecordError, match="no longer a dataclass"):
        decode_records(forged)


def test_symbolic_sizes_are_replayed_in_order():
    # Dynamo returns x.shape[0] and 2 * n as graph outputs; the 7 is a constant.
    x = torch.ones(6)
    result = (x, 6, 4, 7)
    spec, build = _roundtrip(result, [x, 6, 4])
    assert spec.leaves == [["out", 0], ["out", 1], ["out", 2], ["const", 7]]
    got = build([torch.ones(9), 9, 10], [])
    assert got[1:] == (9, 10, 7)


def test_a_constant_equal_to_a_size_is_refused():
    # (6, n) with n == 6: which 6 is the size cannot be told.
    with pytest.raises(UncacheableError, match="sizes that may be symbolic"):
        OutputSpec.capture((6, 6), [6], [])
