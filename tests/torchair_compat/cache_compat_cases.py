"""TorchAir's cache_compile cases (``tests/st/torchair_cache_compile_st.py``) as scenarios.

Run as a script in a fresh process: ``python cache_compat_cases.py <root> <phase>
[case,case...]`` runs every case (or the named ones), each with its own cache
folder under ``<root>``, and prints one JSON object (case -> result) on the
last line. The test module runs it twice,
``cold`` then ``warm``: a warm start is a new process, as in deployment,
where TorchAir's tests build a second model in the same process with its
saver forbidden. The models are in ``cache_compat_models.py``; every result
is compared with eager PyTorch (the undecorated method under
``torch.no_grad()``).

This file is a test helper, not a test module (pytest does not collect it).
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from pathlib import Path
from typing import Any

import cache_compat_models
import torch
from cache_compat_models import (
    AnonymousBuffer,
    AnonymousBufferInList,
    ClosureModel,
    ComplexIo,
    ComplexView,
    Decomposed,
    EmptyAdd,
    FieldBranch,
    GlobalTensor,
    InputMeta,
    KeywordOnlyModel,
    KwargsModel,
    NamedTupleIo,
    OuterGlobals,
    Pair,
    PromptDecode,
    SplitViews,
    StaticPrompt,
    interpret_config,
    times_three,
)

import airgraph as torchair
from airgraph.inference import set_dim_gears


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
    # Other scalars, same program (dynamic): the sizes are this call's, not the first's.
    other = (*args[:3], 3, 2)
    got = model(*other)
    with torch.no_grad():
        want = model.prompt(*other)
    result["other_sizes"] = [got[1], got[2]]
    result["other_error"] = _error(got, want)
    result["after_other"] = model.cached_prompt.status
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


def case_field_branch(folder: Path, phase: str) -> dict:
    model = FieldBranch(str(folder))
    statuses, worst = [], 0.0
    for is_prompt in (True, False, True):
        x = InputMeta(torch.full((3,), 3.0), is_prompt)
        got = model(x)
        with torch.no_grad():
            worst = max(worst, _error(got, model._forward(x)))
        statuses.append(model.cached.status)
    return {"statuses": statuses, "error": worst}


def case_global_tensor(folder: Path, phase: str) -> dict:
    model = GlobalTensor(str(folder))
    x = torch.ones(3)
    values, statuses = [], []
    for change in (None, "in_place", "rebound"):
        if change == "in_place":
            cache_compat_models.OFFSET.add_(1)
        elif change == "rebound":
            cache_compat_models.OFFSET = torch.full((3,), 100.0)
        values.append(model(x).tolist())
        statuses.append(model.cached.status)
    return {"values": values, "statuses": statuses}


def case_complex_view(folder: Path, phase: str, to_real: bool) -> dict:
    torch.manual_seed(0)
    if to_real:
        x = torch.complex(torch.randn(4, 4), torch.randn(4, 4))
    else:
        x = torch.randn(4, 2)
    model = ComplexView(str(folder), to_real)
    result = _twice(model, model.cached, lambda m: m(x), lambda m: m._forward(x))
    got = model(x)
    # TorchAir: the result is an alias of the input (torch.view_as_real(args[1]) in its code).
    result["alias"] = got.untyped_storage().data_ptr() == x.untyped_storage().data_ptr()
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
    return lambda m: times_three(t)


def case_split_views(folder: Path, phase: str, dynamic: bool) -> dict:
    t1 = torch.zeros(1, 10)
    t2 = torch.zeros(2, 5)[:, 0:1]  # not contiguous
    t3 = torch.arange(10.0).reshape(5, 2)
    model = SplitViews(str(folder), dynamic)
    result = _twice(
        model,
        model.cached,
        lambda m: m(t1, t2, t3, 5, [2, 3]),
        lambda m: m._forward(t1, t2, t3, 5, [2, 3]),
    )
    got = model(t1, t2, t3, 5, [2, 3])
    base = t3.untyped_storage().data_ptr()
    # TorchAir's generated code returns the split parts as views of t3 (as_strided of args).
    result["views_of_input"] = [p.untyped_storage().data_ptr() == base for p in got[2]]
    result["offsets"] = [p.storage_offset() for p in got[2]]
    return result


def case_empty_tensor(folder: Path, phase: str) -> dict:
    x = torch.zeros(0, 10, 10)
    y = torch.zeros(0, 10, 10)
    model = EmptyAdd(str(folder))
    return _twice(model, model.cached_forward, lambda m: m(x, y), lambda m: m.raw_forward(x, y))


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
    "field_branch": case_field_branch,
    "global_tensor": case_global_tensor,
    "view_as_real": lambda folder, phase: case_complex_view(folder, phase, to_real=True),
    "view_as_complex": lambda folder, phase: case_complex_view(folder, phase, to_real=False),
    "func_use_closure": case_func_use_closure,
    "anonymous_buffer": case_anonymous_buffer,
    "anonymous_buffer_in_list": case_anonymous_buffer_in_list,
    "decomp": case_decomp,
    "codegen_static": lambda folder, phase: case_split_views(folder, phase, dynamic=False),
    "codegen_dynamic": lambda folder, phase: case_split_views(folder, phase, dynamic=True),
    "empty_tensor": case_empty_tensor,
    "recompile": case_recompile,
    "size_stride": case_size_stride,
    "size_stride_dynamic": lambda folder, phase: case_size_stride(folder, phase, dynamic=True),
}


def main(root: str, phase: str, names: list[str] | None = None) -> None:
    """Run ``names`` (default: every case); print their results as JSON."""
    chosen = {n: CASES[n] for n in names} if names else CASES
    results = {}
    for name, case in chosen.items():
        folder = Path(root) / name
        try:
            results[name] = case(folder, phase)
        except Exception as e:  # reported per case; the test names what failed
            results[name] = {"failed": f"{type(e).__name__}: {e}"}
    print(json.dumps(results))


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    main(sys.argv[1], sys.argv[2], sys.argv[3].split(",") if len(sys.argv) > 3 else None)
