"""Models and scenarios for the ``cache_compile`` tests, run in fresh processes.

A warm start is a new process, so the tests run these scenarios through
:func:`run_in_subprocess`: the child imports this module under its fixed name
``cache_models`` (so the models' qualified names, part of the cache key, are
the same in every process), runs one scenario function and prints its JSON
result on the last line of stdout.

Every scenario builds its model after ``torch.manual_seed(0)``, so every
process holds the same weights, and compares the cached function's outputs
with eager PyTorch (the undecorated method called directly) under explicit
tolerances. ``dynamo_report`` says whether Dynamo was imported or traced.

This file is a test helper, not a test module (pytest does not collect it).
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import torch

from airgraph_cache import cache_compile
from airgraph_dynamo import CompilerConfig
from airgraph_gears import set_dim_gears

HERE = Path(__file__).resolve().parent
ATOL = 1e-5
RTOL = 1e-5


def interpret_config() -> Any:
    """A config on the host target's interpreter: fast compiles, no C++."""
    config = CompilerConfig()
    config.airgraph_config.host_mode = "interpret"
    return config


def dynamo_report() -> dict[str, Any]:
    """Whether this process imported Dynamo, and how many graphs it captured."""
    imported = "torch._dynamo" in sys.modules
    captured = 0
    if imported:
        from torch._dynamo.utils import counters

        captured = int(counters["stats"]["calls_captured"])
    return {"dynamo_imported": imported, "calls_captured": captured}


def max_error(got: Any, want: Any) -> float:
    """Largest absolute difference over matching pytrees; inf if the structures differ."""
    import torch.utils._pytree as pytree

    got_leaves, got_spec = pytree.tree_flatten(got)
    want_leaves, want_spec = pytree.tree_flatten(want)
    if got_spec != want_spec:
        return math.inf
    worst = 0.0
    for g, w in zip(got_leaves, want_leaves):
        if isinstance(w, torch.Tensor):
            if not isinstance(g, torch.Tensor) or g.shape != w.shape or g.dtype != w.dtype:
                return math.inf
            if g.numel():
                worst = max(worst, float((g.double() - w.double()).abs().max()))
        elif g != w:
            return math.inf
    return worst


# -- models ---------------------------------------------------------------------------------


class AddModel(torch.nn.Module):
    """MISSION.md's first example, verbatim apart from the options."""

    def __init__(self, **options: Any) -> None:
        super().__init__()
        self.cached_forward = cache_compile(self._forward, **options)

    @torch.inference_mode()
    def forward(self, x, y):
        return self.cached_forward(x, y)

    def _forward(self, x, y):
        return x + y


def scale_shift(x):
    """A module-level helper the models call (the stale-hit matrix rewrites helpers like it)."""
    return x * 2.0 - 1.0


class LinearModel(torch.nn.Module):
    """Parameters and a buffer read from ``self``, and a module-level helper."""

    def __init__(self, features: int = 8, out_features: int = 8, **options: Any) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(features, out_features)
        self.register_buffer("offset", torch.linspace(-1.0, 1.0, out_features))
        self.cached_forward = cache_compile(self._forward, **options)

    @torch.inference_mode()
    def forward(self, x):
        return self.cached_forward(x)

    def _forward(self, x):
        return torch.relu(scale_shift(self.linear(x))) + self.offset


class DictOutModel(torch.nn.Module):
    """Returns a dict holding tensors and a constant."""

    def __init__(self, **options: Any) -> None:
        super().__init__()
        self.proj = torch.nn.Linear(8, 4)
        self.cached_forward = cache_compile(self._forward, **options)

    @torch.inference_mode()
    def forward(self, x):
        return self.cached_forward(x)

    def _forward(self, x):
        h = self.proj(x)
        return {"logits": h, "probs": torch.softmax(h, dim=-1), "name": "dict-out"}


