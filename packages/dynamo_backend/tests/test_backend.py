"""The torch.compile backend: numerics against eager, inference-only, fallback, frozen parameters."""

from __future__ import annotations

import logging

import pytest
import torch
import torch._dynamo
from torch import nn

from airgraph_core import UnsupportedOpError
from airgraph_dynamo import CompilerConfig, get_compiler, get_npu_backend

aten = torch.ops.aten


def _compile(fn, config, **kwargs):
    backend = get_npu_backend(compiler_config=config, **kwargs)
    return backend, torch.compile(fn, backend=backend, fullgraph=True, **kwargs.get("tc", {}))


class Mlp(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(8, 16), nn.Linear(16, 4)

    def forward(self, x):
        return self.fc2(torch.relu(self.fc1(x)))


class AttentionBlock(nn.Module):
    def __init__(self, d=16, heads=2):
        super().__init__()
        self.heads = heads
        self.ln = nn.LayerNorm(d)
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)

    def forward(self, x):
        b, t, d = x.shape
        q, k, v = self.qkv(self.ln(x)).split(d, dim=-1)
        q, k, v = (y.view(b, t, self.heads, -1).transpose(1, 2) for y in (q, k, v))
        att = torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
        return x + self.proj(att.transpose(1, 2).reshape(b, t, d))


class CounterCache(nn.Module):
    """Updates an input in place (like a KV cache) and a buffer."""

    def __init__(self):
        super().__init__()
        self.register_buffer("scale", torch.full((4,), 2.0))

    def forward(self, x, cache):
        cache.add_(x)
        return cache * self.scale


MODELS = {
    "add": (lambda: lambda x, y: x + y, lambda: (torch.randn(3, 4), torch.randn(3, 4))),
    "add_mul_broadcast": (
        lambda: lambda x, y: x * y + x,
        lambda: (torch.randn(2, 3, 4), torch.randn(4)),
    ),
    "mlp": (Mlp, lambda: (torch.randn(5, 8),)),
    "attention_block": (AttentionBlock, lambda: (torch.randn(2, 6, 16),)),
    "inplace_cache": (CounterCache, lambda: (torch.randn(3, 4), torch.zeros(3, 4))),
}


@pytest.mark.parametrize("dynamic", [False, True], ids=["static", "dynamic"])
@pytest.mark.parametrize("name", list(MODELS))
def test_numerics_match_eager(name, dynamic, make_config, skip_if_missing_converters):
    make_model, make_inputs = MODELS[name]
    torch.manual_seed(0)
    model = make_model()
    if isinstance(model, nn.Module):
        model.eval()
    backend = get_npu_backend(compiler_config=make_config("interpret"))
    compiled = torch.compile(model, backend=backend, fullgraph=True, dynamic=dynamic)
    inputs = make_inputs()
    eager_inputs = [t.clone() for t in inputs]
    with torch.no_grad():
        expected = model(*eager_inputs)
        got = skip_if_missing_converters(compiled, *inputs)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-4)
    for a, b in zip(inputs, eager_inputs):  # in-place updates of inputs happened too
        torch.testing.assert_close(a, b)
    assert len(backend.graphs) == 1 and backend.compiled[0].target == "host"


def test_dynamic_graph_serves_new_shapes_without_recompiling(make_config):
    backend = get_npu_backend(compiler_config=make_config("interpret"))
    add = torch.compile(lambda x, y: x + y, backend=backend, fullgraph=True, dynamic=True)
    with torch.no_grad():
        for n in (3, 5, 9):
            x, y = torch.randn(n, 2), torch.randn(n, 2)
            torch.testing.assert_close(add(x, y), x + y)
    assert len(backend.compiled) == 1


def test_symint_and_none_outputs(make_config):
    backend = get_npu_backend(compiler_config=make_config("interpret"))
    fn = torch.compile(
        lambda x: (x + x, x.shape[0] + 1), backend=backend, fullgraph=True, dynamic=True
    )
    with torch.no_grad():
        out, n = fn(torch.ones(5, 2))
    torch.testing.assert_close(out, torch.full((5, 2), 2.0))
    assert n == 6 and type(n) is int


