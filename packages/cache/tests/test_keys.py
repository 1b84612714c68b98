"""Cache keys: stable across processes, and every input that matters changes the digest."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import textwrap

import pytest
import torch

from airgraph_cache import (
    ArtifactStore,
    CacheKey,
    build_key,
    decompositions_fingerprint,
    describe_inputs,
    source_fingerprint,
)
from airgraph_cache import keys as keys_module
from airgraph_gears import set_dim_gears

aten = torch.ops.aten

MODULE_NAME = "airgraph_cache_keytest_model"

# The model's source, with holes that the stale-hit matrix fills differently.
MODEL_TEMPLATE = """
import torch

SCALE = {scale}


def helper(x):
    return x * {helper_factor}


class Block(torch.nn.Module):
    def forward(self, x):
        return x {block_op} 1


class Model(torch.nn.Module):
    def __init__(self, width=3, eps=1e-5):
        super().__init__()
        self.linear = torch.nn.Linear(width, width)
        self.block = Block()
        self.eps = eps
        self.register_buffer("offset", torch.zeros(width))

    def norm(self, x):
        return x / (x.abs().mean() + {norm_eps})

    def _forward(self, x):
        return self.norm(helper(self.block(self.linear(x)))) * SCALE + self.offset{method_extra}
"""

BASE = {
    "scale": "2.0",
    "helper_factor": "2",
    "block_op": "+",
    "norm_eps": "self.eps",
    "method_extra": "",
}


def load_model_module(tmp_path, name="base", **changes):
    """Write the template (with ``changes``) to its own folder and import it."""
    folder = tmp_path / name
    folder.mkdir()
    path = folder / "model.py"
    path.write_text(MODEL_TEMPLATE.format(**{**BASE, **changes}))
    spec = importlib.util.spec_from_file_location(MODULE_NAME, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def key_of(module, monkeypatch, *, model_kwargs=None, inputs=None, **key_kwargs):
    # inspect.getsource finds a class's file through sys.modules.
    monkeypatch.setitem(sys.modules, MODULE_NAME, module)
    torch.manual_seed(0)
    model = module.Model(**(model_kwargs or {}))
    args = inputs if inputs is not None else (torch.ones(2, 3),)
    options = {"config_fingerprint": "cfg-a", **key_kwargs}
    return build_key(model._forward, args, **options)


@pytest.fixture
def base_key(tmp_path, monkeypatch):
    return key_of(load_model_module(tmp_path), monkeypatch)


def _double(x):
    return x * 2


def _double_differently(x):
    return x + x


def _geared_input():
    x = torch.ones(2, 3)
    set_dim_gears(x, {0: [2, 4]})
    return (x,)


def _with_threads(tmp_path, monkeypatch):
    before = torch.get_num_threads()
    torch.set_num_threads(before + 1)
    try:
        return key_of(load_model_module(tmp_path, "v"), monkeypatch)
    finally:
        torch.set_num_threads(before)


def _with_torch_version(tmp_path, monkeypatch):
    monkeypatch.setattr(torch, "__version__", "2.99.0")
    return key_of(load_model_module(tmp_path, "v"), monkeypatch)


def _with_airgraph_version(tmp_path, monkeypatch):
    real = keys_module.importlib.metadata.version

    def fake(dist):
        return "9.9.9" if dist == "airgraph-core" else real(dist)

    monkeypatch.setattr(keys_module.importlib.metadata, "version", fake)
    return key_of(load_model_module(tmp_path, "v"), monkeypatch)


def _source_variant(**changes):
    def make(tmp_path, monkeypatch):
        return key_of(load_model_module(tmp_path, "v", **changes), monkeypatch)

    return make


def _key_variant(**kwargs):
    def make(tmp_path, monkeypatch):
        return key_of(load_model_module(tmp_path, "v"), monkeypatch, **kwargs)

    return make


# (what changes, how to build the changed key, the diff path that must be reported)
STALE_HIT_MATRIX = [
    ("method source", _source_variant(method_extra=" * 1"), "sources."),
    ("called helper function", _source_variant(helper_factor="3"), "sources."),
    ("method of the class (self.norm)", _source_variant(norm_eps="1e-6"), "sources."),
    ("submodule class", _source_variant(block_op="-"), "sources."),
    ("module-level constant", _source_variant(scale="3.0"), "sources."),
    ("config fingerprint", _key_variant(config_fingerprint="cfg-b"), "config"),
    ("input dtype", _key_variant(inputs=(torch.ones(2, 3, dtype=torch.float16),)), "inputs"),
    ("input rank", _key_variant(inputs=(torch.ones(2, 3, 1),)), "inputs"),
    ("weight shape", _key_variant(model_kwargs={"width": 4}), "module_state"),
    ("module attribute", _key_variant(model_kwargs={"eps": 1e-3}), "module_state"),
    ("gears", _key_variant(inputs=_geared_input()), "inputs"),
    ("decompositions", _key_variant(decompositions={aten.add.Tensor: _double}), "decompositions"),
    ("dynamic", _key_variant(dynamic=False), "dynamic"),
    ("ge_cache", _key_variant(ge_cache=True), "ge_cache"),
    ("device kind", _key_variant(device="npu"), "device"),
    ("thread count", _with_threads, "threads"),
    ("torch version", _with_torch_version, "versions.torch"),
    ("airgraph version", _with_airgraph_version, "versions.airgraph-core"),
]


@pytest.mark.parametrize(
    ("what", "make", "path"), STALE_HIT_MATRIX, ids=[m[0] for m in STALE_HIT_MATRIX]
)
def test_each_key_input_changes_the_digest(base_key, tmp_path, monkeypatch, what, make, path):
    changed = make(tmp_path, monkeypatch)
    assert changed.digest() != base_key.digest(), what
    assert changed.entry_name() != base_key.entry_name(), what
    differences = base_key.diff(changed)
    assert differences, what
    assert any(d.startswith(path) for d in differences), differences


def test_same_source_in_another_folder_gives_the_same_key(base_key, tmp_path, monkeypatch):
    again = key_of(load_model_module(tmp_path, "elsewhere"), monkeypatch)
    assert again.digest() == base_key.digest()
    assert base_key.diff(again) == []


def test_helper_change_is_named_in_the_diff(base_key, tmp_path, monkeypatch):
    changed = key_of(load_model_module(tmp_path, "v", helper_factor="3"), monkeypatch)
    assert base_key.diff(changed) == [f"sources.{MODULE_NAME}.helper"]


def test_changed_static_dim_size_changes_the_key_but_a_dynamic_one_does_not(tmp_path, monkeypatch):
    module = load_model_module(tmp_path)
    a = key_of(module, monkeypatch, inputs=(torch.ones(2, 3),))
    b = key_of(module, monkeypatch, inputs=(torch.ones(5, 3),))
    assert a.digest() == b.digest()  # dim 0 is dynamic: one graph serves both
    c = key_of(module, monkeypatch, inputs=(torch.ones(2, 3),), dynamic=False)
    d = key_of(module, monkeypatch, inputs=(torch.ones(5, 3),), dynamic=False)
    assert c.digest() != d.digest()


def test_rank_changes_the_folder(base_key, tmp_path):
    store = ArtifactStore(tmp_path / "cache")
    folders = {
        store.entry_dir(base_key),
        store.entry_dir(base_key, global_rank=1),
        store.entry_dir(base_key, global_rank=1, tp_rank=0),
        store.entry_dir(base_key, global_rank=1, tp_rank=0, pp_rank=1),
        store.entry_dir(base_key, global_rank=1, pp_rank=1),
    }
    assert len(folders) == 5
    assert store.entry_dir(base_key, global_rank=1, tp_rank=0, pp_rank=1).name == "rank_1_tp0_pp1"


@pytest.mark.slow
def test_digest_is_stable_across_processes(base_key, tmp_path):
    # Another interpreter with another hash seed computes the same digest.
    script = textwrap.dedent(
        f"""
        import importlib.util, sys, torch
        from airgraph_cache import build_key
        torch.set_num_threads({torch.get_num_threads()})
        spec = importlib.util.spec_from_file_location({MODULE_NAME!r}, {str(tmp_path / "base" / "model.py")!r})
        module = importlib.util.module_from_spec(spec)
        sys.modules[{MODULE_NAME!r}] = module
        spec.loader.exec_module(module)
        torch.manual_seed(0)
        model = module.Model()
        key = build_key(model._forward, (torch.ones(2, 3),), config_fingerprint="cfg-a")
        print(key.digest())
        """
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == base_key.digest()


def test_key_round_trips_through_json(base_key):
    again = CacheKey.from_dict(json.loads(json.dumps(base_key.as_dict())))
    assert again == base_key
    assert again.digest() == base_key.digest()


def test_from_dict_rejects_other_data():
    with pytest.raises(ValueError, match="not a cache key"):
        CacheKey.from_dict({"model_class": "x"})
    with pytest.raises(TypeError, match="data"):
        CacheKey.from_dict([])


def test_entry_name_is_class_method_and_digest_prefix(base_key):
    assert base_key.entry_name() == f"Model__forward_{base_key.digest()[:16]}"


def test_describe_inputs_records_gears_static_marks_and_scalars():
    x = torch.ones(2, 3, 4)
    set_dim_gears(x, {0: [2, 4]})
    x._dynamo_static_indices = {2}  # what torch._dynamo.mark_static(x, 2) records
    described = describe_inputs((x, 7, 1, 0.5, None, [torch.ones(1)]), {"flag": True})
    assert described[0]["shape"] == [{"gears": [2, 4]}, -1, 4]
    assert described[0]["static_dims"] == [2]
    assert described[1] == {"kind": "int", "value": None}  # symbolic under dynamic=True
    assert described[2] == {"kind": "int", "value": 1}  # Dynamo specializes 0 and 1
    assert described[3] == {"kind": "float", "value": "0.5"}
    assert described[5]["items"][0]["shape"] == [1]
    assert described[6] == {
        "kind": "kwarg",
        "name": "flag",
        "value": {"kind": "bool", "value": True},
    }
    static = describe_inputs((torch.ones(2, 3), 7), dynamic=False)
    assert static[0]["shape"] == [2, 3] and static[1]["value"] == 7


def test_describe_inputs_rejects_objects_it_cannot_describe():
    with pytest.raises(TypeError, match="cannot describe a object"):
        describe_inputs((object(),))
    with pytest.raises(TypeError, match="dynamic"):
        describe_inputs((), dynamic=1)


def test_source_fingerprint_covers_helpers_one_level(tmp_path, monkeypatch):
    module = load_model_module(tmp_path)
    monkeypatch.setitem(sys.modules, MODULE_NAME, module)
    fp = source_fingerprint(module.Model._forward)
    assert f"{MODULE_NAME}.Model._forward" in fp
    assert f"{MODULE_NAME}.helper" in fp
    assert fp[f"{MODULE_NAME}.SCALE"].startswith("value:")
    assert not any(name.startswith("torch") for name in fp)
    with pytest.raises(TypeError, match="fn"):
        source_fingerprint(len)


def test_decompositions_fingerprint_covers_op_and_function():
    base = decompositions_fingerprint({aten.add.Tensor: _double})
    assert decompositions_fingerprint(None) == decompositions_fingerprint({}) == ""
    assert decompositions_fingerprint({aten.add.Tensor: _double}) == base
    assert decompositions_fingerprint({aten.mul.Tensor: _double}) != base
    assert decompositions_fingerprint({aten.add.Tensor: _double_differently}) != base
    with pytest.raises(TypeError, match="callable"):
        decompositions_fingerprint({aten.add.Tensor: 3})


def test_build_key_rejects_what_is_not_a_bound_module_method(tmp_path, monkeypatch):
    module = load_model_module(tmp_path)
    with pytest.raises(TypeError, match="bound method of an nn.Module"):
        build_key(_double, (), config_fingerprint="")
    with pytest.raises(TypeError, match="bound method of an nn.Module"):
        build_key(module.Model._forward, (), config_fingerprint="")
    model = module.Model()
    with pytest.raises(TypeError, match="config_fingerprint"):
        build_key(model._forward, (), config_fingerprint=None)
    with pytest.raises(TypeError, match="ge_cache"):
        build_key(model._forward, (), config_fingerprint="", ge_cache="yes")


def test_diff_requires_a_key(base_key):
    with pytest.raises(TypeError, match="other"):
        base_key.diff({})


def test_file_rewritten_in_place_same_size_and_mtime_is_a_miss(tmp_path, monkeypatch):
    # Nothing read from a file is reused across key builds unless its bytes hash the same:
    # a rewrite that keeps the path, the size and the mtime must still change the key.
    module = load_model_module(tmp_path)
    path = tmp_path / "base" / "model.py"
    before = key_of(module, monkeypatch)
    stat = path.stat()
    path.write_text(MODEL_TEMPLATE.format(**{**BASE, "helper_factor": "3"}))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert path.stat().st_size == stat.st_size and path.stat().st_mtime_ns == stat.st_mtime_ns
    spec = importlib.util.spec_from_file_location(MODULE_NAME, path)
    changed = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(changed)
    after = key_of(changed, monkeypatch)
    assert before.diff(after) == [f"sources.{MODULE_NAME}.helper"]


def test_class_source_covers_attributes_after_its_methods(tmp_path, monkeypatch):
    # A class is covered by its whole body (decorators to last statement), not only by
    # the lines of its methods: an attribute after the last method counts too.
    template = MODEL_TEMPLATE + "\n    TAIL = {tail}\n"
    folders = []
    for name, tail in (("a", "1"), ("b", "2")):
        folder = tmp_path / name
        folder.mkdir()
        (folder / "model.py").write_text(template.format(**BASE, tail=tail))
        folders.append(folder / "model.py")
    keys = []
    for path in folders:
        spec = importlib.util.spec_from_file_location(MODULE_NAME, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        keys.append(key_of(module, monkeypatch))
    assert keys[0].diff(keys[1]) == [f"sources.{MODULE_NAME}.Model"]


def test_code_without_a_source_file_is_covered_by_its_bytecode():
    # exec'd code has no file: its bytecode, constants and names stand for it.
    made = []
    for body in ("x * 2", "x * 3"):
        namespace = {"__name__": "airgraph_cache_keytest_exec"}
        exec(f"def made(x):\n    return {body}\n", namespace)  # noqa: S102
        made.append(source_fingerprint(namespace["made"]))
    assert made[0] != made[1]
    assert all(len(fp) == 1 for fp in made)