class TupleOutModel(torch.nn.Module):
    """Returns a nested tuple, one element an input returned as is."""

    def __init__(self, **options: Any) -> None:
        super().__init__()
        self.proj = torch.nn.Linear(8, 8)
        self.cached_forward = cache_compile(self._forward, **options)

    @torch.inference_mode()
    def forward(self, x, y):
        return self.cached_forward(x, y)

    def _forward(self, x, y):
        h = self.proj(x)
        return h, (h * y, y.sum(dim=-1)), None


class KwargsModel(torch.nn.Module):
    """Called with keyword arguments, one of them left at its default."""

    def __init__(self, **options: Any) -> None:
        super().__init__()
        self.proj = torch.nn.Linear(8, 8)
        self.cached_forward = cache_compile(self._forward, **options)

    @torch.inference_mode()
    def forward(self, x, *, bias, mask=None):
        return self.cached_forward(x, bias=bias, mask=mask)

    def _forward(self, x, bias, mask=None):
        h = self.proj(x) + bias
        if mask is not None:
            h = h * mask
        return h


def _make_inputs(name: str, batch: int = 4, dtype: torch.dtype = torch.float32) -> tuple:
    """(args, kwargs) for a model, from a generator seeded by the batch size."""
    gen = torch.Generator().manual_seed(1000 + batch)

    def randn(*shape):
        return torch.randn(*shape, generator=gen, dtype=dtype)

    if name == "add":
        return (randn(batch, 3), randn(batch, 3)), {}
    if name in ("linear", "dict_out"):
        return (randn(batch, 8),), {}
    if name == "tuple_out":
        return (randn(batch, 8), randn(batch, 8)), {}
    if name == "kwargs":
        return (randn(batch, 8),), {"bias": randn(8)}
    raise ValueError(f"unknown model {name!r}")


MODELS = {
    "add": AddModel,
    "linear": LinearModel,
    "dict_out": DictOutModel,
    "tuple_out": TupleOutModel,
    "kwargs": KwargsModel,
}


def build(name: str, cache_dir: str, **options: Any) -> torch.nn.Module:
    """Model ``name`` with seeded weights, its cached method on ``cache_dir`` (interpret mode)."""
    options.setdefault("config", interpret_config())
    model_options = options.pop("model_options", {})
    torch.manual_seed(0)
    return MODELS[name](cache_dir=cache_dir, **model_options, **options).eval()


# -- a tiny decoder: prefill and decode as two cached methods ---------------------------------


class TinyDecoder(torch.nn.Module):
    """Embedding, two attention layers over a KV cache updated in place, a head.

    ``kv_cache`` is ``[layers, 2, batch, max_len, dim]``; each call writes the
    new keys and values at ``positions`` (``index_copy_`` along the sequence)
    and attends over the whole cache with a mask ``key position <= query
    position``, so prefill (many tokens) and decode (one token) are two graphs
    with the same code, as in MISSION.md's pattern.
    """

    def __init__(self, vocab: int = 32, dim: int = 16, layers: int = 2, **options: Any) -> None:
        super().__init__()
        self.dim = dim
        self.embed = torch.nn.Embedding(vocab, dim)
        self.qkv = torch.nn.ModuleList(torch.nn.Linear(dim, 3 * dim) for _ in range(layers))
        self.out = torch.nn.ModuleList(torch.nn.Linear(dim, dim) for _ in range(layers))
        self.head = torch.nn.Linear(dim, vocab)
        self.cached_prefill = cache_compile(self.prefill, **options)
        self.cached_decode = cache_compile(self.decode, **options)

    @torch.inference_mode()
    def forward(self, x, kv_cache, positions):
        if x.size(1) > 1:
            return self.cached_prefill(x, kv_cache, positions)
        return self.cached_decode(x, kv_cache, positions)

    def _step(self, tokens, kv_cache, positions):
        h = self.embed(tokens)
        max_len = kv_cache.size(3)
        keys_at = torch.arange(max_len, device=tokens.device)
        visible = keys_at[None, :] <= positions[:, None]  # [T, max_len]
        for layer, (qkv, out) in enumerate(zip(self.qkv, self.out)):
            q, k, v = qkv(h).chunk(3, dim=-1)
            kv_cache[layer, 0].index_copy_(1, positions, k)
            kv_cache[layer, 1].index_copy_(1, positions, v)
            scores = q @ kv_cache[layer, 0].transpose(-1, -2) / math.sqrt(self.dim)
            scores = scores.masked_fill(~visible, -1e9)
            h = h + out(torch.softmax(scores, dim=-1) @ kv_cache[layer, 1])
        return self.head(h)

    def prefill(self, x, kv_cache, positions):
        return self._step(x, kv_cache, positions)

    def decode(self, x, kv_cache, positions):
        return self._step(x, kv_cache, positions)


