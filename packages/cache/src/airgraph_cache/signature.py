"""Input signatures and module state: what of the call and the module shapes a compiled graph.

torch is imported inside the functions: a process that only loads or lists
cache entries needs no torch import.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airgraph_cache.sources import CONSTANT_TYPES, qualified_name

if TYPE_CHECKING:
    import torch

__all__ = ["describe_inputs", "describe_module_state"]


def _int_list(values: Iterable[Any]) -> list[int]:
    return sorted(int(v) for v in values)


def _describe_tensor(t: torch.Tensor, dynamic: bool) -> dict[str, Any]:
    from airgraph_cache._dynamo_compat import dynamo_dim_marks
    from airgraph_gears import get_dim_gears

    gears = get_dim_gears(t) or {}
    static, marked = dynamo_dim_marks(t)
    shape: list[Any] = []
    for dim, size in enumerate(t.shape):
        if dim in gears:
            shape.append({"gears": [int(g) for g in gears[dim]]})
        elif dim in static:
            shape.append(int(size))
        elif dim in marked or (dynamic and size not in (0, 1)):
            # Dynamo specializes sizes 0 and 1 even when tracing dynamically.
            shape.append(-1)
        else:
            shape.append(int(size))
    return {
        "kind": "tensor",
        "dtype": str(t.dtype).removeprefix("torch."),
        "shape": shape,
        "device": t.device.type,
        "contiguous": bool(t.is_contiguous()),
        "requires_grad": bool(t.requires_grad),
        "static_dims": _int_list(static),
    }


def _describe_value(value: Any, dynamic: bool) -> dict[str, Any]:
    import torch

    if isinstance(value, torch.Tensor):
        return _describe_tensor(value, dynamic)
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return {"kind": type(value).__name__, "value": value}
    if isinstance(value, int):
        # Dynamo makes ints symbolic under dynamic=True, except 0 and 1.
        symbolic = dynamic and value not in (0, 1)
        return {"kind": "int", "value": None if symbolic else value}
    if isinstance(value, float):
        return {"kind": "float", "value": repr(value)}
    if isinstance(value, torch.dtype):
        return {"kind": "dtype", "value": str(value)}
    record = _describe_record(value, dynamic)
    if record is not None:
        return record
    if isinstance(value, (list, tuple)):
        return {
            "kind": type(value).__name__,
            "items": [_describe_value(v, dynamic) for v in value],
        }
    if isinstance(value, Mapping):
        return {
            "kind": "dict",
            "items": {str(k): _describe_value(v, dynamic) for k, v in value.items()},
        }
    raise TypeError(
        f"inputs: cannot describe a {type(value).__name__} for the cache key; pass tensors, "
        f"Python scalars, str, None, dataclass instances, namedtuples, or lists/tuples/dicts "
        f"of them"
    )


def _describe_record(value: Any, dynamic: bool) -> dict[str, Any] | None:
    """A dataclass instance or a namedtuple (e.g. vLLM-style ``InputMeta``), field by field;
    None for anything else. The class counts by its qualified name."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
        kind = "dataclass"
    elif isinstance(value, tuple) and isinstance(getattr(type(value), "_fields", None), tuple):
        fields = dict(zip(type(value)._fields, value))
        kind = "namedtuple"
    else:
        return None
    return {
        "kind": kind,
        "type": qualified_name(type(value)),
        "fields": {name: _describe_value(v, dynamic) for name, v in fields.items()},
    }


def describe_inputs(
    args: Sequence[Any], kwargs: Mapping[str, Any] | None = None, *, dynamic: bool = True
) -> list[dict[str, Any]]:
    """The input signature a compilation was made for, as JSON-able data.

    Per tensor: dtype, shape (concrete for static dims; -1 for dims the trace
    leaves dynamic; ``{"gears": [...]}`` for dims with gears), device type,
    contiguity, requires_grad and the dims marked static
    (``torch._dynamo.mark_static``). Python scalars record their value where
    Dynamo specializes on it (ints only when ``dynamic`` is False or the
    value is 0 or 1). Lists, tuples and dicts are described item by item;
    dataclass instances and namedtuples by their class's qualified name and
    field by field.

    Args:
        args: the positional arguments of the first call.
        kwargs: its keyword arguments (keyed by name in the result).
        dynamic: whether the function is traced with dynamic shapes.

    Returns:
        One description per positional argument, then ``{"kind": "kwarg",
        "name": ..., "value": ...}`` per keyword argument, sorted by name.

    Raises:
        TypeError: an argument is of a kind the key cannot describe, or
            ``dynamic`` is not a bool.
    """
    if not isinstance(dynamic, bool):
        raise TypeError(f"dynamic: expected a bool, got {type(dynamic).__name__}")
    described = [_describe_value(a, dynamic) for a in args]
    for name in sorted(kwargs or {}):
        described.append(
            {"kind": "kwarg", "name": name, "value": _describe_value(kwargs[name], dynamic)}
        )
    return described


def _plain_attributes(module: torch.nn.Module) -> dict[str, Any]:
    import torch

    attrs = {}
    for name, value in sorted(vars(module).items()):
        if name.startswith("_"):
            continue
        if isinstance(value, CONSTANT_TYPES) or (
            isinstance(value, (tuple, list))
            and len(value) <= 64
            and all(isinstance(v, CONSTANT_TYPES) for v in value)
        ):
            attrs[name] = repr(value)
        elif isinstance(value, torch.dtype):
            attrs[name] = str(value)
    return attrs


def describe_module_state(module: torch.nn.Module) -> dict[str, Any]:
    """What of a module instance shapes its compiled graph, as JSON-able data.

    Args:
        module: the module whose method is cached.

    Returns:
        ``{"parameters": {name: {"shape", "dtype"}}, "buffers": {...},
        "modules": {path: {"class", "attributes"}}}`` where ``attributes``
        holds the plain public attributes of each submodule (numbers, str,
        bools, None, dtypes, short tuples of them, such as ``eps`` or
        ``n_heads``) as reprs. Parameter *values* are not part of the key:
        they are graph inputs, read at every call.

    Raises:
        TypeError: ``module`` is not an ``nn.Module``.
    """
    import torch

    if not isinstance(module, torch.nn.Module):
        raise TypeError(f"module: expected a torch.nn.Module, got {type(module).__name__}")

    def tensors(named: Iterable[tuple[str, torch.Tensor]]) -> dict[str, Any]:
        return {
            name: {"shape": list(t.shape), "dtype": str(t.dtype).removeprefix("torch.")}
            for name, t in named
        }

    return {
        "parameters": tensors(module.named_parameters(remove_duplicate=False)),
        "buffers": tensors(module.named_buffers(remove_duplicate=False)),
        "modules": {
            path or "": {"class": qualified_name(type(sub)), "attributes": _plain_attributes(sub)}
            for path, sub in module.named_modules(remove_duplicate=False)
        },
    }
