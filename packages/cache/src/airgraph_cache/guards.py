"""What Dynamo guarded at the cold start, turned into checks the warm path can run.

Dynamo specializes a trace on Python values (non-tensor arguments, ``None``-ness,
container lengths and keys, attributes, globals, config objects, global torch
state, hooks) and guards each one. The cache skips those guards, so the cold
start records them here as *check specs*: JSON records of an access path plus
the fact expected there (a value, a type, a length, dict keys, a shape
expression). :mod:`airgraph_cache.checks` turns the specs into code.

A spec is ``{"path": [...], "op": ..., "value": ...}`` with ``op`` one of
``eq`` (a scalar, ``None`` or dtype), ``type`` (a qualified type name), ``len``,
``keys``, ``hooks`` (a hooks dict's hooks, see :func:`hook_identities`),
``function`` (qualified name + code digest), ``module`` (a module
name), ``tensor`` (dtype and rank of a tensor that is not a graph input),
``expr`` (a shape guard's Python expression over ``L[...]``/``G[...]``),
``state`` (global torch state), ``env`` (an environment variable) or ``same``
(the object at ``path`` is the one at the path in ``value``: Dynamo merged two
sources of one tensor into one graph input).

A guard that cannot be checked this way raises :class:`UncacheableError`,
which makes the method uncached with one warning naming the source.
"""

from __future__ import annotations

import enum
import inspect
import os
import re
import sys
import types
from collections.abc import Iterable, Sequence
from typing import Any

from airgraph_cache.binding import UncacheableError
from airgraph_cache.digests import code_digest, function_digest
from airgraph_cache.source_paths import check_path
from airgraph_cache.sources import (
    VERSIONED_PACKAGES,
    functions_of,
    qualified_name,
    user_classes,
)

__all__ = [
    "checks_from_guards",
    "code_digest",
    "function_digest",
    "hook_identities",
    "PER_CALL_STATE",
    "is_call_spec",
    "traced_functions",
]

#: Guards whose subject the cache already covers or that do not change a result:
#: grad mode (inference only; inputs needing grad are refused), weakrefs and dict
#: versions (process-local identities), torch-function mode and saved-tensor hooks
#: (no effect on an inference graph run without Dynamo), attribute shadowing in an
#: instance dict (source-covered methods). Not aliasing: ``DUPLICATE_INPUT`` (one
#: tensor in two places, merged into one graph input) becomes a ``same`` check.
_IGNORED = frozenset(
    {
        "GRAD_MODE",
        "WEAKREF_ALIVE",
        "DICT_VERSION",
        "TORCH_FUNCTION_STATE",
        "AUTOGRAD_SAVED_TENSORS_HOOKS",
        "NOT_PRESENT_IN_GENERIC_DICT",
        "DICT_NOT_CONTAINS",
        "HASATTR",
        "NN_MODULE_PARAM_NAMES",
        "DICT_CONTAINS",
    }
)
_IDENTITY = frozenset(
    {"ID_MATCH", "MODULE_MATCH", "BUILTIN_MATCH", "CLOSURE_MATCH", "FUNCTION_MATCH", "CLASS_MATCH"}
)
_VALUE = frozenset({"CONSTANT_MATCH", "EQUALS_MATCH"})
_BUILTIN_TYPES = ("int", "float", "bool", "str", "NoneType", "tuple", "list", "dict")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{1,127}$")


def _top_package(obj: Any) -> str:
    module = getattr(obj, "__module__", None)
    if isinstance(obj, types.ModuleType):
        module = obj.__name__
    return (module or "").partition(".")[0]


def _scalar_fact(value: Any) -> Any:
    """A JSON form of a constant guarded for equality, or raise if there is none."""
    import torch

    if isinstance(value, enum.Enum):  # first: a str or int enum (``class A(str, Enum)``)
        return {"enum": qualified_name(type(value)), "name": value.name}
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return {"float": repr(value)}
    if isinstance(value, torch.dtype):
        return {"dtype": str(value).removeprefix("torch.")}
    if isinstance(value, torch.device):
        return {"device": str(value)}
    if isinstance(value, enum.Enum):
        return {"enum": qualified_name(type(value)), "name": value.name}
    if isinstance(value, tuple) and all(
        v is None or isinstance(v, (bool, int, str)) for v in value
    ):
        return {"tuple": list(value)}
    raise UncacheableError(f"cannot compare a {type(value).__name__} across processes")


