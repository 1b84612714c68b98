"""``cache_compile``: argument checks, cold then warm starts, and the warm path's per-call work.

A warm start is a new process, so cold and warm runs happen in fresh
processes (see ``cache_models``); a warm run must hit, trace nothing (Dynamo
is not even importable there) and match eager PyTorch.
"""

from __future__ import annotations

import functools
import json

import cache_models
import pytest
import torch

from airgraph_cache import CachedFunction, cache_compile
from airgraph_cache.compile import CACHE_DIR_ENV, DEFAULT_CACHE_DIR
from airgraph_dynamo import CompilerConfig

MODELS = ["add", "linear", "dict_out", "tuple_out", "kwargs"]


# -- argument checks (no compile) ----------------------------------------------------------------


def _passthrough(fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        return fn(*args, **kwargs)

    return wrapper


class _Plain(torch.nn.Module):
    def _forward(self, x):
        return x + 1

    @_passthrough
    def decorated(self, x):
        return x + 1

    @functools.cache  # noqa: B019 (a decorator that is not functools.wraps)
    def memoized(self, x):
        return x + 1


class _NotAModule:
    def _forward(self, x):
        return x + 1


def _function(x):
    return x + 1


@pytest.mark.parametrize(
    "func",
    [
        pytest.param(_function, id="plain function"),
        pytest.param(lambda x: x, id="lambda"),
        pytest.param(_NotAModule()._forward, id="method of a non-module"),
        pytest.param(_Plain._forward, id="unbound method"),
        pytest.param(_Plain(), id="module instance"),
        pytest.param(functools.partial(_Plain()._forward), id="partial of a method"),
    ],
)
def test_rejects_what_is_not_a_bound_module_method(func, tmp_path):
    with pytest.raises(TypeError, match=r"func: expected a bound method of an nn.Module"):
        cache_compile(func, cache_dir=tmp_path)


@pytest.mark.parametrize("name", ["decorated", "memoized"])
def test_rejects_a_decorated_method(name, tmp_path):
    with pytest.raises(TypeError, match=r"func: .* is wrapped by another decorator"):
        cache_compile(getattr(_Plain(), name), cache_dir=tmp_path)


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"dynamic": "yes"}, TypeError, r"dynamic: expected a bool, got str"),
        ({"dynamic": None}, TypeError, r"dynamic: expected a bool"),
        ({"ge_cache": 1}, TypeError, r"ge_cache: expected a bool, got int"),
        ({"check_inputs": "no"}, TypeError, r"check_inputs: expected a bool"),
        ({"cache_dir": 3}, TypeError, r"cache_dir: expected a path or None, got int"),
        ({"cache_dir": b"/tmp"}, TypeError, r"cache_dir: expected a path"),
        ({"config": {}}, TypeError, r"config: expected an airgraph CompilerConfig"),
        ({"config": "default"}, TypeError, r"config: expected an airgraph CompilerConfig"),
        ({"custom_decompositions": [1]}, TypeError, r"custom_decompositions: expected a dict"),
        ({"global_rank": "0"}, TypeError, r"global_rank: expected an int >= 0 or None"),
        ({"global_rank": True}, TypeError, r"global_rank: expected an int >= 0 or None"),
        ({"tp_rank": 1.0}, TypeError, r"tp_rank: expected an int >= 0 or None"),
        ({"pp_rank": [0]}, TypeError, r"pp_rank: expected an int >= 0 or None"),
        ({"global_rank": -1}, ValueError, r"global_rank: expected an int >= 0 or None, got -1"),
        ({"tp_rank": -2}, ValueError, r"tp_rank: .* got -2"),
        ({"pp_rank": -3}, ValueError, r"pp_rank: .* got -3"),
    ],
)
def test_rejects_bad_arguments(options, error, message, tmp_path):
    options.setdefault("cache_dir", tmp_path)
    with pytest.raises(error, match=message):
        cache_compile(_Plain()._forward, **options)


def test_returns_a_new_cached_function_and_copies_the_config(tmp_path):
    config = CompilerConfig()
    cached = cache_compile(_Plain()._forward, config=config, cache_dir=tmp_path)
    assert isinstance(cached, CachedFunction)
    assert cached.status == "new" and cached.entry_dir is None and cached.key is None
    config.airgraph_config.host_mode = "interpret"  # later edits do not leak into the cache
    assert cached.config.airgraph_config.host_mode != "interpret"
    assert not tmp_path.joinpath("anything").exists() and list(tmp_path.iterdir()) == []


