"""Per-call changes of what Dynamo guarded: never the first call's result for another call.

After the first call, ``cache_compile`` skips Dynamo's guards; the recorded
call checks must send a call whose non-tensor arguments, ``None``-ness,
container lengths or keys, or branch-choosing dims differ to another program
(compiled or loaded as a variant of the key), and every result must match
eager PyTorch. Each case alternates the two situations, so a program that
ignores the change returns a wrong value (the test fails without the checks).
"""

from __future__ import annotations

import cache_models
import pytest
import torch

from airgraph_cache import cache_compile


class Branchy(torch.nn.Module):
    """One method whose trace depends on each kind of per-call value."""

    def __init__(self, cache_dir, dynamic=True):
        super().__init__()
        self.proj = torch.nn.Linear(8, 8)
        config = cache_models.interpret_config()
        self.cached = cache_compile(
            self._forward, cache_dir=cache_dir, config=config, dynamic=dynamic
        )

    def _forward(self, x, mask=None, extra=(), named=None, n=1, mode="a", flag=False):
        h = self.proj(x)
        if mask is not None:
            h = h * mask
        for t in extra:
            h = h + t
        if named:
            for key in sorted(named):
                h = h - named[key]
        if n > 2:
            h = h + n
        if mode == "b":
            h = h.abs()
        if flag:
            h = -h
        if x.shape[0] > 8:
            h = h.sin()
        return h


def _t(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


#: (case, first call's kwargs, the other call's kwargs); x is [4, 8] unless set.
CASES = [
    ("none_to_tensor", {}, {"mask": _t(4, 8, seed=1)}),
    ("tensor_to_none", {"mask": _t(4, 8, seed=1)}, {}),
    ("tuple_length", {"extra": (_t(4, 8), _t(4, 8))}, {"extra": (_t(4, 8), _t(4, 8), _t(4, 8))}),
    ("dict_keys", {"named": {"a": _t(4, 8)}}, {"named": {"a": _t(4, 8), "b": _t(4, 8, seed=2)}}),
    ("int_branch", {"n": 3}, {"n": 2}),
    ("int_value", {"n": 3}, {"n": 5}),
    ("int_to_float", {"n": 3}, {"n": 3.5}),
    ("str_branch", {"mode": "a"}, {"mode": "b"}),
    ("bool_branch", {"flag": False}, {"flag": True}),
    ("shape_branch", {"x": _t(4, 8)}, {"x": _t(16, 8)}),
]


@pytest.mark.parametrize("dynamic", [True, False], ids=["dynamic", "static"])
@pytest.mark.parametrize(("case", "first", "other"), CASES, ids=[c[0] for c in CASES])
def test_a_changed_call_never_gets_the_first_calls_result(tmp_path, case, first, other, dynamic):
    torch.manual_seed(0)
    model = Branchy(str(tmp_path), dynamic=dynamic).eval()
    x = _t(4, 8, seed=9)
    for kwargs in (first, other, first, other):
        kwargs = dict(kwargs)
        args = (kwargs.pop("x", x),)
        with torch.inference_mode():
            got = model.cached(*args, **kwargs)
            want = model._forward(*args, **kwargs)
        assert cache_models.max_error(got, want) <= cache_models.ATOL, (case, kwargs)
    if case == "shape_branch" and not dynamic:
        return  # another static shape: the input check abandons the program (tested elsewhere)
    assert model.cached.status in ("compiled", "hit"), model.cached.status


class VarKwargs(torch.nn.Module):
    def __init__(self, cache_dir):
        super().__init__()
        self.proj = torch.nn.Linear(8, 8)
        config = cache_models.interpret_config()
        self.cached = cache_compile(self._forward, cache_dir=cache_dir, config=config)

    def _forward(self, x, **extra):
        h = self.proj(x)
        if "mask" in extra:
            h = h * extra["mask"]
        return h


def test_kwarg_missing_later_gives_the_right_result_not_keyerror(tmp_path):
    torch.manual_seed(0)
    model = VarKwargs(str(tmp_path)).eval()
    x, mask = _t(4, 8), _t(4, 8, seed=1)
    with torch.inference_mode():
        model.cached(x, mask=mask)
        got = model.cached(x)  # the kwarg seen at compile time is gone
        want = model._forward(x)
    assert cache_models.max_error(got, want) <= cache_models.ATOL


def test_required_argument_missing_is_a_named_error(tmp_path):
    net = cache_models.build("kwargs", str(tmp_path))
    x, bias = _t(4, 8), _t(8)
    with torch.inference_mode():
        net.cached_forward(x, bias=bias)
        with pytest.raises(TypeError, match="bias"):
            net.cached_forward(x)


class OptionalAdd(torch.nn.Module):
    def __init__(self, cache_dir):
        super().__init__()
        config = cache_models.interpret_config()
        self.cached = cache_compile(self._forward, cache_dir=cache_dir, config=config)

    def _forward(self, x, y):
        return x if y is None else x + y


def test_none_where_a_tensor_was_gives_the_right_result(tmp_path):
    model = OptionalAdd(str(tmp_path))
    x, y = _t(4, 8), _t(4, 8, seed=1)
    with torch.inference_mode():
        model.cached(x, y)
        got = model.cached(x, None)
        again = model.cached(x, y)
    assert torch.equal(got, x)
    assert torch.allclose(again, x + y)


def _scale_output(module, inputs, output):
    return output * 2


def _shift_output(module, inputs, output):
    return output + 1


def test_hook_dicts_are_checked_by_their_hooks_not_handle_ids():
    # Handle ids are a process-wide counter: another process registering the same hook
    # gets another key. The check compares the hooks' code, without airgraph's own.
    from airgraph_cache import binding
    from airgraph_cache.checks import GuardChecks
    from airgraph_cache.guards import hook_identities

    module = torch.nn.Linear(2, 2)
    handle = module.register_forward_hook(_scale_output)
    path = [["local", "self"], ["attr", "_forward_hooks"]]
    spec = {"path": path, "op": "hooks", "value": hook_identities(module._forward_hooks)}
    checks = GuardChecks([spec], Branchy._forward)
    assert checks.process_ok(module)
    handle.remove()
    assert not checks.process_ok(module)  # the hook is gone
    handle = module.register_forward_hook(_scale_output)  # the same hook, a new handle id
    assert checks.process_ok(module)
    handle.remove()
    module.register_forward_hook(_shift_output)  # another hook in its place
    assert not checks.process_ok(module)
    registry = {1: binding._bump, 2: _scale_output}  # the binding's own hook is left out
    assert hook_identities(registry) == hook_identities({7: _scale_output})