def _identity_fact(value: Any) -> dict[str, Any] | None:
    """The op and value that stand for an object Dynamo guarded by identity (None: skip)."""
    import torch

    if value is None or isinstance(value, bool):
        return {"op": "eq", "value": value}
    if _top_package(value) in VERSIONED_PACKAGES or _top_package(value) in ("os", "math"):
        return None  # torch's and airgraph's objects: covered by the versions in the key
    if _top_package(value) in sys.stdlib_module_names:
        return None  # the standard library's: covered by the Python version in the key
    if isinstance(value, types.ModuleType):
        return {"op": "module", "value": value.__name__}
    if isinstance(value, (types.FunctionType, types.MethodType)):
        return {"op": "function", "value": function_digest(inspect.unwrap(value))}
    if isinstance(value, type):
        return {"op": "class", "value": qualified_name(value)}
    if isinstance(
        value,
        (
            types.BuiltinFunctionType,
            types.MethodDescriptorType,
            types.WrapperDescriptorType,
            types.ClassMethodDescriptorType,
            types.MethodWrapperType,
        ),
    ):
        return None  # C functions: their modules' versions are not in the key, but they are
        # looked up by name in code whose source is
    if isinstance(value, (torch.dtype, torch.device, enum.Enum)):
        return {"op": "eq", "value": _scalar_fact(value)}
    if isinstance(value, torch.nn.Module):
        return {"op": "type", "value": qualified_name(type(value))}
    raise UncacheableError(
        f"Dynamo specialized on the identity of a {type(value).__name__}, which cannot be "
        "compared across processes"
    )


def _process_group_ranks(value: Any) -> list[int] | None:
    if type(value).__name__ != "ProcessGroup":  # no torch.distributed import for the rest
        return None
    from airgraph_core.process_groups import live_group_ranks

    return live_group_ranks(value)


def _type_name(tp: type) -> str:
    return tp.__name__ if tp.__module__ == "builtins" else qualified_name(tp)


def _specs_for(record: Any, path: list[list[Any]], input_paths: set[str]) -> list[dict]:
    kind, value = record.guard_type, record.value
    ranks = _process_group_ranks(value)
    if ranks is not None:  # a process group: its ranks survive a restart, the object does not
        return [{"path": path, "op": "process_group", "value": ranks}]
    if kind in _VALUE and isinstance(value, types.CodeType):  # e.g. a decorator's inner code
        return [{"path": path, "op": "code", "value": code_digest(value)}]
    if kind in _VALUE:
        return [{"path": path, "op": "eq", "value": _scalar_fact(value)}]
    if kind == "TYPE_MATCH":
        import torch

        if _path_key(path) in input_paths and isinstance(value, torch.Tensor):
            return []  # tensor inputs: the program's input checks cover the type
        # An int or float input (a SymInt/SymFloat of the graph) keeps its type check:
        # a float where the trace saw an int would be read as the int.
        spec = {"path": path, "op": "type", "value": _type_name(type(value))}
        if _is_hook_dict(path) and isinstance(value, dict):
            # torch's global hook dicts get only a TYPE_MATCH; Dynamo's guard tree checks
            # their size implicitly (a hook added later runs in eager, so it must miss).
            return [spec, {"path": path, "op": "hooks", "value": hook_identities(value)}]
        return [spec]
    if kind == "SEQUENCE_LENGTH":
        return [{"path": path, "op": "len", "value": len(value)}]
    if kind == "EMPTY_NN_MODULE_HOOKS_DICT":
        return [{"path": path, "op": "len", "value": 0}]
    if kind in ("DICT_KEYS_MATCH", "DICT_KEYS", "MAPPING_KEYS_CHECK") and _is_hook_dict(path):
        # Hook handles' keys are process-local counters: compare the hooks themselves.
        return [{"path": path, "op": "hooks", "value": hook_identities(value)}]
    if kind in ("DICT_KEYS_MATCH", "DICT_KEYS", "MAPPING_KEYS_CHECK"):
        keys = list(value.keys())
        if not all(isinstance(k, (str, int)) and not isinstance(k, bool) for k in keys):
            raise UncacheableError("dict keys other than str and int cannot be checked")
        return [{"path": path, "op": "keys", "value": keys}]
    if kind in _IDENTITY:
        fact = _identity_fact(value)
        return [] if fact is None else [{"path": path, **fact}]
    if kind == "TENSOR_MATCH":
        if _path_key(path) in input_paths:
            return []
        return [
            {
                "path": path,
                "op": "tensor",
                "value": [str(value.dtype).removeprefix("torch."), value.dim()],
            }
        ]
    raise UncacheableError(f"Dynamo's {kind} guard cannot be checked without Dynamo")


def _is_hook_dict(path: Sequence[Sequence[Any]]) -> bool:
    """Whether ``path`` names a hooks dict (``m._forward_hooks``, torch's global ones...)."""
    last = path[-1] if path else None
    return bool(
        last
        and last[0] == "attr"
        and isinstance(last[1], str)
        and re.search(r"_hooks(_with_kwargs)?$", last[1]) is not None
    )


