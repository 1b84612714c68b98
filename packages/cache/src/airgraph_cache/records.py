"""Dataclass instances and namedtuples in a cached method's return value.

TorchAir's ``cache_compile`` returns what the method returns, e.g. a
``CustomData(last_hidden_state=x)`` dataclass or a namedtuple. The output
structure of a cached program is stored as a serialized pytree spec, which
knows neither user dataclasses nor unregistered namedtuples, so such a
*record* is written as a plain dict naming its class and holding its
fields, and rebuilt on the way out.

Rebuilding never imports anything: the class is looked up by module and
qualified name among the modules already imported (the method's own module
is, since the model was built from it), and it must still be a dataclass or
a namedtuple class. The class's source is part of the cache key when the
method names it (a global of the method's module).
"""

from __future__ import annotations

import dataclasses
import sys
from typing import Any

import torch

from airgraph_cache._dynamo_compat import tree_flatten

__all__ = ["RECORD_MARKER", "RecordError", "decode_records", "encode_records", "has_records"]

#: The key of the dict that stands for a record in the stored output structure.
RECORD_MARKER = "__airgraph_record__"

_SCALARS = (bool, int, float, str)


class RecordError(ValueError):
    """A returned record whose class cannot be found again by its name."""


def _is_namedtuple(value: Any) -> bool:
    return isinstance(value, tuple) and isinstance(getattr(type(value), "_fields", None), tuple)


def _is_pytree_node(value: Any) -> bool:
    # Registered classes (e.g. transformers' ModelOutput dataclasses) flatten on their own.
    flat, _ = tree_flatten(value)
    return not (len(flat) == 1 and flat[0] is value)


def _find_class(module: str, qualname: str) -> type:
    obj: Any = sys.modules.get(module)
    if obj is None:
        raise RecordError(f"module {module!r} of a returned record is not imported")
    for part in qualname.split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            raise RecordError(f"class {module}.{qualname} of a returned record was not found")
    if not isinstance(obj, type):
        raise RecordError(f"{module}.{qualname} is not a class")
    return obj


def _record_class(value: Any) -> tuple[str, type] | None:
    """``(kind, class)`` when ``value`` is stored as a record, else None."""
    if _is_namedtuple(value):
        return "namedtuple", type(value)
    is_instance = dataclasses.is_dataclass(value) and not isinstance(value, type)
    if is_instance and not _is_pytree_node(value):
        return "dataclass", type(value)
    return None


def encode_records(value: Any) -> Any:
    """``value`` with every record replaced by a plain dict (containers are rebuilt, leaves kept).

    Raises:
        RecordError: a record's class cannot be found again by its module
            and qualified name (e.g. a class defined inside a function).
    """
    if isinstance(value, torch.Tensor) or value is None or isinstance(value, _SCALARS):
        return value
    record = _record_class(value)
    if record is not None:
        kind, cls = record
        try:
            found: type | None = _find_class(cls.__module__, cls.__qualname__)
        except RecordError:
            found = None
        if found is not cls:
            raise RecordError(
                f"class {cls.__module__}.{cls.__qualname__} of a returned record cannot be "
                "found by its name (define it at module level)"
            )
        if kind == "namedtuple":
            fields = dict(zip(cls._fields, value))
        else:
            fields = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
        return {
            RECORD_MARKER: [kind, cls.__module__, cls.__qualname__],
            "fields": {name: encode_records(v) for name, v in fields.items()},
        }
    if type(value) in (list, tuple):
        return type(value)(encode_records(v) for v in value)
    if type(value) is dict:
        return {k: encode_records(v) for k, v in value.items()}
    return value


def has_records(treespec_text: str) -> bool:
    """Whether a stored output structure holds records (so :func:`decode_records` is needed)."""
    return RECORD_MARKER in treespec_text


def _build(kind: str, cls: type, fields: dict[str, Any]) -> Any:
    if kind == "namedtuple":
        if not (issubclass(cls, tuple) and hasattr(cls, "_fields")):
            raise RecordError(f"{cls.__qualname__} is no longer a namedtuple")
        return cls(**fields)
    if not dataclasses.is_dataclass(cls):
        raise RecordError(f"{cls.__qualname__} is no longer a dataclass")
    init = {f.name for f in dataclasses.fields(cls) if f.init}
    obj = cls(**{k: v for k, v in fields.items() if k in init})
    for name, v in fields.items():
        if name not in init:
            object.__setattr__(obj, name, v)
    return obj


def decode_records(value: Any) -> Any:
    """The inverse of :func:`encode_records`: rebuild each record from its dict.

    Raises:
        RecordError: a record's class is not found among the imported modules.
    """
    if type(value) is dict:
        if RECORD_MARKER in value and set(value) == {RECORD_MARKER, "fields"}:
            kind, module, qualname = value[RECORD_MARKER]
            fields = {k: decode_records(v) for k, v in value["fields"].items()}
            return _build(kind, _find_class(module, qualname), fields)
        return {k: decode_records(v) for k, v in value.items()}
    if type(value) in (list, tuple):
        return type(value)(decode_records(v) for v in value)
    return value
