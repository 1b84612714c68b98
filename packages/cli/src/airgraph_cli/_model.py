"""Build the model a ``MODULE:FACTORY`` argument names and the example inputs of ``--input``.

Shared by ``airgraph check`` and ``airgraph dump``. Every problem raises
:class:`ModelSpecError` with a message that names the argument and what was
expected; the commands turn it into exit code 1.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["DTYPES", "ModelSpecError", "Workload", "build_workload", "parse_gears", "parse_input"]

#: ``--input`` dtype names -> torch dtype attribute names.
DTYPES = {
    "float32": "float32",
    "float": "float32",
    "float16": "float16",
    "half": "float16",
    "bfloat16": "bfloat16",
    "int64": "int64",
    "long": "int64",
    "int32": "int32",
    "int": "int32",
    "int8": "int8",
    "uint8": "uint8",
    "bool": "bool",
}


class ModelSpecError(ValueError):
    """A ``MODULE:FACTORY``, ``--input`` or ``--gears`` argument that cannot be used."""


@dataclass
class Workload:
    """What ``check`` and ``dump`` trace: the model, its example inputs and their description."""

    name: str
    model: Any
    inputs: list[Any]
    described_inputs: list[str]
    has_gears: bool


def parse_input(text: str) -> tuple[tuple[int, ...], str]:
    """``"2,16,64:float32"`` -> ``((2, 16, 64), "float32")``; the dtype defaults to float32.

    Raises:
        ModelSpecError: malformed sizes or an unknown dtype.
    """
    shape_text, _, dtype = text.partition(":")
    dtype = dtype or "float32"
    if dtype not in DTYPES:
        raise ModelSpecError(
            f"--input {text}: unknown dtype {dtype!r}; expected one of {', '.join(sorted(DTYPES))}"
        )
    try:
        shape = () if shape_text in ("", "()") else tuple(int(n) for n in shape_text.split(","))
    except ValueError:
        raise ModelSpecError(
            f"--input {text}: expected SHAPE[:DTYPE] with sizes separated by commas "
            "(e.g. 2,16,64:float32; () for a scalar)"
        ) from None
    if any(n < 0 for n in shape):
        raise ModelSpecError(f"--input {text}: sizes must be >= 0")
    return shape, DTYPES[dtype]


def parse_gears(text: str) -> tuple[int, int, list[int]]:
    """``"0:0=1,2,4"`` (input 0, dim 0, gears 1, 2, 4) -> ``(0, 0, [1, 2, 4])``.

    Raises:
        ModelSpecError: not of the form ``INPUT:DIM=GEAR,GEAR,...``.
    """
    head, sep, values = text.partition("=")
    index, colon, dim = head.partition(":")
    try:
        if not sep or not colon:
            raise ValueError
        return int(index), int(dim), [int(v) for v in values.split(",")]
    except ValueError:
        raise ModelSpecError(
            f"--gears {text}: expected INPUT:DIM=GEAR,GEAR,... (e.g. 0:0=1,2,4 for input 0's dim 0)"
        ) from None


def _import_module(spec: str) -> Any:
    if spec.endswith(".py") or os.sep in spec:
        path = os.path.abspath(spec)
        if not os.path.isfile(path):
            raise ModelSpecError(f"{spec}: no such file")
        name = os.path.splitext(os.path.basename(path))[0]
        module_spec = importlib.util.spec_from_file_location(name, path)
        if module_spec is None or module_spec.loader is None:
            raise ModelSpecError(f"{spec}: not a Python file")
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[name] = module
        module_spec.loader.exec_module(module)
        return module
    if "" not in sys.path and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())  # as `python -m` does: modules of the current folder
    try:
        return importlib.import_module(spec)
    except ModuleNotFoundError as e:
        raise ModelSpecError(f"{spec}: cannot import module ({e})") from None


def _load(target: str) -> tuple[str, Any, list[Any] | None]:
    module_name, sep, attr = target.partition(":")
    if not sep or not module_name or not attr:
        raise ModelSpecError(
            f"{target}: expected MODULE:FACTORY, e.g. mymodels:make_model or path/to/file.py:Model"
        )
    module = _import_module(module_name)
    obj = module
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise ModelSpecError(f"{target}: module {module_name!r} has no {attr!r}") from None

    import torch

    inputs = None
    if not isinstance(obj, torch.nn.Module):
        if not callable(obj):
            raise ModelSpecError(f"{target}: {attr!r} is a {type(obj).__name__}, not callable")
        try:
            obj = obj()
        except Exception as e:
            raise ModelSpecError(
                f"{target}: calling {attr}() failed: {type(e).__name__}: {e}"
            ) from e
        if isinstance(obj, tuple) and len(obj) == 2 and isinstance(obj[1], (list, tuple)):
            obj, inputs = obj[0], list(obj[1])
    if not callable(obj):
        raise ModelSpecError(
            f"{target}: {attr}() returned a {type(obj).__name__}; expected an nn.Module, a "
            "callable, or (model, example_inputs)"
        )
    if isinstance(obj, torch.nn.Module):
        obj.eval()
    return attr, obj, inputs


def _describe(value: Any) -> str:
    import torch

    if isinstance(value, torch.Tensor):
        shape = ",".join(str(n) for n in value.shape) or "()"
        return f"{shape}:{str(value.dtype).removeprefix('torch.')}"
    return repr(value)


def build_workload(target: str, inputs: Sequence[str], gears: Sequence[str]) -> Workload:
    """Build the model of ``MODULE:FACTORY`` and its example inputs, gears marked.

    ``FACTORY`` is an attribute of ``MODULE`` (a module name importable from
    the current folder, or a path to a ``.py`` file): an ``nn.Module``
    instance, a class or function returning one, or a function returning
    ``(model, example_inputs)``. ``--input`` values replace the example
    inputs; random values are drawn with seed 0.

    Raises:
        ModelSpecError: anything that keeps the workload from being built.
    """
    name, model, example = _load(target)
    import torch

    if inputs:
        torch.manual_seed(0)
        example = []
        for text in inputs:
            shape, dtype_name = parse_input(text)
            dtype = getattr(torch, dtype_name)
            if dtype.is_floating_point:
                example.append(torch.randn(shape, dtype=dtype))
            elif dtype == torch.bool:
                example.append(torch.rand(shape) > 0.5)
            else:
                example.append(torch.randint(0, 8, shape, dtype=dtype))
    if example is None:
        raise ModelSpecError(
            f"{target}: give the example inputs with --input SHAPE:DTYPE (one per argument, "
            "e.g. --input 2,16,64:float32), or let the factory return (model, example_inputs)"
        )
    if gears:
        from airgraph_gears import set_dim_gears

        per_input: dict[int, dict[int, list[int]]] = {}
        for text in gears:
            index, dim, values = parse_gears(text)
            if not 0 <= index < len(example) or not isinstance(example[index], torch.Tensor):
                raise ModelSpecError(f"--gears {text}: input {index} is not a tensor input")
            per_input.setdefault(index, {})[dim] = values
        for index, spec in per_input.items():
            try:
                set_dim_gears(example[index], spec)
            except (TypeError, ValueError) as e:
                raise ModelSpecError(f"--gears for input {index}: {e}") from None
    return Workload(name, model, list(example), [_describe(x) for x in example], bool(gears))