def test_training_is_refused_with_a_clear_error(make_config):
    model = nn.Linear(4, 4)
    backend = get_npu_backend(compiler_config=make_config("interpret"))
    compiled = torch.compile(model, backend=backend, fullgraph=True)
    with pytest.raises(Exception, match="inference graphs only") as info:
        compiled(torch.randn(2, 4))
    assert "torch.no_grad()" in str(info.value)
    assert "_parameters['weight']" in str(info.value)
    assert backend.compiled == []


def test_input_requiring_grad_is_refused(make_config):
    backend = get_npu_backend(compiler_config=make_config("interpret"))
    add = torch.compile(lambda x, y: x + y, backend=backend, fullgraph=True)
    with pytest.raises(Exception, match=r"inference graphs only.*input L\['x'\]"):
        add(torch.randn(2, requires_grad=True), torch.randn(2))


def test_requires_grad_is_fine_without_grad_mode(make_config):
    model = nn.Linear(4, 4)
    backend = get_npu_backend(compiler_config=make_config("interpret"))
    compiled = torch.compile(model, backend=backend, fullgraph=True)
    x = torch.randn(2, 4)
    with torch.inference_mode():
        torch.testing.assert_close(compiled(x), model(x))


# -- unsupported ops --------------------------------------------------------


@torch.library.custom_op("airgraph_test::mystery", mutates_args=())
def mystery(x: torch.Tensor) -> torch.Tensor:
    return x.flip(0) * 3


@mystery.register_fake
def _(x):
    return torch.empty_like(x)


def uses_mystery(x, y):
    return mystery(x + y) + y


def test_unsupported_op_error_names_the_op_and_line(make_config):
    backend = get_npu_backend(compiler_config=make_config("interpret"))
    fn = torch.compile(uses_mystery, backend=backend, fullgraph=True)
    with pytest.raises(Exception, match="airgraph_test.mystery") as info, torch.no_grad():
        fn(torch.randn(3), torch.randn(3))
    # Dynamo wraps backend errors in BackendCompilerFailed(inner_exception=...).
    error = getattr(info.value, "inner_exception", info.value)
    assert isinstance(error, UnsupportedOpError)
    assert [op.target for op in error.ops] == ["airgraph_test.mystery.default"]
    assert "test_backend.py" in str(error) and "mystery(x + y)" in str(error)


def test_unsupported_op_fallback_runs_eagerly_with_a_warning(make_config, caplog):
    config = make_config("interpret", unsupported_op="fallback")
    backend = get_npu_backend(compiler_config=config)
    fn = torch.compile(uses_mystery, backend=backend, fullgraph=True)
    x, y = torch.randn(3), torch.randn(3)
    with caplog.at_level(logging.WARNING, logger="airgraph.dynamo"), torch.no_grad():
        torch.testing.assert_close(fn(x, y), uses_mystery(x, y))
    record = backend.compiled[-1]
    assert record.target == "eager" and record.ge_graph is None
    assert "airgraph_test.mystery" in record.fallback_reason
    assert "runs eagerly" in caplog.text and "airgraph_test.mystery" in caplog.text


# -- frozen parameters ------------------------------------------------------


class Affine(nn.Module):
    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(4))
        self.register_buffer("shift", torch.randn(4))

    def forward(self, x):
        return x * self.weight + self.shift


@pytest.mark.parametrize("frozen", [False, True])
def test_frozen_parameter_keeps_params_and_buffers_as_frozen_inputs(frozen, make_config):
    """As TorchAir's frozenInput: weights stay inputs (flagged), so new values are used."""
    config = make_config("interpret")
    config.experimental_config.frozen_parameter = frozen
    model = Affine().eval()
    backend = get_npu_backend(compiler_config=config)
    compiled = torch.compile(model, backend=backend, fullgraph=True)
    x = torch.randn(3, 4)
    with torch.no_grad():
        torch.testing.assert_close(compiled(x), model(x))
    record = backend.compiled[-1]
    sources = [d.source for d in record.static_marks.inputs]
    assert sorted(sources) == sorted(
        ["L['x']", "L['self']._parameters['weight']", "L['self']._buffers['shift']"]
    )
    if frozen:
        assert len(record.frozen_inputs) == 2
        flags = record.ge_options["frozenInput"].split(",")
        assert sorted(flags) == ["0", "1", "1"]
    else:
        assert record.frozen_inputs == ()
        assert "frozenInput" not in record.ge_options
    # Weights changed in place after the compile: the next call reads them.
    with torch.no_grad():
        model.weight.mul_(3)
        model.shift.add_(1)
        torch.testing.assert_close(compiled(x), model(x))


