"""Backends, compilers and configs copied and pickled, before and after compiles.

What a copy means (see ``NpuBackend``'s docstring and the configuration
page): ``copy.deepcopy`` of a backend gives an equal backend with its own
config that shares the original's compiler, so both record into the same
``compiled`` list; a pickled backend loads with the same options and no
records. A copy of a config keeps every option's value. Either way, the
copy compiles and its results match eager.

``transformers``' ``generate`` deep-copies the backend of a
``CompileConfig``; the last test runs that path after a dynamic compile.
"""

from __future__ import annotations

import copy
import json
import os
import pickle
import sys

import fresh_python
import pytest
import torch

from airgraph_dynamo import CompilerConfig, NpuBackend, get_npu_backend
from airgraph_dynamo.options import ConfigNode
from airgraph_dynamo.targets.host import HostTarget
from airgraph_gears import set_dim_gears

aten = torch.ops.aten
TOL = {"rtol": 1e-5, "atol": 1e-5}


def _custom_pass(gm):
    """A module-level custom pass: pickled by reference."""
    return gm


def _relu_as_clamp(x):
    """A module-level decomposition of ``aten.relu``."""
    return torch.clamp_min(x, 0)


def _silu_as_sigmoid(x):
    """A module-level decomposition of every ``aten.silu`` overload."""
    return x * torch.sigmoid(x)


# -- configs ------------------------------------------------------------------------------


def _candidates(default, tmp_path):
    """Values to try for an option, most specific first."""
    folder = tmp_path / "folder"
    folder.mkdir(exist_ok=True)
    text_file = tmp_path / "options.txt"
    text_file.write_text("x")
    json_file = tmp_path / "options.json"
    json_file.write_text(json.dumps({}))
    values = [not default] if isinstance(default, bool) else []
    return values + [
        7,
        "0|1|2-5|6",
        "Mul_1",
        ["a", "b"],
        [1, 2],
        {"k": 1},
        str(folder),
        str(text_file),
        str(json_file),
        _custom_pass,
    ]


def _differs(value, default):
    return type(value) is not type(default) or value != default


def _change_every_option(node: ConfigNode, tmp_path) -> list[str]:
    """Set each option of ``node``'s tree to a valid non-default value; returns their paths."""
    changed = []
    for name, option in type(node)._options.items():
        tries = [c for c in option.choices or () if _differs(c, option.default)]
        tries = tries or _candidates(option.default, tmp_path)
        for value in tries:
            if not _differs(value, option.default):
                continue
            try:
                setattr(node, name, value)
            except (ValueError, TypeError):
                continue
            changed.append(f"{node._path}.{name}".lstrip("."))
            break
    for name in type(node)._children:
        changed += _change_every_option(getattr(node, name), tmp_path)
    return changed


def _pickled(value):
    return pickle.loads(pickle.dumps(value))


COPIERS = {"deepcopy": copy.deepcopy, "copy_method": lambda c: c.copy(), "pickle": _pickled}


@pytest.mark.parametrize("copier", COPIERS)
def test_config_copy_keeps_every_option(copier, tmp_path):
    config = CompilerConfig()
    changed = _change_every_option(config, tmp_path)
    # Every option that has another allowed value was changed (jit_compile allows
    # only 'auto'), so the test covers every kind of check.
    unchanged = [line for line in config.describe().splitlines() if "# changed" not in line]
    assert unchanged == ["experimental_config.jit_compile = 'auto'"] and len(changed) > 70
    clone = COPIERS[copier](config)
    assert clone is not config and type(clone) is CompilerConfig
    assert clone.describe() == config.describe()
    assert clone == config and clone.fingerprint() == config.fingerprint()
    assert clone.as_dict() == config.as_dict()
    # Values read back as option values (TorchAir's .value), not plain strings.
    assert clone.mode.value == config.mode.value != CompilerConfig().mode.value
    assert clone.airgraph_config.host_mode.default == "inductor"


