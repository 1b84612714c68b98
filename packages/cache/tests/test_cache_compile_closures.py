"""Values read from closure cells: replayed at every call, never the first call's value.

A cached method (or a helper it calls) may read tensors and other values from
closure cells (issue 14; TorchAir's ``test_func_use_closure``). The cache
replays each closure tensor as a program input read from its cell at every
call, and checks every other closure value Dynamo guarded (ints, floats,
bools, strings, lists, ``None``-ness, helper functions) at every call, since
a cell can be rebound at any time. Each case alternates two values of one
cell (or changes a tensor in place) and compares every call with eager
PyTorch, first on the compiled program, then on a second instance that loads
the entry's recipe, so a replay that kept the first value fails.
"""

from __future__ import annotations

import cache_models
import pytest
import torch

from airgraph_cache import cache_compile
from airgraph_cache.binding import closure_cells


def _t(*shape, seed=0, dtype=torch.float32):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def _adder(bias):
    def add(x):
        return x + bias

    return add


def _subtract_one(x):
    return x - 1.0


def _closure_class(cache_dir: str, dynamic: bool) -> type:
    """A fresh model class whose method reads each kind of value from closure cells."""
    weight = _t(4, seed=1)
    n = 3
    scale = 0.5
    flag = False
    mode = "a"
    sizes = [1, 2]
    extra = None
    helper = _adder(_t(4, seed=2))  # a nested closure: the helper's own cell holds a tensor

    class Closures(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            config = cache_models.interpret_config()
            self.cached = cache_compile(
                self._forward, cache_dir=cache_dir, config=config, dynamic=dynamic
            )

        def _forward(self, x):
            h = helper(x * weight) * scale + sizes[-1]
            if n > 2:
                h = h + n
            if flag:
                h = -h
            if mode == "b":
                h = h.abs()
            if extra is not None:
                h = h + extra
            return h

    return Closures


def _cell(cls: type, name: str):
    """The cell of ``name`` in the method's closure (``bias``: in its helper's closure)."""
    cells = closure_cells(cls._forward)
    if name == "bias":
        cells = closure_cells(cells["helper"].cell_contents)
    return cells[name]


#: (case, cell, the other value); the method first runs with the values above.
REBINDS = [
    ("tensor", "weight", _t(4, seed=3)),
    ("tensor_other_shape", "weight", _t(1, seed=3)),
    ("tensor_other_dtype", "weight", _t(4, seed=3, dtype=torch.float64)),
    ("int_value", "n", 5),
    ("int_branch", "n", 2),
    ("int_to_float", "n", 3.5),
    ("float", "scale", 2.0),
    ("bool", "flag", True),
    ("str", "mode", "b"),
    ("list_item", "sizes", [1, 7]),
    ("list_length", "sizes", [1, 2, 4]),
    ("none_to_tensor", "extra", _t(4, seed=4)),
    ("nested_tensor", "bias", _t(4, seed=5)),
    ("helper_same_code", "helper", _adder(_t(4, seed=6))),
    ("helper_other_code", "helper", _subtract_one),
]


def _check_calls(cls: type, model: torch.nn.Module, values: list) -> None:
    x = _t(2, 4, seed=9)
    for name, value in values:
        # ``nonlocal name; name = value`` in the enclosing function, from outside.
        _cell(cls, name).cell_contents = value
        with torch.inference_mode():
            got = model.cached(x)
            want = model._forward(x)
        assert cache_models.max_error(got, want) <= cache_models.ATOL, (name, value)


@pytest.mark.parametrize("dynamic", [True, False], ids=["dynamic", "static"])
@pytest.mark.parametrize(("case", "name", "other"), REBINDS, ids=[c[0] for c in REBINDS])
def test_a_rebound_cell_is_read_at_every_call(tmp_path, case, name, other, dynamic):
    cls = _closure_class(str(tmp_path), dynamic)
    first = _cell(cls, name).cell_contents
    sequence = [(name, first), (name, other), (name, first), (name, other)]
    model = cls()
    _check_calls(cls, model, sequence)
    assert model.cached.status in ("compiled", "uncached"), model.cached.status
    # A second instance binds the entry's recipe (loaded, not the captured program).
    again = cls()
    _check_calls(cls, again, sequence)
    if case not in ("tensor_other_dtype", "tensor_other_shape", "int_to_float"):
        # Only what the program cannot take (another dtype, a size-1 dim Dynamo
        # specializes) leaves the cache; every other value has its variant.
        assert model.cached.status == "compiled" and again.cached.status in ("hit", "compiled")


@pytest.mark.parametrize("target", ["weight", "bias"])
def test_a_closure_tensor_changed_in_place_is_seen(tmp_path, target):
    cls = _closure_class(str(tmp_path), True)
    model = cls()
    cell = _cell(cls, target)
    x = _t(2, 4, seed=9)
    for step in range(3):
        cell.cell_contents.add_(1.5 * step)
        with torch.inference_mode():
            got = model.cached(x)
            want = model._forward(x)
        assert cache_models.max_error(got, want) <= cache_models.ATOL, step
    assert model.cached.status == "compiled"


def test_the_closure_tensors_are_program_inputs_read_from_their_cells(tmp_path):
    # TorchAir's test_func_use_closure: the method is cached (not run uncached), and the
    # closure tensors, the helper's included, are inputs of the program, not constants.
    cls = _closure_class(str(tmp_path), True)
    model = cls()
    with torch.inference_mode():
        model.cached(_t(2, 4))
    program = model.cached._program
    assert model.cached.status == "compiled"
    heads = {path[0][1] for path in program.binding.paths}
    assert {"weight", "helper"} <= heads
    assert program.binding._direct is not None  # no per-call frame binding


class _Base(torch.nn.Module):
    def _forward(self, x):
        return x + 1


class _Child(_Base):
    def __init__(self, cache_dir: str) -> None:
        super().__init__()
        config = cache_models.interpret_config()
        self.cached = cache_compile(self._forward, cache_dir=cache_dir, config=config)

    def _forward(self, x):
        return super()._forward(x) * 2


def test_a_method_calling_super_is_cached(tmp_path):
    # ``super()`` reads the method's ``__class__`` cell, which Dynamo guards: a closure read.
    model = _Child(str(tmp_path))
    x = _t(2, 4)
    with torch.inference_mode():
        got = [model.cached(x), model.cached(x + 1)]
    assert model.cached.status == "compiled"
    assert torch.allclose(got[0], (x + 1) * 2) and torch.allclose(got[1], (x + 2) * 2)


def _closure_module_class(cache_dir: str) -> tuple[type, torch.nn.Linear]:
    torch.manual_seed(0)
    lin = torch.nn.Linear(4, 4)  # captured by the closure, not a submodule of the model

    class ClosureModule(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            config = cache_models.interpret_config()
            self.cached = cache_compile(self._forward, cache_dir=cache_dir, config=config)

        def _forward(self, x):
            return lin(x).relu()

    return ClosureModule, lin


def test_parameters_of_a_module_in_a_closure_are_read_per_call(tmp_path):
    cls, lin = _closure_module_class(str(tmp_path))
    models = [cls()]
    x = _t(2, 4)
    with torch.no_grad():
        for change in (None, "in_place", "reassigned", "second_instance"):
            if change == "in_place":
                lin.weight.mul_(2)
            elif change == "reassigned":
                lin.weight = torch.nn.Parameter(_t(4, 4, seed=7))
            elif change == "second_instance":
                models.append(cls())
            model = models[-1]
            got, want = model.cached(x), model._forward(x)
            assert cache_models.max_error(got, want) <= cache_models.ATOL, change
    assert [m.cached.status for m in models] == ["compiled", "hit"]
