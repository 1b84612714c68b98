"""Source fingerprints: which code a cached compilation depends on, hashed.

What the source fingerprints cover (and what they do not):

- the cached method's source text;
- the module's class and each of its base classes outside torch (so the
  methods it calls through ``self.helper()`` are covered), and the class of
  every submodule outside torch (``self.attn = MyAttention()``);
- one level of globals: every name that the method, or any function defined
  in those classes, looks up (``co_names``, including in nested functions and
  comprehensions) and that resolves in its module's globals to a function or
  class (source hashed) or a plain constant (``int``/``float``/``str``/...,
  value hashed). Helpers *of* those helpers, attributes reached through a
  module object (``F.relu``, ``mylib.helper``), and objects from torch or
  airgraph (covered by their versions) are not hashed.

Source text is read file by file, never parsed per object
(:mod:`airgraph_cache.source_files`): a function's or class's own lines, or,
for objects in installed files (site-packages, the standard library), the
whole file's digest. Where there is no text (code made by ``exec``), the
bytecode, constants and names are hashed instead. Sources are keyed by
qualified name, never by file path, so moving a project folder keeps its
cache. Pass one :class:`~airgraph_cache.source_files.SourceReader` to every
call of one key build so that each file is read and hashed once.
"""

from __future__ import annotations

import enum
import functools
import hashlib
import inspect
import types
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from airgraph_cache.manifest import canonical_json
from airgraph_cache.source_files import SourceReader

__all__ = [
    "VERSIONED_PACKAGES",
    "class_fingerprints",
    "functions_of",
    "decompositions_fingerprint",
    "helper_fingerprints",
    "object_source",
    "qualified_name",
    "source_fingerprint",
    "user_classes",
]

#: Top-level packages whose objects the key covers by the recorded versions, not by source.
VERSIONED_PACKAGES = frozenset(
    {
        "torch",
        "torch_npu",
        "airgraph",
        "airgraph_core",
        "airgraph_gears",
        "airgraph_dynamo",
        "airgraph_cache",
        "builtins",
    }
)
#: Values hashed by value (not source) when a function looks them up as globals.
CONSTANT_TYPES = (int, float, bool, str, bytes, type(None), complex, enum.Enum)


def _sha256(text: str | bytes) -> str:
    data = text.encode("utf-8") if isinstance(text, str) else text
    return hashlib.sha256(data).hexdigest()


# -- source fingerprints ------------------------------------------------------------------


def qualified_name(obj: Any) -> str:
    return f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', repr(obj))}"


def _top_package(obj: Any) -> str:
    return (getattr(obj, "__module__", None) or "").partition(".")[0]


def _code_text(code: types.CodeType) -> str:
    """A stable text of a code object, for functions that have no source file."""
    parts = [code.co_code.hex(), repr(code.co_names), repr(code.co_varnames)]
    for const in code.co_consts:
        parts.append(_code_text(const) if isinstance(const, types.CodeType) else repr(const))
    return "\n".join(parts)


def object_source(obj: Any, reader: SourceReader | None = None) -> str:
    """Source text of a function or class; bytecode text where no source exists.

    Args:
        obj: a function, class, or other object (``repr`` for objects without code).
        reader: reads each file once across calls; without one, files are read afresh.

    Returns:
        The text whose sha256 the key records for ``obj``.
    """
    reader = reader or SourceReader()
    if isinstance(obj, type):
        text = reader.class_text(obj)
        if text is not None:
            return text
        members = sorted(vars(obj).items())
        found = reader.class_file(obj)
        return ("file:" + found.digest + "\n" if found is not None else "") + "\n".join(
            f"{name}:{_code_text(value.__code__)}"
            for name, value in members
            if isinstance(value, types.FunctionType)
        )
    if isinstance(obj, types.FunctionType):
        text = reader.function_text(obj)
        if text is not None:
            return text
    code = getattr(obj, "__code__", None)
    return "code:" + _code_text(code) if code is not None else repr(obj)


def _names_used(code: types.CodeType) -> set[str]:
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _names_used(const)
    return names


def functions_of(cls: type) -> list[types.FunctionType]:
    found = []
    for value in vars(cls).values():
        if isinstance(value, (staticmethod, classmethod)):
            value = value.__func__
        elif isinstance(value, property):
            value = value.fget
        if isinstance(value, types.FunctionType):
            found.append(value)
    return found