@pytest.mark.parametrize("copier", COPIERS)
def test_config_copy_is_independent_and_validates(copier):
    config = CompilerConfig()
    config.experimental_config.static_model_ops_lower_limit = 5
    clone = COPIERS[copier](config)
    clone.experimental_config.static_model_ops_lower_limit = 6
    assert config.experimental_config.static_model_ops_lower_limit == 5
    with pytest.raises(ValueError, match=r"static_model_ops_lower_limit.*\[-1, "):
        clone.experimental_config.static_model_ops_lower_limit = -2
    with pytest.raises(ValueError, match="host_mode"):
        clone.airgraph_config.host_mode = "fast"


def test_config_loads_after_its_dump_folder_is_gone(tmp_path):
    """Stored values were checked when set: a load does not check the disk again."""
    folder = tmp_path / "dumps"
    folder.mkdir()
    config = CompilerConfig()
    config.debug.data_dump.path = str(folder)
    saved = pickle.dumps(config)
    folder.rmdir()
    assert pickle.loads(saved).debug.data_dump.path == str(folder)
    assert copy.deepcopy(config).debug.data_dump.path == str(folder)


def test_config_groups_pickle_and_deepcopy():
    config = CompilerConfig()
    config.dump_config.dump_step = "0|2-4"
    for clone in (_pickled(config.dump_config), copy.deepcopy(config.dump_config)):
        assert clone.dump_step == "0|2-4"
        with pytest.raises(ValueError, match="dump_config.dump_step"):
            clone.dump_step = "x"


def test_config_with_a_lambda_pass_copies_but_cannot_pickle():
    config = CompilerConfig()
    config.post_grad_custom_pre_pass = lambda gm: gm
    assert copy.deepcopy(config).post_grad_custom_pre_pass is config.post_grad_custom_pre_pass
    with pytest.raises((AttributeError, pickle.PicklingError), match="lambda"):
        pickle.dumps(config)


# -- backends -------------------------------------------------------------------------------

KINDS = ["none", "static", "dynamic", "gears"]


def _serve(kind: str, backend: NpuBackend) -> None:
    """Have ``backend`` compile one graph of ``kind`` (``"none"``: nothing) and check it."""
    if kind == "none":
        return
    compiled = torch.compile(
        lambda x: torch.relu(x) * 2 + 1, backend=backend, fullgraph=True, dynamic=kind == "dynamic"
    )
    inputs = [torch.randn(2, 3), torch.randn(4, 3)]
    if kind == "gears":
        set_dim_gears(inputs[0], {0: [2, 4]})
    with torch.no_grad():
        for x in inputs:
            torch.testing.assert_close(compiled(x), torch.relu(x) * 2 + 1, **TOL)
    assert len(backend.compiled) == (2 if kind == "static" else 1)
    assert (backend.compiled[0].gears is not None) == (kind == "gears")


def _check_compiles(backend: NpuBackend) -> None:
    """``backend`` compiles a new function, static and dynamic, matching eager."""

    def fn(x, y):
        return torch.softmax(x @ y, dim=-1) - x.mean()

    for dynamic in (False, True):
        torch._dynamo.reset()
        compiled = torch.compile(fn, backend=backend, fullgraph=True, dynamic=dynamic)
        with torch.no_grad():
            for n in (3, 5):
                x, y = torch.randn(n, 4), torch.randn(4, n)
                torch.testing.assert_close(compiled(x, y), fn(x, y), **TOL)


@pytest.fixture
def backend(make_config):
    return get_npu_backend(compiler_config=make_config())


@pytest.mark.parametrize("kind", KINDS)
def test_deepcopy_shares_the_records_and_compiles(kind, backend):
    _serve(kind, backend)
    records = list(backend.compiled)
    clone = copy.deepcopy(backend)
    assert clone is not backend and clone == backend and hash(clone) == hash(backend)
    assert clone.config == backend.config and clone.config is not backend.config
    assert clone.compiled is backend.compiled and clone.compiled == records
    _check_compiles(clone)
    # The copy's graphs are recorded where the original's are.
    assert len(backend.compiled) > len(records) and backend.compiled[: len(records)] == records
    clone.config.airgraph_config.unsupported_op = "fallback"
    assert backend.config.airgraph_config.unsupported_op == "error"


