"""TorchAir's cache_compile cases (``tests/st/torchair_cache_compile_st.py``) as scenarios.

Run as a script in a fresh process: ``python cache_compat_cases.py <root> <phase>``
runs every case with its own cache folder under ``<root>`` and prints one
JSON object (case -> result) on the last line. The test module runs it twice,
``cold`` then ``warm``: a warm start is a new process, as in deployment,
where TorchAir's tests build a second model in the same process with its
saver forbidden.

The models mirror TorchAir's inputs (``InputMeta`` dataclass, a list of
tensors, prompt/decode methods, ones-initialized ``Linear(2, 1)``); the code
is ours. Every result is compared with eager PyTorch (the undecorated method
under ``torch.no_grad()``). Compiles run on the host target's interpreter
(``host_mode="interpret"``) to keep the test fast; the cache path is the same.

This file is a test helper, not a test module (pytest does not collect it).
"""

from __future__ import annotations

import collections
import dataclasses
import json
import os
import sys
from pathlib import Path
from typing import Any

import torch

import airgraph as torchair
from airgraph.configs.compiler_config import CompilerConfig
from airgraph.inference import set_dim_gears

ATOL = 1e-5


def interpret_config() -> CompilerConfig:
    config = CompilerConfig()
    config.airgraph_config.host_mode = "interpret"
    return config


@dataclasses.dataclass
class InputMeta:
    data: torch.Tensor
    is_prompt: bool


@dataclasses.dataclass
class CustomData:
    last_hidden_state: torch.Tensor = None


Pair = collections.namedtuple("Pair", ["scaled", "shifted"])


def _ones_linear() -> torch.nn.Linear:
    linear = torch.nn.Linear(2, 1)
    for param in linear.parameters():
        torch.nn.init.ones_(param)
    return linear


def _error(got: Any, want: Any) -> float:
    """Largest absolute difference of matching tensors (inf when structures differ)."""
    if isinstance(want, torch.Tensor):
        if not isinstance(got, torch.Tensor) or got.shape != want.shape:
            return float("inf")
        return float((got - want).abs().max()) if want.numel() else 0.0
    if dataclasses.is_dataclass(want):
        if type(got) is not type(want):
            return float("inf")
        return max(
            _error(getattr(got, f.name), getattr(want, f.name)) for f in dataclasses.fields(want)
        )
    if isinstance(want, (list, tuple)):
        if type(got) is not type(want) or len(got) != len(want):
            return float("inf")
        return max((_error(g, w) for g, w in zip(got, want)), default=0.0)
    return 0.0 if got == want else float("inf")