def hook_identities(hooks: Any) -> list[str] | None:
    """What stands for a hooks dict across processes: each hook's identity, in order.

    A handle's key is a process-wide counter, so the keys Dynamo guarded cannot be
    compared in another process; the hooks' code can. airgraph_cache's own hooks
    (the binding's watch on module state) are left out: they are never traced into
    a graph, and a warm start installs them before its checks run.

    Returns:
        One string per hook (a function's qualified name and code digest, else its
        type), or None when ``hooks`` is not a dict.
    """
    if not isinstance(hooks, dict):
        return None
    found = []
    for hook in hooks.values():
        target = inspect.unwrap(getattr(hook, "__func__", hook))
        if (getattr(target, "__module__", None) or "").startswith("airgraph_cache."):
            continue
        if isinstance(target, types.FunctionType):
            found.append(function_digest(target))
        else:
            found.append("type:" + qualified_name(type(hook)))
    return found


def _path_key(path: Sequence[Sequence[Any]]) -> str:
    return repr([list(s) for s in path])


def _state_specs(kind: str) -> list[dict]:
    import torch

    if kind == "GLOBAL_STATE":
        return [
            {"op": "state", "path": [], "value": ["default_dtype", str(torch.get_default_dtype())]}
        ]
    if kind == "DETERMINISTIC_ALGORITHMS":
        return [
            {
                "op": "state",
                "path": [],
                "value": ["deterministic", torch.are_deterministic_algorithms_enabled()],
            }
        ]
    if kind == "DEFAULT_DEVICE":
        return [
            {
                "op": "state",
                "path": [],
                "value": ["default_device", str(torch.get_default_device())],
            }
        ]
    return []


def _env_specs(functions: Iterable[Any]) -> list[dict]:
    """Environment variables the traced code may read: the str constants of its code."""
    names: set[str] = set()

    def walk(code: types.CodeType) -> None:
        for const in code.co_consts:
            if isinstance(const, types.CodeType):
                walk(const)
            elif isinstance(const, str) and _ENV_NAME.match(const):
                names.add(const)

    for fn in functions:
        code = getattr(inspect.unwrap(fn), "__code__", None)
        if code is not None:
            walk(code)
    return [
        {"op": "env", "path": [], "value": [name, os.environ.get(name)]} for name in sorted(names)
    ]


def _reads_environ(record: Any) -> bool:
    return (record.has_value and record.value is os.environ) or _through_environ(record)


def _through_environ(record: Any) -> bool:
    """A guard on something read through ``os.environ`` (e.g. ``os.environ._data[b'X']``)."""
    return bool(re.search(r"\bos'?\]?\.environ\b", record.name or ""))


def checks_from_guards(
    records: Sequence[Any],
    *,
    input_paths: Sequence[Sequence[Sequence[Any]]],
    functions: Iterable[Any],
) -> list[dict[str, Any]]:
    """Check specs for the guards Dynamo built for one trace.

    Args:
        records: the :class:`~airgraph_cache._dynamo_compat.GuardRecord` list.
        input_paths: the graph inputs' access paths (their tensors are checked
            by the program's input checks).
        functions: the user functions the trace may have run (the method, its
            classes' functions), whose str constants name the environment
            variables checked when the trace read ``os.environ``.

    Returns:
        The specs, each once, in guard order.

    Raises:
        UncacheableError: a guard cannot be checked without Dynamo; the message
            names its source.
    """
    specs: list[dict] = []
    seen: set[str] = set()
    inputs = {_path_key(p) for p in input_paths}
    reads_env = False

    def add(spec: dict) -> None:
        text = repr(spec)
        if text not in seen:
            seen.add(text)
            specs.append(spec)

    for record in records:
        kind = record.guard_type
        if kind in _IGNORED:
            continue
        if kind == "DUPLICATE_INPUT":
            spec = _same_spec(record, inputs)
            if spec is not None:
                add(spec)
            continue
        if kind in ("GLOBAL_STATE", "DETERMINISTIC_ALGORITHMS", "DEFAULT_DEVICE"):
            for spec in _state_specs(kind):
                add(spec)
            continue
        if kind == "SHAPE_ENV":
            for code in record.code:
                add({"op": "expr", "path": [], "value": code})
            continue
        reads_env = reads_env or _reads_environ(record)
        if not record.has_value:
            continue  # e.g. "not hasattr(x, 'foo')": nothing to read
        for spec in _value_specs(record, inputs):
            add(spec)
    if reads_env:
        for spec in _env_specs(functions):
            add(spec)
    return specs