@pytest.mark.parametrize("kind", KINDS)
def test_pickle_loads_without_records_and_compiles(kind, backend):
    _serve(kind, backend)
    count = len(backend.compiled)
    loaded = _pickled(backend)
    assert type(loaded) is NpuBackend and loaded.compiled == [] and loaded != backend
    assert loaded.config == backend.config and loaded.compiler.config == backend.compiler.config
    assert loaded.decompositions == backend.decompositions
    _check_compiles(loaded)
    assert loaded.compiled and len(backend.compiled) == count
    # A copy of the loaded backend is equal to it; the original is not.
    assert copy.deepcopy(loaded) == loaded != backend


@pytest.mark.parametrize("kind", ["dynamic", "gears"])
def test_the_compiler_alone_copies_and_pickles(kind, backend):
    """``get_compiler``'s object (here the backend's) after a compile."""
    _serve(kind, backend)
    compiler = backend.compiler
    clone = copy.deepcopy(compiler)
    assert clone.compiled is compiler.compiled and clone.config == compiler.config
    assert clone.config is not compiler.config and clone.target is compiler.target
    loaded = _pickled(compiler)
    assert loaded.compiled == [] and loaded.config == compiler.config
    assert loaded.target.name == "host" and loaded.target.mode == "interpret"


def test_a_deep_copy_runs_the_first_call_hooks(backend):
    _serve("dynamic", backend)
    seen = []
    handle = backend.compiler.add_first_call_hook(lambda record, *_: seen.append(record.name))
    clone = copy.deepcopy(backend)
    compiled = torch.compile(lambda x: x.exp() - 1, backend=clone, fullgraph=True)
    x = torch.randn(3)
    with torch.no_grad():
        torch.testing.assert_close(compiled(x), x.exp() - 1, **TOL)
    assert seen == [backend.compiled[-1].name]
    handle.remove()  # removed from the shared hooks: later compiles run unobserved
    with torch.no_grad():
        torch.compile(lambda x: x.cos(), backend=clone, fullgraph=True)(x)
    assert len(seen) == 1 and len(backend.compiled) == 3


def test_shallow_copies_share_everything(backend):
    _serve("dynamic", backend)
    clone, compiler = copy.copy(backend), copy.copy(backend.compiler)
    assert clone == backend and clone.compiler is backend.compiler
    assert compiler.compiled is backend.compiled and compiler.config is backend.compiler.config
    _check_compiles(clone)
    assert len(backend.compiled) > 1


def test_deepcopy_of_a_structure_keeps_one_compiler(backend):
    _serve("dynamic", backend)
    pair = copy.deepcopy({"backend": backend, "compiler": backend.compiler})
    assert pair["backend"].compiler is pair["compiler"]
    assert pair["compiler"].compiled is backend.compiled


def test_pickle_keeps_custom_decompositions(make_config):
    table = {aten.relu.default: _relu_as_clamp, aten.silu: _silu_as_sigmoid}
    backend = get_npu_backend(compiler_config=make_config(), custom_decompositions=table)
    table.clear()  # the backend kept its own copy of the user's table
    loaded = _pickled(backend)
    assert loaded.custom_decompositions == {
        aten.relu.default: _relu_as_clamp,
        aten.silu: _silu_as_sigmoid,
    }
    assert loaded.decompositions == backend.decompositions
    assert loaded.decompositions[aten.silu.default] is _silu_as_sigmoid
    _check_compiles(loaded)


def test_pickle_of_a_lambda_decomposition_fails_on_the_lambda(make_config):
    backend = get_npu_backend(
        compiler_config=make_config(), custom_decompositions={aten.relu.default: lambda x: x}
    )
    assert copy.deepcopy(backend) == backend
    with pytest.raises((AttributeError, pickle.PicklingError), match="lambda"):
        pickle.dumps(backend)


def test_pickle_keeps_a_given_target(make_config):
    """A target given to get_npu_backend is saved; the config would select another."""
    config = make_config("inductor")
    backend = get_npu_backend(compiler_config=config, target=HostTarget("interpret"))
    _serve("dynamic", backend)
    loaded = _pickled(backend)
    assert isinstance(loaded.compiler.target, HostTarget)
    assert loaded.compiler.target.mode == "interpret"
    assert get_npu_backend(compiler_config=config).compiler.target.mode == "inductor"


# -- what torch.compile passes to a backend ----------------------------------------------------