def test_cache_dir_defaults_to_torchair_cache(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(CACHE_DIR_ENV, raising=False)
    assert DEFAULT_CACHE_DIR == ".torchair_cache"
    cached = cache_compile(_Plain()._forward)
    assert cached.store.root == tmp_path / ".torchair_cache"
    assert not (tmp_path / ".torchair_cache").exists()  # nothing is written before a call


def test_cache_dir_env_override_and_explicit_argument(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(CACHE_DIR_ENV, str(tmp_path / "from_env"))
    assert cache_compile(_Plain()._forward).store.root == tmp_path / "from_env"
    explicit = cache_compile(_Plain()._forward, cache_dir=tmp_path / "explicit")
    assert explicit.store.root == tmp_path / "explicit"
    monkeypatch.setenv(CACHE_DIR_ENV, "")  # empty: the documented default
    assert cache_compile(_Plain()._forward).store.root == tmp_path / ".torchair_cache"


# -- cold then warm, each in a fresh process ------------------------------------------------------


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Two waves of fresh processes, each wave started at once: cold starts, then warm ones.

    Every model shares one cache; the gradient and mismatch scenarios have
    their own; one cold run uses the default cache dir in its working folder.
    """
    root = tmp_path_factory.mktemp("cache_compile")
    shared, grad, mismatch = (str(root / name) for name in ("shared", "grad", "mismatch"))
    (root / "cwd").mkdir()
    cold_jobs = [("call", {"cache_dir": shared, "model": m, "calls": 2}) for m in MODELS]
    cold_jobs += [
        ("grad", {"cache_dir": grad}),
        ("mismatch", {"cache_dir": mismatch}),
        ("replace_state", {"cache_dir": str(root / "replace_state")}),
        ("call", {"cache_dir": None, "model": "add"}, str(root / "cwd")),
    ]
    warm_jobs = [
        ("call", {"cache_dir": shared, "model": m, "calls": 2, "block_dynamo": True})
        for m in MODELS
    ]
    warm_jobs += [
        ("grad", {"cache_dir": grad}),
        ("mismatch", {"cache_dir": mismatch}),
        # The warm path's per-call work: 100 calls with new tensors, never Dynamo.
        ("call", {"cache_dir": shared, "model": "linear", "calls": 100, "block_dynamo": True}),
    ]
    cold = cache_models.run_many(cold_jobs, compiler=True)
    warm = cache_models.run_many(warm_jobs)
    names = [*MODELS, "grad", "mismatch", "replace_state"]
    return {
        "cold": dict(zip(names, cold)),
        "warm": dict(zip(names, warm)),
        "default_dir": cold[-1],
        "cwd": root / "cwd",
        "hundred_calls": warm[-1],
    }


@pytest.mark.slow
def test_default_cache_dir_is_used_by_a_call(runs):
    # A fresh process in an empty folder, without AIRGRAPH_CACHE_DIR: ./.torchair_cache.
    run, cwd = runs["default_dir"], runs["cwd"]
    assert run["status"] == "compiled", run["stderr"]
    assert run["entry"].startswith(str(cwd / ".torchair_cache") + "/")
    assert list((cwd / ".torchair_cache").glob("AddModel__forward_*/rank_0/manifest.json"))


@pytest.mark.slow
@pytest.mark.parametrize("model", MODELS)
def test_cold_start_compiles_and_publishes(runs, model):
    cold = runs["cold"][model]
    assert cold["status"] == "compiled", cold["stderr"]
    assert cold["statuses"] == ["compiled"]  # the second call reuses the compiled program
    assert cold["error"] <= cache_models.ATOL
    assert cold["dynamo_imported"] and cold["calls_captured"] > 0
    entry = cache_models.Path(cold["entry"])
    assert {p.name for p in entry.iterdir()} >= {"manifest.json", "graph.pb", "program.json"}
    manifest = json.loads((entry / "manifest.json").read_text())
    assert manifest["key"]["method"] == "_forward"
    assert entry.parent.name.startswith(f"{cache_models.MODELS[model].__name__}__forward_")
    assert "WARNING" not in cold["stderr"], cold["stderr"]


@pytest.mark.slow
@pytest.mark.parametrize("model", MODELS)
def test_warm_start_hits_without_dynamo(runs, model):
    cold, warm = runs["cold"][model], runs["warm"][model]
    assert warm["status"] == "hit", warm["stderr"]
    assert warm["entry"] == cold["entry"]
    assert warm["dynamo_imported"] is False and warm["calls_captured"] == 0
    assert warm["error"] <= cache_models.ATOL
    assert "WARNING" not in warm["stderr"], warm["stderr"]


@pytest.mark.slow
def test_warm_calls_never_retrace(runs):
    many = runs["hundred_calls"]
    assert many["statuses"] == ["hit"], many["stderr"]
    assert many["dynamo_imported"] is False and many["calls_captured"] == 0
    assert many["error"] <= cache_models.ATOL


# -- calls that leave the cached program ----------------------------------------------------------


@pytest.mark.slow
def test_a_call_in_grad_mode_runs_under_no_grad_cold_and_warm(runs):
    """TorchAir's cache_compile runs the method under torch.no_grad() itself."""
    cold, warm = runs["cold"]["grad"], runs["warm"]["grad"]
    for run, status in ((cold, "compiled"), (warm, "hit")):
        assert run["first"] is None and run["later"] is None, run["stderr"]
        assert run["status"] == status, run["stderr"]
        assert run["requires_grad"] is False and run["grad_mode_after"] is True
        assert run["error"] <= cache_models.ATOL
    assert warm["dynamo_imported"] is False


@pytest.mark.slow
def test_an_input_the_program_was_not_compiled_for_abandons_the_cache(runs):
    cold, warm = runs["cold"]["mismatch"], runs["warm"]["mismatch"]
    assert (cold["before"], warm["before"]) == ("compiled", "hit")
    for run in (cold, warm):
        assert run["after"] == "uncached"
        assert run["error"] <= 1e-2  # float16 through torch.compile vs eager
        assert "the cached program is abandoned" in run["stderr"]
        assert "expects torch.float32" in run["stderr"]


@pytest.mark.slow
def test_in_place_updates_of_module_state_are_seen(runs):
    result = runs["cold"]["replace_state"]
    assert result["errors"]["in_place_update"] <= cache_models.ATOL


@pytest.mark.slow
@pytest.mark.parametrize("change", ["new_parameter", "reassigned_buffer", "load_state_dict_assign"])
def test_replaced_module_state_is_seen(runs, change):
    result = runs["cold"]["replace_state"]
    assert result["errors"][change] <= cache_models.ATOL, result