def _entries(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


# -- models ------------------------------------------------------------------------------------


class PromptDecode(torch.nn.Module):
    """test_cache_hint / test_forbidden_backward / test_cache_hint_gears / test_backend_params."""

    def __init__(self, cache_dir: str, **options: Any) -> None:
        super().__init__()
        self.linear1 = _ones_linear()
        self.linear2 = _ones_linear()
        options.setdefault("config", interpret_config())
        self.cached_prompt = torchair.inference.cache_compile(
            self.prompt, cache_dir=cache_dir, **options
        )
        self.cached_decode = torchair.inference.cache_compile(
            self.decode, cache_dir=cache_dir, **options
        )

    def forward(self, x: InputMeta, y: list[torch.Tensor]):
        if x.is_prompt:
            return self.cached_prompt(x, y)
        return self.cached_decode(x, y)

    def _forward(self, x, y):
        return self.linear2(x.data) + self.linear2(y[0])

    def prompt(self, x, y):
        return self._forward(x, y)

    def decode(self, x, y):
        return self._forward(x, y)


class KwargsModel(torch.nn.Module):
    """test_cache_hint_with_kwargs: the cached method called with x=..."""

    def __init__(self, cache_dir: str) -> None:
        super().__init__()
        self.linear = _ones_linear()
        self.cached_forward = torchair.inference.cache_compile(
            self.raw_forward, config=interpret_config(), cache_dir=cache_dir
        )

    def forward(self, x):
        return self.cached_forward(x=x)

    def raw_forward(self, x):
        return self.linear(x)


class KeywordOnlyModel(torch.nn.Module):
    """test_cache_hint_with_explicit_kwargs: a keyword-only parameter."""

    def __init__(self, cache_dir: str) -> None:
        super().__init__()
        self.linear = _ones_linear()
        self.cached_forward = torchair.inference.cache_compile(
            self.raw_forward, config=interpret_config(), cache_dir=cache_dir
        )

    def forward(self, *, x):
        return self.cached_forward(x=x)

    def raw_forward(self, *, x):
        return self.linear(x)


class ComplexIo(torch.nn.Module):
    """test_cache_hint_for_complex_io_process: sizes, ints and a view returned."""

    def __init__(self, cache_dir: str) -> None:
        super().__init__()
        self.linear1 = _ones_linear()
        self.linear2 = _ones_linear()
        self.cached_prompt = torchair.inference.cache_compile(
            self.prompt, config=interpret_config(), cache_dir=cache_dir
        )

    def forward(self, x, y, z, s1, s2):
        return self.cached_prompt(x, y, z, s1, s2)

    def prompt(self, x, y, z, s1, s2):
        mm1 = self.linear1(x.data) + self.linear2(y[0])
        sum1 = z + mm1.sum()
        ones1 = torch.ones([s1, s2]).view(-1)
        add1 = sum1 + ones1 + s2
        return (add1, add1.shape[0], 2 * s1, y[0].view(2, -1))


class StaticPrompt(torch.nn.Module):
    """test_skip_cache_as_recompile / test_cache_assert_size_stride*: dynamic=False."""

    def __init__(self, cache_dir: str, dynamic: bool = False) -> None:
        super().__init__()
        self.linear = _ones_linear()
        self.cached_prompt = torchair.inference.cache_compile(
            self.prompt, config=interpret_config(), dynamic=dynamic, cache_dir=cache_dir
        )

    def forward(self, x: InputMeta, y: list[torch.Tensor]):
        return self.cached_prompt(x, y)

    def prompt(self, x, y):
        return self.linear(x.data) + self.linear(y[0])


class OuterGlobals(torch.nn.Module):
    """test_use_outer_globals: returns a module-level dataclass."""

    def __init__(self, cache_dir: str) -> None:
        super().__init__()
        self.compiled = torchair.inference.cache_compile(
            self._forward, config=interpret_config(), cache_dir=cache_dir
        )

    def forward(self, x):
        return self.compiled(x)

    def _forward(self, x):
        x = torch.abs(x)
        return CustomData(last_hidden_state=x)


class NamedTupleIo(torch.nn.Module):
    """Issue 14 item 3: a namedtuple argument and a namedtuple return value."""

    def __init__(self, cache_dir: str) -> None:
        super().__init__()
        self.compiled = torchair.inference.cache_compile(
            self._forward, config=interpret_config(), cache_dir=cache_dir
        )

    def forward(self, pair):
        return self.compiled(pair)

    def _forward(self, pair):
        return Pair(pair.scaled * 2, pair.shifted + 1)


class AnonymousModule(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.buffer = torch.ones(2, 2)  # a plain attribute, not a registered buffer

    def forward(self, x):
        return torch.add(x, self.buffer)


class AnonymousBuffer(torch.nn.Module):
    """test_cache_hint_for_anonymous_buffer: tensors held as plain attributes."""

    def __init__(self, cache_dir: str) -> None:
        super().__init__()
        self.anonymous = AnonymousModule()
        self.anonymous_buffer = torch.ones(2, 2)
        self.cached_forward = torchair.inference.cache_compile(
            self._forward, config=interpret_config(), cache_dir=cache_dir
        )

    def forward(self, x):
        return self.cached_forward(x)

    def _forward(self, x):
        return self.anonymous(torch.add(x, self.anonymous_buffer))


class AnonymousBufferInList(torch.nn.Module):
    """test_cache_hint_for_anonymous_buffer_with_comma: a module in a plain list."""

    def __init__(self, cache_dir: str) -> None:
        super().__init__()
        self.layers = [AnonymousModule()]  # read as self.layers[0].buffer
        self.cached_forward = torchair.inference.cache_compile(
            self.raw_forward, config=interpret_config(), cache_dir=cache_dir
        )

    def forward(self, x):
        return self.cached_forward(x)

    def raw_forward(self, x):
        return self.layers[0](torch.add(x, x))


# test_decomp: an op of our own with a CPU kernel that is not the decomposition,
# so a result equal to the decomposition's shows the table was used (cold and warm).
_LIBRARY = torch.library.Library("airgraph_compat", "DEF")
_LIBRARY.define("add(Tensor input) -> Tensor")
_LIBRARY.impl("add", lambda t: t.clone(), "CPU")
_LIBRARY.impl("add", lambda t: t.new_empty(t.size()), "Meta")


def _times_three(t):
    return t * 3


class Decomposed(torch.nn.Module):
    """test_decomp: custom_decompositions replace the op in the cached graph."""

    def __init__(self, cache_dir: str) -> None:
        super().__init__()
        self.cached = torchair.inference.cache_compile(
            self.inner_forward,
            config=interpret_config(),
            cache_dir=cache_dir,
            custom_decompositions={torch.ops.airgraph_compat.add.default: _times_three},
        )

    def forward(self, tensor):
        return self.cached(tensor)

    def inner_forward(self, tensor):
        return torch.ops.airgraph_compat.add(tensor)


def _closure_model_class() -> type:
    """test_func_use_closure: the method reads tensors and a helper from closure cells."""
    y = torch.ones(2)
    z = torch.ones(2)

    def closure_func(x):
        return torch.add(x, z)

    class ClosureModel(torch.nn.Module):
        def __init__(self, cache_dir: str) -> None:
            super().__init__()
            self.compiled = torchair.inference.cache_compile(
                self._forward, config=interpret_config(), cache_dir=cache_dir
            )

        def forward(self, x):
            return self.compiled(x)

        def _forward(self, x):
            return torch.add(x, closure_func(y))

    return ClosureModel


ClosureModel = _closure_model_class()


# -- cases -------------------------------------------------------------------------------------


def _prompt_decode_inputs() -> dict[str, tuple]:
    return {
        "prompt1": (InputMeta(torch.ones(3, 2), True), [torch.ones(3, 2)]),
        "prompt2": (InputMeta(torch.ones(2, 2), True), [torch.ones(2, 2)]),
        "decode1": (InputMeta(torch.ones(3, 2), False), [torch.ones(3, 2)]),
        "decode2": (InputMeta(torch.ones(4, 2), False), [torch.ones(4, 2)]),
    }


def _run_prompt_decode(model: PromptDecode, folder: Path, inputs: dict[str, tuple]) -> dict:
    """Each call: the entries on disk after it, both statuses, the error vs eager."""
    calls = {}
    for name, args in inputs.items():
        got = model(*args)
        with torch.no_grad():
            want = model._forward(*args)
        calls[name] = {
            "entries": _entries(folder),
            "status": [model.cached_prompt.status, model.cached_decode.status],
            "error": _error(got, want),
            "values": got.flatten().tolist(),
        }
    return calls


def case_cache_hint(folder: Path, phase: str) -> dict:
    model = PromptDecode(str(folder))
    return {
        "before": _entries(folder),
        "calls": _run_prompt_decode(model, folder, _prompt_decode_inputs()),
    }


def case_cache_hint_gears(folder: Path, phase: str) -> dict:
    inputs = _prompt_decode_inputs()
    for name, gears in (("prompt1", [2, 3]), ("decode1", [3, 4])):
        meta, kv = inputs[name]
        set_dim_gears(meta.data, {0: gears})
        set_dim_gears(kv[0], {0: gears})
    model = PromptDecode(str(folder))
    return {"before": _entries(folder), "calls": _run_prompt_decode(model, folder, inputs)}


def case_backend_params(folder: Path, phase: str) -> dict:
    config = interpret_config()
    config.export.experimental.enable_lite_export = True
    config.dump_config.dump_layer = "Add"
    backend = torchair.get_npu_backend(compiler_config=config)
    model = PromptDecode(str(folder), config=config, backend=backend)
    return {
        "before": _entries(folder),
        "calls": _run_prompt_decode(model, folder, _prompt_decode_inputs()),
    }


def case_forbidden_backward(folder: Path, phase: str) -> dict:
    model = PromptDecode(str(folder))
    meta = InputMeta(torch.ones(3, 2), True)
    loss = model(meta, [torch.ones(3, 2)])
    try:
        loss.backward()
        backward = None
    except RuntimeError as e:
        backward = str(e)
    return {
        "status": model.cached_prompt.status,
        "requires_grad": loss.requires_grad,
        "backward_error": backward,
    }


def _twice(model: torch.nn.Module, cached: Any, call, eager) -> dict:
    first = call(model)
    status = cached.status
    second = call(model)
    with torch.no_grad():
        want = eager(model)
    return {
        "statuses": [status, cached.status],
        "error": max(_error(first, want), _error(second, want)),
        "entry": str(cached.entry_dir),
    }


def case_kwargs(folder: Path, phase: str) -> dict:
    x = torch.ones(3, 2)
    model = KwargsModel(str(folder))
    return _twice(model, model.cached_forward, lambda m: m(x), lambda m: m.raw_forward(x))


def case_explicit_kwargs(folder: Path, phase: str) -> dict:
    x = torch.ones(3, 2)
    model = KeywordOnlyModel(str(folder))
    return _twice(model, model.cached_forward, lambda m: m(x=x), lambda m: m.raw_forward(x=x))


def case_complex_io(folder: Path, phase: str) -> dict:
    torch.manual_seed(0)
    args = (
        InputMeta(torch.ones(3, 2), True),
        [torch.ones(3, 2)],
        torch.randn([6, 2])[:, 0],
        2,
        3,
    )
    model = ComplexIo(str(folder))
    result = _twice(model, model.cached_prompt, lambda m: m(*args), lambda m: m.prompt(*args))
    got = model(*args)
    result["sizes"] = [got[1], got[2]]
    return result


def case_use_outer_globals(folder: Path, phase: str) -> dict:
    x = -torch.ones(1, 1, 2)
    model = OuterGlobals(str(folder))
    result = _twice(model, model.compiled, lambda m: m(x), lambda m: m._forward(x))
    result["type"] = type(model(x)).__qualname__
    return result


def case_namedtuple_io(folder: Path, phase: str) -> dict:
    pair = Pair(torch.ones(2, 3), torch.full((2, 3), 2.0))
    model = NamedTupleIo(str(folder))
    result = _twice(model, model.compiled, lambda m: m(pair), lambda m: m._forward(pair))
    result["type"] = type(model(pair)).__qualname__
    return result


def case_func_use_closure(folder: Path, phase: str) -> dict:
    x = torch.ones(2)
    model = ClosureModel(str(folder))
    return _twice(model, model.compiled, lambda m: m(x), lambda m: m._forward(x))


def case_anonymous_buffer(folder: Path, phase: str) -> dict:
    x = torch.ones(2, 2)
    model = AnonymousBuffer(str(folder))
    return _twice(model, model.cached_forward, lambda m: m(x), lambda m: m._forward(x))


def case_anonymous_buffer_in_list(folder: Path, phase: str) -> dict:
    x = torch.ones(2, 2)
    model = AnonymousBufferInList(str(folder))
    return _twice(model, model.cached_forward, lambda m: m(x), lambda m: m.raw_forward(x))


def case_decomp(folder: Path, phase: str) -> dict:
    t = torch.ones(1)
    model = Decomposed(str(folder))
    result = _twice(model, model.cached, lambda m: m(t), _times_three_of(t))
    result["value"] = model(t).tolist()
    return result


def _times_three_of(t):
    return lambda m: _times_three(t)


def case_recompile(folder: Path, phase: str) -> dict:
    """test_skip_cache_as_recompile / test_cache_assert_size_stride_remove_cache."""
    model = StaticPrompt(str(folder))
    first = InputMeta(torch.ones(3, 2), True), [torch.ones(3, 2)]
    second = InputMeta(torch.ones(2, 2), True), [torch.ones(2, 2)]
    model(*first)
    after_first = model.cached_prompt.status
    entries_first = _entries(folder)
    got = model(*second)
    with torch.no_grad():
        want = model.prompt(*second)
    return {
        "statuses": [after_first, model.cached_prompt.status],
        "entries": [entries_first, _entries(folder)],
        "entry_files": sorted(p.name for p in Path(model.cached_prompt.entry_dir).iterdir()),
        "error": _error(got, want),
    }


def case_size_stride(folder: Path, phase: str, dynamic: bool = False) -> dict:
    """test_cache_assert_size_stride (dynamic=False, (3, 2)) and its dynamic twin ((12, 2))."""
    model = StaticPrompt(str(folder), dynamic=dynamic)
    rows = 12 if dynamic else 3
    if phase == "cold":
        model(InputMeta(torch.ones(rows, 2), True), [torch.ones(rows, 2)])
        return {"status": model.cached_prompt.status}
    try:
        model(InputMeta(torch.ones(12, 12), True), [torch.ones(12, 12)])
        error = None
    except Exception as e:  # the test reads the class and the message
        error = {"type": type(e).__name__, "runtime": isinstance(e, RuntimeError), "text": str(e)}
    return {"status": model.cached_prompt.status, "error": error}


CASES = {
    "cache_hint": case_cache_hint,
    "cache_hint_gears": case_cache_hint_gears,
    "backend_params": case_backend_params,
    "forbidden_backward": case_forbidden_backward,
    "kwargs": case_kwargs,
    "explicit_kwargs": case_explicit_kwargs,
    "complex_io": case_complex_io,
    "use_outer_globals": case_use_outer_globals,
    "namedtuple_io": case_namedtuple_io,
    "func_use_closure": case_func_use_closure,
    "anonymous_buffer": case_anonymous_buffer,
    "anonymous_buffer_in_list": case_anonymous_buffer_in_list,
    "decomp": case_decomp,
    "recompile": case_recompile,
    "size_stride": case_size_stride,
    "size_stride_dynamic": lambda folder, phase: case_size_stride(folder, phase, dynamic=True),
}


def main(root: str, phase: str) -> None:
    results = {}
    for name, case in CASES.items():
        folder = Path(root) / name
        try:
            results[name] = case(folder, phase)
        except Exception as e:  # reported per case; the test names what failed
            results[name] = {"failed": f"{type(e).__name__}: {e}"}
    print(json.dumps(results))


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    main(sys.argv[1], sys.argv[2])