def user_classes(cls: type) -> list[type]:
    """``cls`` and its bases, except torch's and builtins (covered by versions)."""
    return [c for c in cls.__mro__ if _top_package(c) not in VERSIONED_PACKAGES]


def helper_fingerprints(
    functions: Iterable[Callable[..., Any]], reader: SourceReader | None = None
) -> dict[str, str]:
    """Fingerprints of the module globals that ``functions`` look up, one level deep."""
    reader = reader or SourceReader()
    helpers: dict[str, str] = {}
    for fn in functions:
        fn = inspect.unwrap(fn)
        code, namespace = getattr(fn, "__code__", None), getattr(fn, "__globals__", None)
        if code is None or namespace is None:
            continue
        module = namespace.get("__name__", "?")
        for name in sorted(_names_used(code)):
            if name not in namespace:
                continue  # an attribute name, a builtin or a local
            value = namespace[name]
            label = f"{module}.{name}"
            if isinstance(value, CONSTANT_TYPES) or (
                isinstance(value, (tuple, frozenset))
                and all(isinstance(v, CONSTANT_TYPES) for v in value)
            ):
                helpers[label] = "value:" + _sha256(repr(value))
            elif isinstance(value, (types.FunctionType, type, functools.partial)):
                target = value.func if isinstance(value, functools.partial) else value
                if _top_package(inspect.unwrap(target)) in VERSIONED_PACKAGES:
                    continue
                text = object_source(inspect.unwrap(target), reader)
                if isinstance(value, functools.partial):
                    text += repr((value.args, sorted(value.keywords.items())))
                helpers[label] = _sha256(text)
    return helpers


def source_fingerprint(
    fn: Callable[..., Any], reader: SourceReader | None = None
) -> dict[str, str]:
    """sha256 of a function's source and of the module-level helpers it uses.

    Covers ``fn`` itself and, one level deep, the globals named in its code
    (``co_names``, nested code included) that are functions or classes (source
    hashed) or plain constants (value hashed). Objects from torch and airgraph
    are left out: their versions are in the key.

    Args:
        fn: a function or bound method.
        reader: the key build's file reader (each file read once); a fresh one if None.

    Returns:
        ``{qualified name: sha256 hex}``; ``fn``'s own entry is keyed by its
        qualified name, helpers by ``<module>.<global name>``. Constants are
        marked ``value:<sha256>``.

    Raises:
        TypeError: ``fn`` is not a Python function or method.

    Examples:
        >>> sorted(source_fingerprint(source_fingerprint))  # doctest: +ELLIPSIS
        ['airgraph_cache.keys...', ...]
    """
    target = inspect.unwrap(getattr(fn, "__func__", fn))
    if not isinstance(target, types.FunctionType):
        raise TypeError(f"fn: expected a Python function or method, got {type(fn).__name__}")
    reader = reader or SourceReader()
    result = {qualified_name(target): _sha256(object_source(target, reader))}
    result.update(helper_fingerprints([target], reader))
    return result


def class_fingerprints(
    classes: Iterable[type], reader: SourceReader | None = None
) -> dict[str, str]:
    """``{qualified name: sha256 of the class's source}`` (see the module docstring)."""
    reader = reader or SourceReader()
    return {qualified_name(c): _sha256(object_source(c, reader)) for c in classes}


def decompositions_fingerprint(table: Mapping[Any, Callable[..., Any]] | None) -> str:
    """sha256 over a decomposition table: each op's name and its function's source.

    Args:
        table: ``{ATen op overload or packet: function}`` (the user's
            ``custom_decompositions``), or None for none.

    Returns:
        A sha256 hex digest; ``""`` for None or an empty table.

    Raises:
        TypeError: ``table`` is not a mapping of ops to callables.
    """
    if not table:
        return ""
    if not isinstance(table, Mapping):
        raise TypeError(
            f"decompositions: expected a mapping op -> function, got {type(table).__name__}"
        )
    entries = []
    reader = SourceReader()
    for op, fn in table.items():
        if not callable(fn):
            raise TypeError(f"decompositions[{op}]: expected a callable, got {type(fn).__name__}")
        target = inspect.unwrap(fn.func if isinstance(fn, functools.partial) else fn)
        entries.append([str(op), qualified_name(target), _sha256(object_source(target, reader))])
    return _sha256(canonical_json(sorted(entries)))