def generate(model: TinyDecoder, prompt: torch.Tensor, steps: int, max_len: int, run) -> tuple:
    """Greedy generation: one prefill, then ``steps`` decodes; ``run(x, kv, pos)`` is a call.

    Returns (token ids [batch, prompt + steps], logits of every call).
    """
    batch, length = prompt.shape
    layers = len(model.qkv)
    kv = torch.zeros(layers, 2, batch, max_len, model.dim)
    logits = [run(prompt, kv, torch.arange(length))]
    tokens = [prompt, logits[-1][:, -1:].argmax(-1)]
    for step in range(steps):
        logits.append(run(tokens[-1], kv, torch.tensor([length + step])))
        tokens.append(logits[-1].argmax(-1))
    return torch.cat(tokens, dim=1), logits, kv


def scenario_generate(cache_dir: str, steps: int = 16) -> dict[str, Any]:
    """Prefill + ``steps`` greedy decodes through the cached methods, and in eager."""
    torch.manual_seed(0)
    model = TinyDecoder(cache_dir=cache_dir, config=interpret_config()).eval()
    prompt = torch.randint(0, 32, (2, 5), generator=torch.Generator().manual_seed(7))
    max_len = prompt.size(1) + steps + 1
    start = time.perf_counter()
    ids, logits, kv = generate(model, prompt, steps, max_len, model)
    elapsed = time.perf_counter() - start
    report = dynamo_report()

    def eager(x, kv_cache, positions):
        with torch.inference_mode():
            return model._step(x, kv_cache, positions)

    ref_ids, ref_logits, ref_kv = generate(model, prompt, steps, max_len, eager)
    return {
        **report,
        "prefill": model.cached_prefill.status,
        "decode": model.cached_decode.status,
        "entries": [str(model.cached_prefill.entry_dir), str(model.cached_decode.entry_dir)],
        "ids_equal": bool(torch.equal(ids, ref_ids)),
        "ids": ids.tolist(),
        "logits_error": max(max_error(a, b) for a, b in zip(logits, ref_logits)),
        "kv_error": max_error(kv, ref_kv),
        "seconds": elapsed,
    }


# -- scenarios ---------------------------------------------------------------------------------


def scenario_call(
    cache_dir: str, model: str = "add", calls: int = 1, block_dynamo: bool = False, **options: Any
) -> dict[str, Any]:
    """Build ``model``, call it ``calls`` times with fresh inputs, compare each with eager.

    ``block_dynamo`` makes any import of ``torch._dynamo`` fail after the
    model is built, so a warm start that would trace cannot go unnoticed.
    """
    if block_dynamo:
        _block_dynamo_imports()
    net = build(model, cache_dir, **options)
    cached = net.cached_forward
    worst = 0.0
    start = time.perf_counter()
    statuses = []
    for i in range(calls):
        args, kwargs = _make_inputs(model, batch=4)
        args = tuple(a + 0.01 * i for a in args)  # new tensors, same shapes
        got = net(*args, **kwargs)
        statuses.append(cached.status)
        with torch.inference_mode():
            want = net._forward(*args, **kwargs)
        worst = max(worst, max_error(got, want))
    return {
        **dynamo_report(),
        "status": cached.status,
        "statuses": sorted(set(statuses)),
        "entry": str(cached.entry_dir),
        "error": worst,
        "seconds": time.perf_counter() - start,
    }


class _NoDynamo:
    """A meta path finder refusing ``torch._dynamo``: a warm start must never import it."""

    def find_spec(self, name, path=None, target=None):
        if name == "torch._dynamo" or name.startswith("torch._dynamo."):
            raise ImportError(f"{name} imported on a warm start")
        return None