def _same_spec(record: Any, inputs: set[Any]) -> dict[str, Any] | None:
    """The ``same`` check of a ``DUPLICATE_INPUT`` guard: both sources hold one object.

    When one side is a graph input, the graph has one input for both; a call
    with two different objects there must not run it (the second would be
    ignored). Dynamo also pairs sources of one non-tensor object (a class read
    through two modules, under a process-specific global name): no graph input
    is involved, each side's own guards check it, and ``None`` is returned.
    """
    paths = []
    for source in (record.source, record.other_source):
        try:
            paths.append(None if source is None else check_path(source))
        except UncacheableError:
            paths.append(None)
    if not any(p is not None and _path_key(p) in inputs for p in paths):
        return None
    if None in paths:
        raise UncacheableError(
            f"the trace saw one tensor as {record.name} and as another argument that has no "
            "access path; pass distinct tensors on the first call"
        )
    return {"path": paths[0], "op": "same", "value": paths[1]}


def _value_specs(record: Any, inputs: set[Any]) -> list[dict[str, Any]]:
    """The specs of one guard on a value read through a source (attribute, global, item)."""
    kind = record.guard_type
    where = record.name or "a global"
    if "['_compiled_call_impl']" in where:
        return []  # torch's nn.Module class attribute (covered by torch's version)
    if where.startswith("G['___unnamed_scope_"):
        # The namespace of a namedtuple's generated __new__ (stdlib code, covered by the
        # Python version in the key), installed by Dynamo under an id-based name that no
        # other process has: building a namedtuple in the method must not miss every time.
        return []
    if _through_environ(record):
        return []  # os.environ's items: the env specs check the variables by name
    try:
        path = check_path(record.source)
        return list(_specs_for(record, path, inputs))
    except UncacheableError as e:
        if kind in _IDENTITY and _identity_needs_no_check(record.value):
            return []
        raise UncacheableError(
            f"the trace depends on {where} ({kind}): {e}. Pass it as an argument, or make "
            "it a plain attribute (int, float, bool, str, None, dtype) or a module-level "
            "constant"
        ) from e


def _identity_needs_no_check(value: Any) -> bool:
    """Whether an object Dynamo guarded by identity is covered without a check.

    True for what :func:`_identity_fact` skips (torch's and airgraph's objects,
    covered by the versions in the key; builtin C functions such as ``dict.get``,
    which code covered by the key looks up by name), wherever it was reached.
    """
    try:
        return _identity_fact(value) is None
    except UncacheableError:
        return False


#: The torch global state checked at every call (cheap to read), by the name in its spec.
PER_CALL_STATE = frozenset({"default_dtype", "deterministic"})


def is_call_spec(spec: dict[str, Any], self_name: str) -> bool:
    """Whether a spec is checked at every call: it reads a local other than ``self``, or a global.

    Dynamo's locals are the arguments and the frame's closure variables; both can
    differ from one call to the next (a cell can be rebound between calls). So can
    a module global (``module.SCALE = 5`` after the first call), or a class attribute
    (a path through ``type(...)``: ``Model.FACTOR = 5``), which torch.compile's guards
    see at every call too, and so is torch's default dtype and deterministic flag
    (``torch.set_default_dtype`` between calls; two C calls), and a ``same`` check
    (one tensor in two places) with an argument on either side. What else is reached from
    ``self`` (instance attributes, submodules, their hooks) is checked once per load: a
    model holds hundreds of such facts, too many for the per-call budget; so is torch's
    default device (``torch.get_default_device()`` alone costs microseconds) and the
    environment.
    """
    if spec["op"] == "state":
        return spec["value"][0] in PER_CALL_STATE
    if spec["op"] == "same":  # per call when either side can change with the call
        return any(_path_per_call(p, self_name) for p in (spec["path"], spec["value"]))
    if spec["op"] == "expr":
        value = spec["value"]
        locals_ = re.findall(r"L\['([^']+)'\]", value)
        return "G[" in value or any(name != self_name for name in locals_)
    return _path_per_call(spec["path"], self_name)


def _path_per_call(path: Sequence[Sequence[Any]], self_name: str) -> bool:
    """Whether what ``path`` reads can change from one call to the next (see :func:`is_call_spec`)."""
    if not path:
        return False
    head = path[0]
    if head[0] == "global" or any(step[0] == "type" for step in path[1:]):
        return True
    return head[0] == "local" and head[1] != self_name


def traced_functions(method: Any) -> list[Any]:
    """The user functions a trace of ``method`` may run: itself, its module classes' functions
    and the module-level functions they name (one level)."""
    functions = [method.__func__]
    for sub in method.__self__.modules():
        for cls in user_classes(type(sub)):
            functions += [f for f in functions_of(cls) if f not in functions]
    for fn in list(functions):
        namespace = getattr(fn, "__globals__", {})
        for name in fn.__code__.co_names:
            value = namespace.get(name)
            if isinstance(value, types.FunctionType) and value not in functions:
                functions.append(value)
    return functions
