"""Dynamo sources as JSON access paths, for the inputs and for the checks.

At the cold start, Dynamo names where each graph input and each guarded value
comes from with a *source* (``L['x']``, ``L['self']._modules['attn']``,
``G['FLAG']``, ``L['fn'].__closure__[0].cell_contents``...). A warm start
has no Dynamo, so each source becomes a plain JSON path of steps:

- :func:`source_to_path`, for graph inputs: only what
  :class:`~airgraph_cache.binding.InputBinding` replays at every call
  (locals, which include the frame's closure variables, module globals,
  attributes, items, sizes and strides);
- :func:`check_path`, for guards: also types, dict keys by position and
  default arguments, for :mod:`airgraph_cache.checks`.
"""

from __future__ import annotations

from typing import Any

from airgraph_cache._dynamo_compat import source_kind
from airgraph_cache.binding import Step, UncacheableError

__all__ = ["check_path", "source_to_path"]


def source_to_path(source: Any) -> list[Step]:
    """Convert a Dynamo source into a JSON-able access path.

    Raises:
        UncacheableError: the source reads something a path cannot replay
            (a global, a closure cell, a random value...).
    """
    kind = source_kind(source)
    base = getattr(source, "base", None)
    if kind == "LocalSource":
        return [["local", source.local_name]]
    if kind == "GlobalSource":
        name = source.global_name
        if name.startswith("___"):
            # Installed by Dynamo in the traced frame's globals: absent in a fresh process.
            # (Its module aliases, ``__import_a_dot_b``, are resolved: binding.dynamo_global.)
            raise UncacheableError(f"cannot replay Dynamo's own global {name!r}")
        return [["global", name]]
    if kind in (
        "AttrSource",
        "CellContentsSource",
        "ParamBufferSource",
        "UnspecializedParamBufferSource",
    ):
        return [*source_to_path(base), ["attr", source.member]]
    if kind == "ClosureSource":
        return [*source_to_path(base), ["attr", "__closure__"]]
    if kind in ("GetItemSource", "ListGetItemSource", "DictGetItemSource"):
        index = source.index
        if not isinstance(index, (int, str)) or getattr(source, "index_is_slice", False):
            raise UncacheableError(f"cannot replay the item access {source.name}")
        return [*source_to_path(base), ["item", index]]
    if kind == "TensorPropertySource":
        prop = source.prop.name.lower()
        if prop not in ("size", "stride"):
            raise UncacheableError(f"cannot replay the tensor property {source.name}")
        return [*source_to_path(base), [prop, source.idx]]
    if kind == "FloatTensorSource":
        return [*source_to_path(base), ["float_tensor"]]
    if kind == "ConvertIntSource":
        return [*source_to_path(base), ["int"]]
    if kind in (
        "NNModuleSource",
        "UnspecializedNNModuleSource",
        "UnspecializedBuiltinNNModuleSource",
    ):
        return source_to_path(base)
    raise UncacheableError(f"cannot replay the Dynamo source {getattr(source, 'name', source)!r}")


def check_path(source: Any) -> list[list[Any]]:
    """A JSON access path for a Dynamo source, including globals and closures.

    Raises:
        UncacheableError: the source reads something a path cannot replay.
    """
    kind = source_kind(source)
    base = getattr(source, "base", None)
    if kind == "LocalSource":
        return [["local", source.local_name]]
    if kind == "GlobalSource":
        return [["global", source.global_name]]
    if kind in (
        "AttrSource",
        "CellContentsSource",
        "ParamBufferSource",
        "UnspecializedParamBufferSource",
    ):
        return [*check_path(base), ["attr", source.member]]
    if kind == "ClosureSource":
        return [*check_path(base), ["attr", "__closure__"]]
    if kind in (
        "GetItemSource",
        "ListGetItemSource",
        "DictGetItemSource",
        "DictSubclassGetItemSource",
        "ODictGetItemSource",
    ):
        index = source.index
        if source_kind(index) == "ConstDictKeySource" and isinstance(index.index, int):
            return [*check_path(base), ["item_at", index.index]]
        if isinstance(index, (int, str)) and not getattr(source, "index_is_slice", False):
            return [*check_path(base), ["item", index]]
    if kind == "ConstDictKeySource" and type(source.index) is int:  # a dict's i-th key
        return [*check_path(base), ["key_at", source.index]]
    if kind == "TypeSource":  # type(x)
        return [*check_path(base), ["type"]]
    if kind in ("TypeDictSource", "TypeMROSource"):  # type(x).__dict__, type(x).__mro__
        return [*check_path(base), ["attr", "__dict__" if kind == "TypeDictSource" else "__mro__"]]
    if kind == "DefaultsSource":  # a function's default argument (``fn.__defaults__[i]``)
        field = "__kwdefaults__" if source.is_kw else "__defaults__"
        return [*check_path(base), ["attr", field], ["item", source.idx_key]]
    if kind == "TensorPropertySource":
        prop = source.prop.name.lower()
        if prop in ("size", "stride"):
            return [*check_path(base), [prop, source.idx]]
    if kind in (
        "NNModuleSource",
        "UnspecializedNNModuleSource",
        "UnspecializedBuiltinNNModuleSource",
        "FSDPNNModuleSource",
    ):
        return check_path(base)
    raise UncacheableError(f"cannot replay the Dynamo source {getattr(source, 'name', source)!r}")