def _block_dynamo_imports() -> None:
    if "torch._dynamo" in sys.modules:
        raise RuntimeError("torch._dynamo was imported before the scenario started")
    sys.meta_path.insert(0, _NoDynamo())


def _error_of(call) -> str | None:
    try:
        call()
    except Exception as e:  # the test checks the message
        return f"{type(e).__name__}: {e}"
    return None


def scenario_grad(cache_dir: str) -> dict[str, Any]:
    """Calls in grad mode with inputs requiring grad: cache_compile runs them under
    torch.no_grad() itself, as TorchAir does; in a warm process the first call is such a call."""
    net = build("linear", cache_dir)
    cached = net.cached_forward
    x = torch.randn(4, 8, requires_grad=True)
    first = _error_of(lambda: cached(x))
    out = cached(x)
    with torch.no_grad():
        expected = net._forward(x)
    return {
        "first": first,
        "status": cached.status,
        "later": _error_of(lambda: cached(x)),
        "requires_grad": out.requires_grad,
        "grad_mode_after": torch.is_grad_enabled(),
        "error": float((out - expected).abs().max()),
        **dynamo_report(),
    }


def scenario_mismatch(cache_dir: str) -> dict[str, Any]:
    """A call whose input dtype differs from the cached program's: abandoned, still correct."""
    net = build("linear", cache_dir)
    cached = net.cached_forward
    (x,) = _make_inputs("linear")[0]
    net(x)
    before = cached.status
    other = x.to(torch.float16)
    net.half()
    got = net(other)
    with torch.inference_mode():
        want = net._forward(other)
    return {"before": before, "after": cached.status, "error": max_error(got, want)}


def scenario_replace_state(cache_dir: str) -> dict[str, Any]:
    """Module state replaced (not updated in place) after the program ran: a new Parameter,
    a reassigned buffer (e.g. a KV cache reset), ``load_state_dict(assign=True)``."""
    net = build("linear", cache_dir)
    (x,), _ = _make_inputs("linear")
    net(x)
    net(x)  # the cached program has run
    errors = {}

    def check(name):
        got = net(x)
        with torch.inference_mode():
            want = net._forward(x)
        errors[name] = max_error(got, want)

    with torch.no_grad():
        net.linear.bias.add_(1.0)
    check("in_place_update")
    net.linear.weight = torch.nn.Parameter(torch.randn(8, 8))
    check("new_parameter")
    net.offset = torch.full_like(net.offset, 5.0)
    check("reassigned_buffer")
    net.load_state_dict({k: v + 1 for k, v in net.state_dict().items()}, assign=True)
    check("load_state_dict_assign")
    return {"status": net.cached_forward.status, "errors": errors}


# -- the stale-hit matrix ----------------------------------------------------------------------

#: Versions of a module whose method, helper or class body the matrix rewrites.
CHANGING_MODULE = """
import torch
from airgraph_cache import cache_compile


def helper(x):
    return x * {helper_factor}


class Changing(torch.nn.Module):
    def __init__(self, **options):
        super().__init__()
        self.linear = torch.nn.Linear(8, 8)
        self.cached_forward = cache_compile(self._forward, **options)

    def _forward(self, x):
        return helper(self.linear(x)) + {method_offset}
"""


