"""Every use of Dynamo's private API in the cache package, in one place.

Upgrading torch means reading this file: each function says why it reaches
into Dynamo and which torch version it was checked with. Importing this module
does not import Dynamo (a warm start never does; it is imported only to
compile); the pytree functions come from a module ``import torch`` loads anyway.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import torch.utils._pytree as _pytree

__all__ = [
    "GuardRecord",
    "dynamo_dim_marks",
    "compile_frame_id",
    "guard_recording_options",
    "placeholder_source",
    "source_kind",
    "tree_flatten",
    "tree_leaves",
    "tree_unflatten",
    "treespec_dumps",
    "treespec_loads",
]

# Why: torch has no public pytree module; ``torch.utils._pytree`` is what
# torch.compile and torch.export flatten with, and its spec serialization is
# the JSON form the cache stores. Checked with torch 2.13.
tree_flatten = _pytree.tree_flatten
tree_unflatten = _pytree.tree_unflatten
tree_leaves = _pytree.tree_leaves
treespec_dumps = _pytree.treespec_dumps
treespec_loads = _pytree.treespec_loads


def dynamo_dim_marks(tensor: Any) -> tuple[set[int], set[int]]:
    """The dims of ``tensor`` marked static, and those marked dynamic or unbacked, for Dynamo.

    Why: ``mark_static`` / ``mark_dynamic`` / ``mark_unbacked`` keep their marks
    in private tensor attributes (``_dynamo_static_indices``,
    ``_dynamo_dynamic_indices``, ``_dynamo_unbacked_indices``). Checked with torch 2.13.
    """
    static = set(getattr(tensor, "_dynamo_static_indices", ()))
    marked = set(getattr(tensor, "_dynamo_dynamic_indices", ())) | set(
        getattr(tensor, "_dynamo_unbacked_indices", ())
    )
    return static, marked


@dataclasses.dataclass
class GuardRecord:
    """One Dynamo guard as the cache sees it: what it checks, where, and the value then.

    Attributes:
        guard_type: Dynamo's guard kind (``"CONSTANT_MATCH"``, ``"SEQUENCE_LENGTH"``...).
        name: the source's text, e.g. ``"L['self']._eps"`` (``""`` for global state).
        source: the Dynamo source object (to turn into an access path).
        has_value: whether ``value`` holds the guarded value at compile time.
        value: the guarded value at compile time.
        code: Dynamo's Python code parts for the guard (the shape guards' only form).
        other_source: the second source of a two-source guard (``DUPLICATE_INPUT``:
            the source that must be the same object as ``source``), else None.
    """

    guard_type: str
    name: str
    source: Any
    has_value: bool
    value: Any
    code: list[str]
    other_source: Any = None


def guard_recording_options(sink: list[GuardRecord]) -> dict[str, Any]:
    """``torch.compile`` options whose ``guard_filter_fn`` records every guard into ``sink``.

    Why: ``guard_filter_fn`` is the documented hook that sees every guard Dynamo
    builds, with its value; the filter keeps all of them. The shape guards'
    expressions are read from the guard object's ``code_list``, set by the guard
    builder's first pass (private); a ``DUPLICATE_INPUT`` guard's second source
    from the ``source_b`` keyword of its ``create_fn`` partial (private). Checked
    with torch 2.13.
    """

    def record(entries: Sequence[Any]) -> list[bool]:
        sink.clear()
        for entry in entries:
            guard = entry.orig_guard
            sink.append(
                GuardRecord(
                    guard_type=entry.guard_type,
                    name=guard.name,
                    source=guard.originating_source,
                    has_value=entry.has_value,
                    value=entry.value if entry.has_value else None,
                    code=list(getattr(guard, "code_list", None) or ()),
                    other_source=getattr(guard.create_fn, "keywords", {}).get("source_b"),
                )
            )
        return [True] * len(entries)

    return {"guard_filter_fn": record}


def source_kind(source: Any) -> str:
    """The class name of a Dynamo source (``"LocalSource"``, ``"AttrSource"``...).

    Why: sources are private dataclasses of ``torch._dynamo.source``; the cache
    maps them to its own JSON paths by class name. Checked with torch 2.13.
    """
    return type(source).__name__


def compile_frame_id() -> Any:
    """An id of the frame compilation in progress, or None outside one.

    Why: Dynamo may restart the analysis of one compilation after calling the
    backend (``torch._guards.CompileContext``); a restart is not a second trace.
    Checked with torch 2.13.
    """
    import torch

    compile_id = torch._guards.CompileContext.current_compile_id()
    if compile_id is None:
        return None
    return (compile_id.frame_id, compile_id.frame_compile_id)


def placeholder_source(node: Any) -> tuple[Any, bool]:
    """The Dynamo source of an FX placeholder, and whether Dynamo passes it as a tensor.

    Why: the source lives in private node metadata (``grapharg``,
    ``_dynamo_source``); ``pass_arg_as_tensor`` marks a Python float turned into
    a tensor by Dynamo's bytecode before the graph is called. Checked with torch 2.13.
    """
    grapharg = node.meta.get("grapharg")
    source = getattr(node, "_dynamo_source", None)
    if source is None:
        source = getattr(grapharg, "source", None)
    return source, bool(getattr(grapharg, "pass_arg_as_tensor", False))


def tensor_match_is_plain(record: GuardRecord) -> bool:
    """Whether a TENSOR_MATCH guard's value is a plain tensor (not a subclass we cannot check)."""
    import torch

    return type(record.value) in (torch.Tensor, torch.nn.Parameter)


#: Signature of the hook the recorder passes to :func:`guard_recording_options`.
GuardSink = Callable[[Sequence[GuardRecord]], None]