@pytest.mark.parametrize("mode", ["default", "reduce-overhead", "max-autotune"])
def test_torch_compile_mode_is_accepted(mode, backend):
    compiled = torch.compile(lambda x: x.sin() * 3, backend=backend, mode=mode, fullgraph=True)
    x = torch.randn(3, 2)
    with torch.no_grad():
        torch.testing.assert_close(compiled(x), x.sin() * 3, **TOL)
    assert len(backend.compiled) == 1


def test_torch_compile_options_are_refused(backend):
    compiled = torch.compile(lambda x: x + 1, backend=backend, options={"max_autotune": True})
    with torch.no_grad(), pytest.raises(Exception, match="options: airgraph takes no"):
        compiled(torch.ones(2))


def test_backend_refuses_a_mode_that_is_not_a_string(backend):
    gm = torch.fx.symbolic_trace(lambda x: x + 1)
    with pytest.raises(TypeError, match="mode: expected torch.compile's mode"):
        backend(gm, [torch.ones(2)], mode=3)


# -- transformers ------------------------------------------------------------------------------


_GENERATE = """
import json
import torch
import transformers
from airgraph_dynamo import CompilerConfig, get_npu_backend

config = CompilerConfig()
config.airgraph_config.target = "host"
config.airgraph_config.host_mode = "interpret"
backend = get_npu_backend(compiler_config=config)
# A dynamic compile first: its records hold SymInts, which deepcopy must survive.
compiled = torch.compile(lambda x: torch.relu(x) * 2 + 1, backend=backend, dynamic=True)
with torch.no_grad():
    for x in (torch.randn(2, 3), torch.randn(4, 3)):
        torch.testing.assert_close(compiled(x), torch.relu(x) * 2 + 1)
torch.manual_seed(0)
llama = transformers.LlamaConfig(
    vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
    num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64,
    attn_implementation="sdpa",
)
model = transformers.LlamaForCausalLM(llama).eval()
compile_config = transformers.CompileConfig(backend=backend, fullgraph=True)
compile_config._compile_all_devices = True  # transformers compiles on CPU only when asked
ids = torch.randint(0, 64, (1, 6))
options = {
    "max_new_tokens": 3, "do_sample": False, "cache_implementation": "static",
    "return_dict_in_generate": True, "output_scores": True, "pad_token_id": 0,
}
with torch.no_grad():
    eager = model.generate(ids, disable_compile=True, **options)
    # As a model's default: generate deep-copies the generation config each call.
    model.generation_config.compile_config = compile_config
    counts, errors, same_tokens = [], [], []
    for _ in range(2):
        out = model.generate(ids, **options)
        counts.append(len(backend.compiled))
        same_tokens.append(bool(torch.equal(out.sequences, eager.sequences)))
        errors.append(max(float((g - w).abs().max()) for g, w in zip(out.scores, eager.scores)))
targets = [record.target for record in backend.compiled]
print("RESULT " + json.dumps(
    {"counts": counts, "errors": errors, "same_tokens": same_tokens, "targets": targets}
))
"""


@pytest.mark.slow
def test_generate_with_the_backend_after_a_dynamic_compile():
    """transformers deep-copies the CompileConfig's backend at every generate call.

    Runs in a fresh process: under pytest-xdist the count of compiles depended on the
    modules that ran before in the same worker (seen once in CI: every generate compiled
    again); the cause is not found yet, so the test pins a clean process."""
    pytest.importorskip("transformers")
    env = {**os.environ, "TORCH_DEVICE_BACKEND_AUTOLOAD": "0"}
    proc = fresh_python.run(
        [sys.executable, "-c", _GENERATE],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        preload=fresh_python.COMPILER,
    )
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")), None)
    assert line is not None, proc.stderr[-3000:]
    result = json.loads(line.removeprefix("RESULT "))
    # The decode step compiled once through a copy of the backend, recorded here.
    assert result["counts"][0] == 2 and result["targets"][1:] == ["host"], result
    # The copies compare equal, so the second call reuses the compiled model.
    assert result["counts"][1] == result["counts"][0], result
    assert result["same_tokens"] == [True, True], result
    assert max(result["errors"]) <= 1e-4, result