def _load_changing(folder: Path, tag: str, **values: Any) -> Any:
    """Import CHANGING_MODULE filled with ``values`` under the fixed name ``changing_model``."""
    path = folder / f"changing_model_{tag}.py"
    path.write_text(CHANGING_MODULE.format(**values))
    spec = importlib.util.spec_from_file_location("changing_model", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["changing_model"] = module
    spec.loader.exec_module(module)
    return module


def _run_changing(module: Any, cache_dir: str, x: torch.Tensor, **options: Any) -> dict:
    torch.manual_seed(0)
    model = module.Changing(cache_dir=cache_dir, config=interpret_config(), **options).eval()
    with torch.inference_mode():
        got = model.cached_forward(x)
        want = model._forward(x)
    return {
        "status": model.cached_forward.status,
        "entry": str(model.cached_forward.entry_dir),
        "error": max_error(got, want),
    }


def _twice_then_changed(run_base, run_changed) -> dict[str, Any]:
    """Cold run, the same again (must hit: the cache works), then the changed situation."""
    return {"cold": run_base(), "again": run_base(), "changed": run_changed()}


def _decomposition_v1(x, y):
    return torch.ops.aten.sub.Tensor(x, torch.ops.aten.neg.default(y))


def _decomposition_v2(x, y):
    return torch.ops.aten.mul.Tensor(x, y)  # deliberately not an add: a stale hit shows


def scenario_stale(cache_dir: str, case: str) -> dict[str, Any]:
    """One case of the stale-hit matrix, in this (fresh) process."""
    if case in ("method_source", "helper_source"):
        folder = Path(cache_dir).parent / f"modules_{case}"
        folder.mkdir(exist_ok=True)
        x = torch.randn(4, 8, generator=torch.Generator().manual_seed(3))
        base = {"helper_factor": "2.0", "method_offset": "1.0"}
        changed = dict(base)
        changed["method_offset" if case == "method_source" else "helper_factor"] = "3.0"
        return _twice_then_changed(
            lambda: _run_changing(_load_changing(folder, "base", **base), cache_dir, x),
            lambda: _run_changing(_load_changing(folder, "changed", **changed), cache_dir, x),
        )

    model_name, batch = "linear", 4
    base_options: dict[str, Any] = {}
    changed_options: dict[str, Any] = {}
    gears = None
    before_changed = None
    if case == "config":
        config = interpret_config()
        config.experimental_config.frozen_parameter = True
        changed_options["config"] = config
    elif case == "input_dtype":
        model_name = "add"
    elif case == "weight_shape":
        base_options["model_options"] = {"out_features": 8}
        changed_options["model_options"] = {"out_features": 6}
    elif case == "gears":
        gears = {0: [4, 8]}
    elif case == "decompositions":
        model_name = "add"
        base_options["custom_decompositions"] = {torch.ops.aten.add.Tensor: _decomposition_v1}
        changed_options["custom_decompositions"] = {torch.ops.aten.add.Tensor: _decomposition_v2}
    elif case == "threads":
        torch.set_num_threads(2)
        before_changed = lambda: torch.set_num_threads(1)  # noqa: E731
    elif case == "rank":
        base_options["global_rank"] = 0
        changed_options["global_rank"] = 1
    elif case == "versions":
        import airgraph_cache.keys as keys

        real = keys.package_versions

        def newer_torch():
            return {**real(), "torch": real()["torch"] + ".post1"}

        def patch():
            keys.package_versions = newer_torch

        before_changed = patch
    else:
        raise ValueError(f"unknown case {case!r}")

    def run(options, changed):
        if changed and before_changed is not None:
            before_changed()
        net = build(model_name, cache_dir, **dict(options))
        args, kwargs = _make_inputs(model_name, batch=batch)
        if changed and case == "input_dtype":
            args = tuple(a.half() for a in args)
        if changed and gears is not None:
            for a in args:
                set_dim_gears(a, dim_gears=gears)
        got = net(*args, **kwargs)
        if case == "decompositions":
            table = (changed_options if changed else base_options)["custom_decompositions"]
            want = next(iter(table.values()))(*args)
        else:
            with torch.inference_mode():
                want = net._forward(*args, **kwargs)
        return {
            "status": net.cached_forward.status,
            "entry": str(net.cached_forward.entry_dir),
            "error": max_error(got, want),
            "threads": torch.get_num_threads(),
        }

    return _twice_then_changed(
        lambda: run(base_options, False), lambda: run(changed_options or base_options, True)
    )


# -- the guarded-world matrix: what Dynamo guarded, changed between processes ----------------

import types  # noqa: E402

import cache_guard_flags  # noqa: E402

#: Cases of the guarded-world matrix (test_cache_compile_stale.py): each changes one thing
#: the trace was specialized on and no key field covers.
GUARD_CASES = [
    "private_eps",
    "private_heads",
    "config_namespace_bool",
    "config_dict_int",
    "module_global_bool",
    "module_global_int",
    "global_dtype",
    "default_dtype",
    "env_var",
    "deterministic",
    "hook_removed",
    "hook_added",
    "global_hook_added",
    "int_arg_dynamic",
    "shape_branch_dynamic",
]


class _Doubler(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = torch.nn.Linear(8, 8)

    def forward(self, x):
        return self.lin(x)


def _double_output(module, inputs, output):
    return output * 2


class GuardedWorld(torch.nn.Module):
    """One branch per case of the matrix, on what the case changes."""

    def __init__(self, case: str, changed: bool, **options: Any) -> None:
        super().__init__()
        self._case = case
        self._eps = 1e-1 if changed and case == "private_eps" else 1e-5
        self._heads = 4 if changed and case == "private_heads" else 2
        self.config = types.SimpleNamespace(
            use_bias=not (changed and case == "config_namespace_bool")
        )
        self.settings = {"mult": 3 if changed and case == "config_dict_int" else 2}
        self.sub = _Doubler()
        hooked = case == "hook_removed" and not changed or case == "hook_added" and changed
        if hooked:
            self.sub.register_forward_hook(_double_output)
        self.cached_forward = cache_compile(self._forward, **options)

    def _forward(self, x, n):
        case = self._case
        h = self.sub(x)
        if case == "private_eps":
            h = torch.nn.functional.layer_norm(h, (8,), eps=self._eps)
        elif case == "private_heads":
            b = h.shape[0]
            h = h.reshape(b, self._heads, -1).softmax(-1).reshape(b, -1)
        elif case == "config_namespace_bool":
            if self.config.use_bias:
                h = h + 1
        elif case == "config_dict_int":
            h = h * self.settings["mult"]
        elif case == "module_global_bool":
            if cache_guard_flags.FLAG:
                h = -h
        elif case == "module_global_int":
            h = h * cache_guard_flags.SCALE
        elif case == "global_dtype":
            if cache_guard_flags.DTYPE is torch.float32:
                h = h + 3
        elif case == "default_dtype":
            if torch.get_default_dtype() == torch.float64:
                h = -h
        elif case == "env_var":
            if os.environ.get("AIRGRAPH_TEST_BRANCH") == "1":
                h = h - 7
        elif case == "deterministic":
            if torch.are_deterministic_algorithms_enabled():
                h = h / 3
        elif case == "int_arg_dynamic":
            if n > 2:
                h = h + n
        elif case == "shape_branch_dynamic" and x.shape[0] > 8:
            h = h.sin()
        return h


def scenario_guarded_world(cache_dir: str, case: str, changed: bool) -> dict[str, Any]:
    """One process of the guarded-world matrix: the base world, or the case's change."""
    batch, n = 4, 3
    if changed:
        if case == "module_global_bool":
            cache_guard_flags.FLAG = False
        elif case == "module_global_int":
            cache_guard_flags.SCALE = 5
        elif case == "global_dtype":
            cache_guard_flags.DTYPE = torch.float16
        elif case == "env_var":
            os.environ["AIRGRAPH_TEST_BRANCH"] = "1"
        elif case == "deterministic":
            torch.use_deterministic_algorithms(True)
        elif case == "int_arg_dynamic":
            n = 2
        elif case == "shape_branch_dynamic":
            batch = 16
    torch.manual_seed(0)
    net = GuardedWorld(case, changed, cache_dir=cache_dir, config=interpret_config()).eval()
    if changed and case == "default_dtype":
        torch.set_default_dtype(torch.float64)  # after the weights: only the branch differs
    if changed and case == "global_hook_added":  # torch's global hooks run in every module
        torch.nn.modules.module.register_module_forward_hook(_double_output)
    generator = torch.Generator().manual_seed(5)
    x = torch.randn(batch, 8, generator=generator, dtype=torch.float32)
    with torch.inference_mode():
        got = net.cached_forward(x, n)
        want = net._forward(x, n)
    return {
        "status": net.cached_forward.status,
        "entry": str(net.cached_forward.entry_dir),
        "error": max_error(got, want),
    }


# -- the child's entry point -------------------------------------------------------------------


def main(argv: list[str]) -> None:
    """``<scenario> <json kwargs>``: run ``scenario_<name>(**kwargs)``, print its JSON result."""
    import logging

    level = os.environ.get("AIRGRAPH_TEST_LOG", "WARNING")
    logging.basicConfig(level=level, stream=sys.stderr, format="%(levelname)s %(name)s %(message)s")
    scenario = globals()[f"scenario_{argv[0]}"]
    result = scenario(**json.loads(argv[1]))
    print(json.dumps(result))


def command(scenario: str, **kwargs: Any) -> list[str]:
    """The argv of a child process running ``scenario`` (see :func:`main`)."""
    code = "import sys; sys.path.insert(0, sys.argv[1]); import cache_models; cache_models.main(sys.argv[2:])"
    return [sys.executable, "-c", code, str(HERE), scenario, json.dumps(kwargs)]


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("AIRGRAPH_CACHE_DIR", None)
    env.setdefault("OMP_NUM_THREADS", "1")
    return env


def parse(stdout: str, stderr: str, returncode: int, what: str) -> dict[str, Any]:
    if returncode != 0:
        raise AssertionError(f"{what} failed ({returncode}):\n{stderr[-4000:]}")
    lines = stdout.strip().splitlines()
    if not lines:
        raise AssertionError(f"{what} printed nothing:\n{stderr[-4000:]}")
    result = json.loads(lines[-1])
    if isinstance(result, dict):
        result["stderr"] = stderr
    return result


def run_in_subprocess(
    scenario: str, timeout: float = 300, compiler: bool = False, **kwargs: Any
) -> dict[str, Any]:
    """Run ``scenario`` in a fresh Python process; its JSON result plus ``stderr``.

    The process is forked from a server that already imported torch (the root conftest.py
    puts ``fresh_python`` on the path; see tests/support/fresh_python.py), and Dynamo and
    Inductor too with ``compiler`` (only for a process that compiles anyway: its
    ``dynamo_imported`` says True whatever it does).
    """
    import fresh_python

    proc = fresh_python.run(
        command(scenario, **kwargs),
        capture_output=True,
        text=True,
        timeout=timeout,
        env=child_env(),
        preload=fresh_python.COMPILER if compiler else (),
    )
    return parse(proc.stdout, proc.stderr, proc.returncode, f"{scenario}({kwargs})")


def run_many(
    jobs: list[tuple],
    *,
    parallel: int | None = None,
    timeout: float = 300,
    compiler: bool = False,
) -> list[dict]:
    """Run each job in its own fresh process, ``parallel`` at a time (default: all at once).

    A job is ``(scenario, kwargs)`` or ``(scenario, kwargs, cwd)``; ``compiler`` as for
    :func:`run_in_subprocess`, for every job.

    Returns the results in job order; raises AssertionError for a failed job.
    """
    from concurrent.futures import ThreadPoolExecutor

    import fresh_python

    def one(job):
        scenario, kwargs, *cwd = job
        try:
            proc = fresh_python.run(
                command(scenario, **kwargs),
                capture_output=True,
                text=True,
                timeout=timeout,
                env=child_env(),
                cwd=cwd[0] if cwd else None,
                preload=fresh_python.COMPILER if compiler else (),
            )
        except subprocess.TimeoutExpired as e:
            err = e.stderr.decode() if isinstance(e.stderr, bytes) else e.stderr or ""
            raise AssertionError(f"{scenario}({kwargs}) timed out:\n{err[-4000:]}") from None
        return proc.stdout, proc.stderr, proc.returncode

    with ThreadPoolExecutor(max_workers=parallel or len(jobs)) as pool:
        outcomes = list(pool.map(one, jobs))
    return [
        parse(out, err, code, f"{job[0]}({job[1]})")
        for job, (out, err, code) in zip(jobs, outcomes)
    ]