# -- config plumbing --------------------------------------------------------


def test_backend_keeps_a_copy_of_the_config(make_config):
    config = make_config("interpret")
    backend = get_npu_backend(compiler_config=config)
    config.airgraph_config.target = "npu"
    assert backend.config.airgraph_config.target == "host"
    assert backend.config == make_config("interpret")


def test_arguments_are_validated():
    with pytest.raises(TypeError, match="compiler_config: expected an airgraph CompilerConfig"):
        get_npu_backend(compiler_config={"target": "host"})
    with pytest.raises(TypeError, match="custom_decompositions"):
        get_npu_backend(custom_decompositions=[aten.add.Tensor])
    with pytest.raises(TypeError, match="compiler_config"):
        get_compiler("host")
    with pytest.raises(TypeError):
        get_npu_backend(CompilerConfig())  # keyword-only, as in TorchAir


def test_custom_decompositions_are_applied(make_config):
    # A deliberately wrong decomposition proves the user's table is used.
    def mul_as_add(x, y):
        return aten.add.Tensor(x, y)

    backend = get_npu_backend(
        compiler_config=make_config("interpret"),
        custom_decompositions={aten.mul.Tensor: mul_as_add},
    )
    assert backend.decompositions[aten.mul.Tensor] is mul_as_add
    fn = torch.compile(lambda x, y: x * y, backend=backend, fullgraph=True)
    x, y = torch.randn(3), torch.randn(3)
    with torch.no_grad():
        torch.testing.assert_close(fn(x, y), x + y)


def test_get_compiler_works_as_an_aot_fw_compiler(make_config):
    from torch._functorch.aot_autograd import aot_module_simplified

    compiler = get_compiler(make_config("interpret"))

    def my_backend(gm, example_inputs):
        with torch.no_grad():
            return aot_module_simplified(
                gm, example_inputs, fw_compiler=compiler, keep_inference_input_mutations=True
            )

    fn = torch.compile(lambda x, y: x + y, backend=my_backend, fullgraph=True)
    x, y = torch.randn(4), torch.randn(4)
    with torch.no_grad():
        torch.testing.assert_close(fn(x, y), x + y)
    assert [op.type for op in compiler.graphs[-1].ops] == ["Data", "Data", "Add", "NetOutput"]


@pytest.mark.slow
def test_inductor_host_mode_matches_eager(make_config, skip_if_missing_converters):
    torch.manual_seed(0)
    model = Mlp().eval()
    backend = get_npu_backend(compiler_config=make_config("inductor"))
    compiled = torch.compile(model, backend=backend, fullgraph=True, dynamic=True)
    with torch.no_grad():
        # Each size twice: a new size's first call runs op by op, the second Inductor's code.
        for n in (3, 3, 7, 7):
            x = torch.randn(n, 8)
            torch.testing.assert_close(
                skip_if_missing_converters(compiled, x), model(x), atol=1e-5, rtol=1e-4
            )
    assert len(backend.compiled) == 1
    assert backend.compiler.target.mode == "inductor"


def test_first_call_hooks_see_each_graphs_first_call_only(make_config):
    backend = get_npu_backend(compiler_config=make_config("interpret"))
    seen = []
    handle = backend.compiler.add_first_call_hook(
        lambda record, inputs, outputs: seen.append((record.name, inputs, outputs))
    )
    fn = torch.compile(lambda x, y: x * y + 1, backend=backend, fullgraph=True)
    x, y = torch.randn(3), torch.randn(3)
    with torch.no_grad():
        fn(x, y)
        fn(x, y)
    assert len(seen) == 1
    name, inputs, outputs = seen[0]
    assert name == backend.compiled[-1].name
    assert [t is v for t, v in zip(inputs, (x, y))] == [True, True]
    torch.testing.assert_close(outputs[0], x * y + 1)

    handle.remove()
    torch._dynamo.reset()
    unobserved = torch.compile(lambda x: x - 1, backend=backend, fullgraph=True)
    with torch.no_grad():
        unobserved(x)
    assert len(seen) == 1
    with pytest.raises(TypeError, match="hook: expected a callable"):
        backend.compiler.add_first_call_hook("not a function")
