"""Run the recorded guard checks without Dynamo: per call what comes with it, per process the rest.

:mod:`airgraph_cache.guards` records check specs at the cold start. Here they
become generated, straight-line Python:

- the *call* checks (non-tensor arguments, ``None``-ness, container lengths
  and keys, shape guards over the arguments, one tensor passed in two places
  (``a is b``: Dynamo merged them into one graph input), and everything read from the
  method's closure cells, which can be rebound between calls) become one
  function with the cached method's own signature, so binding the call is Python's and a missing
  argument is Python's named ``TypeError``; it returns ``-1`` when every check
  holds;
  Module globals, class attributes and torch's default dtype and deterministic
  flag are call checks too (they can change between calls, and torch.compile's
  guards see it): a global is read with one dict lookup, and a function,
  class, module, enum or type is compared by identity with the last value that
  passed before its name or digest is computed;
- the *process* checks (instance attributes of the module and its submodules,
  config objects, hooks on the modules, torch's default device, environment
  variables) run once when a program is loaded or compiled for a module.

Only code this module writes is compiled: paths are validated step by step
(identifiers, int/str keys), constants live in the generated function's
namespace (never in its text), and shape expressions are parsed and must use
only comparisons, arithmetic, ints/floats and ``.size()``/``.stride()`` reads
(:mod:`airgraph_cache.guard_expressions`).
"""

from __future__ import annotations

import ast
import builtins
import functools
import inspect
import keyword
import math
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

from airgraph_cache.binding import closure_cells, dynamo_global
from airgraph_cache.digests import code_digest_of as _code_digest
from airgraph_cache.digests import memoized_function_digest as _fn_digest
from airgraph_cache.guard_expressions import HELPER_NAMES, rewrite_names, validate_expression
from airgraph_cache.guards import hook_identities, is_call_spec
from airgraph_cache.sources import qualified_name

__all__ = ["GuardChecks", "GuardMismatch"]


class GuardMismatch(Exception):
    """A call or the process no longer matches what the cached program was traced for."""


_BUILTIN_TYPES = {
    "int": int,
    "float": float,
    "bool": bool,
    "str": str,
    "NoneType": type(None),
    "tuple": tuple,
    "list": list,
    "dict": dict,
}


def _fact_value(fact: Any) -> Any:
    """The Python value of a JSON fact written by :func:`airgraph_cache.guards._scalar_fact`."""
    import torch

    if not isinstance(fact, dict):
        return fact
    if "float" in fact:
        return float(fact["float"])
    if "dtype" in fact:
        dtype = getattr(torch, str(fact["dtype"]), None)
        if not isinstance(dtype, torch.dtype):
            raise ValueError(f"checks: unknown dtype {fact['dtype']!r}")
        return dtype
    if "device" in fact:
        return torch.device(str(fact["device"]))
    if "enum" in fact:
        return f"{fact['enum']}.{fact['name']}"
    if "tuple" in fact:
        return tuple(fact["tuple"])
    raise ValueError(f"checks: unknown fact {fact!r}")


# -- helpers the generated code calls (process checks; never on the per-call path) ----------


def _item_at(obj: Any, index: int) -> Any:
    return obj[list(obj.keys())[index]]


def _key_at(obj: Any, index: int) -> Any:
    return list(obj.keys())[index]


def _qualtype(obj: Any) -> str:
    return qualified_name(type(obj))


def _qualname(obj: Any) -> str:
    return qualified_name(obj) if isinstance(obj, type) else "<not a class>"


def _modname(obj: Any) -> Any:
    return getattr(obj, "__name__", None) if type(obj).__name__ == "module" else None


#: The empty first value of a memo (see :meth:`_Writer.memo`): never a checked value.
_UNSEEN = object()


def _passed(memo: list[Any], value: Any, ok: bool) -> bool:
    """Remember ``value`` as the last one that passed a check (``ok``), then return ``ok``."""
    if ok:
        memo[0] = value
    return ok


def _passed_function(memo: list[Any], fn: Any, expected: str) -> bool:
    """Whether ``fn``'s digest is ``expected``; remember ``fn`` and its code when it is."""
    ok = _fn_digest(fn) == expected
    if ok:
        memo[0], memo[1] = fn, fn.__code__
    return ok


def _cell(fn: Any, index: int) -> Any:
    """``fn.__closure__[index].cell_contents`` (a nested closure in a shape guard)."""
    return fn.__closure__[index].cell_contents


def _enum_id(obj: Any) -> Any:
    import enum

    return f"{qualified_name(type(obj))}.{obj.name}" if isinstance(obj, enum.Enum) else None


def _tensor_fact(obj: Any) -> Any:
    import torch

    if not isinstance(obj, torch.Tensor):
        return None
    return [str(obj.dtype).removeprefix("torch."), obj.dim()]


def _group_ranks(obj: Any) -> Any:
    from airgraph_core.process_groups import live_group_ranks

    return live_group_ranks(obj)


def _state(name: str) -> Any:
    import torch

    if name == "default_dtype":
        return str(torch.get_default_dtype())
    if name == "deterministic":
        return torch.are_deterministic_algorithms_enabled()
    if name == "default_device":
        return str(torch.get_default_device())
    raise ValueError(f"checks: unknown torch state {name!r}")


def _env(name: str) -> Any:
    return os.environ.get(name)


def _global_getter(namespace: dict[str, Any]) -> Callable[[str], Any]:
    """Look a global up as Dynamo named it, including the names Dynamo adds itself."""
    return functools.partial(dynamo_global, namespace)


# -- code generation ------------------------------------------------------------------------


class _Writer:
    """Renders specs into expressions; constants go into ``namespace``."""

    def __init__(
        self, params: set[str], self_name: str, globals_: dict[str, Any], cells: dict[str, Any]
    ) -> None:
        self.params = params
        self.self_name = self_name
        self.cells = cells
        #: The namespace names of the cells ``local`` has handed out (shape guards use them).
        self.cell_names: set[str] = set()
        self.namespace: dict[str, Any] = {
            "_gd": globals_,
            "_passed": _passed,
            "_passed_function": _passed_function,
            "_cell": _cell,
            "_glob": _global_getter(globals_),
            "_item_at": _item_at,
            "_key_at": _key_at,
            "_qualtype": _qualtype,
            "_qualname": _qualname,
            "_modname": _modname,
            "_fn_digest": _fn_digest,
            "_code_digest": _code_digest,
            "_enum_id": _enum_id,
            "_tensor_fact": _tensor_fact,
            "_group_ranks": _group_ranks,
            "_hooks": hook_identities,
            "_state": _state,
            "_env": _env,
            "_math": math,
            "_max": max,
            "_min": min,
        }

    def const(self, value: Any) -> str:
        name = f"_c{len(self.namespace)}"
        self.namespace[name] = value
        return name

    def local(self, name: Any) -> str:
        """A local as Dynamo names it: an argument, or a free variable's cell contents."""
        if isinstance(name, str) and name in self.params:
            return name
        if isinstance(name, str) and name in self.cells:
            slot = self.const(self.cells[name])
            self.cell_names.add(slot)
            return f"{slot}.cell_contents"
        raise ValueError(f"checks: {name!r} is not an argument or closure variable of the method")

    def global_(self, name: str) -> str:
        """A global as Dynamo names it, read with one lookup (call checks read it every call).

        Dynamo's aliases of imported modules (``__import_a_dot_b``) and of the builtins
        are the module objects themselves; any other name is looked up in the method's
        globals at check time, so a rebinding is seen (a missing name fails the check).
        """
        if name.startswith("__import_"):
            module = sys.modules.get(name.removeprefix("__import_").replace("_dot_", "."))
            if module is not None:
                return self.const(module)
        elif name.startswith("__builtins_dict__"):
            return self.const(builtins.__dict__)
        else:
            return f"_gd[{self.const(name)}]"
        return f"_glob({self.const(name)})"

    def state(self, value: Any) -> str:
        """A torch global state check; the default dtype and deterministic flag without ``str``."""
        import torch

        name, expected = value
        if name == "deterministic" and type(expected) is bool:
            fn = self.const(torch.are_deterministic_algorithms_enabled)
            return f"{fn}() is {expected}"
        dtype = getattr(torch, str(expected).removeprefix("torch."), None)
        if name == "default_dtype" and isinstance(dtype, torch.dtype):
            return f"{self.const(torch.get_default_dtype)}() is {self.const(dtype)}"
        return f"_state({self.const(name)}) == {self.const(expected)}"

    def memo(self, value: str, helper: str, expected: Any) -> str:
        """``helper(value) == expected``, skipped when ``value`` is the last one that passed.

        For what is compared by name (classes, modules, enum members, types): the same
        object has the same name, so a call with an unchanged global costs one ``is``.
        """
        memo = self.const([_UNSEEN])
        fact = self.const(expected)
        return f"({value} is {memo}[0] or _passed({memo}, {value}, {helper}({value}) == {fact}))"

    def path(self, path: Sequence[Sequence[Any]]) -> str:
        head = path[0]
        if head[0] == "local":
            text = self.local(head[1])
        elif head[0] == "global" and isinstance(head[1], str):
            text = self.global_(head[1])
        else:
            raise ValueError(f"checks: a path starts with a local or a global, got {head!r}")
        for step in path[1:]:
            op = step[0]
            if op == "attr":
                name = step[1]
                if not isinstance(name, str) or not name.isidentifier() or keyword.iskeyword(name):
                    raise ValueError(f"checks: bad attribute {name!r}")
                text = f"{text}.{name}"
            elif op == "item" and isinstance(step[1], (int, str)):
                text = f"{text}[{self.const(step[1])}]"
            elif op == "item_at" and type(step[1]) is int:
                text = f"_item_at({text}, {step[1]})"
            elif op == "type" and len(step) == 1:
                text = f"type({text})"
            elif op == "key_at" and type(step[1]) is int:
                text = f"_key_at({text}, {step[1]})"
            elif op in ("size", "stride") and type(step[1]) is int:
                text = f"{text}.{op}()[{step[1]}]"
            else:
                raise ValueError(f"checks: bad path step {step!r}")
        return text

    def condition(self, spec: dict[str, Any]) -> str:
        op, value = spec["op"], spec.get("value")
        if op == "expr":
            return self.expression(value)
        if op == "state":
            return self.state(value)
        if op == "env":
            return f"_env({self.const(value[0])}) == {self.const(value[1])}"
        v = self.path(spec["path"])
        if op == "same":  # one object in two places (Dynamo merged them into one input)
            if not isinstance(value, list) or not value:
                raise ValueError(f"checks: bad path {value!r}")
            return f"{v} is {self.path(value)}"
        if op == "eq":
            fact = _fact_value(value)
            if fact is None or isinstance(fact, bool):
                return f"{v} is {fact}"
            if isinstance(value, dict) and "enum" in value:
                return self.memo(v, "_enum_id", fact)
            if isinstance(value, dict) and ("dtype" in value or "device" in value):
                return f"{v} == {self.const(fact)}"
            return f"type({v}) is {self.const(type(fact))} and {v} == {self.const(fact)}"
        if op == "type":
            if value in _BUILTIN_TYPES:
                return f"type({v}) is {self.const(_BUILTIN_TYPES[value])}"
            return self.memo(f"type({v})", "_qualname", str(value))
        if op == "len" and type(value) is int:
            return f"len({v}) == {value}"
        if op == "keys":
            return f"list({v}.keys()) == {self.const(list(value))}"
        return self.by_helper(op, v, value)

    def by_helper(self, op: str, v: str, value: Any) -> str:
        """A check computed by a helper (a digest, a name...); the cheap way where there is one."""
        if op == "function":
            # The function that passed last, with the same code: one ``is`` and an attribute.
            memo, fact = self.const([_UNSEEN, None]), self.const(value)
            same = f"{v} is {memo}[0] and {v}.__code__ is {memo}[1]"
            return f"({same} or _passed_function({memo}, {v}, {fact}))"
        if op in ("module", "class"):
            return self.memo(v, "_modname" if op == "module" else "_qualname", value)
        if op == "hooks" and value == []:
            # No hooks (the usual case, e.g. torch's global module hooks): an empty dict.
            return f"(not {v} or _hooks({v}) == [])"
        helper = {
            "code": "_code_digest",
            "tensor": "_tensor_fact",
            "process_group": "_group_ranks",
            "hooks": "_hooks",
        }.get(op)
        if helper is None:
            raise ValueError(f"checks: unknown check {op!r}")
        return f"{helper}({v}) == {self.const(value)}"

    def expression(self, text: Any) -> str:
        """A shape guard's expression with ``L[...]``/``G[...]`` replaced, validated."""
        if not isinstance(text, str):
            raise ValueError(f"checks: bad expression {text!r}")
        tree = rewrite_names(text, self.local)
        validate_expression(tree, self.params | self.cell_names | HELPER_NAMES, text)
        return f"({ast.unparse(tree)})"


def _signature_text(fn: Callable[..., Any], namespace: dict[str, Any]) -> tuple[str, set[str]]:
    """The parameter list of ``fn`` as source text; defaults bound through ``namespace``."""
    params = list(inspect.signature(fn).parameters.values())
    parts: list[str] = []
    star_done = False
    for i, p in enumerate(params):
        if p.kind is p.VAR_POSITIONAL:
            parts.append(f"*{p.name}")
            star_done = True
            continue
        if p.kind is p.VAR_KEYWORD:
            parts.append(f"**{p.name}")
            continue
        if p.kind is p.KEYWORD_ONLY and not star_done:
            parts.append("*")
            star_done = True
        text = p.name
        if p.default is not p.empty:
            slot = f"_d{len(namespace)}"
            namespace[slot] = p.default
            text += f"={slot}"
        parts.append(text)
        nxt = params[i + 1] if i + 1 < len(params) else None
        if p.kind is p.POSITIONAL_ONLY and (nxt is None or nxt.kind is not p.POSITIONAL_ONLY):
            parts.append("/")
    return ", ".join(parts), {p.name for p in params}


def _function(name: str, params: str, lines: list[str], namespace: dict[str, Any]) -> Any:
    body = "\n".join(f"    {line}" for line in lines) or "    pass"
    code = f"def {name}({params}):\n{body}\n"
    exec(compile(code, f"<airgraph_cache checks of {name}>", "exec"), namespace)  # noqa: S102
    return namespace[name]


class GuardChecks:
    """The recorded checks of one cached program, as generated functions.

    Args:
        specs: check specs from :func:`airgraph_cache.guards.checks_from_guards`.
        fn: the cached method's underlying function (for its signature and globals).

    Raises:
        ValueError: a spec is malformed (a tampered or foreign recipe).
    """

    def __init__(self, specs: Sequence[dict[str, Any]], fn: Callable[..., Any]) -> None:
        self.specs = list(specs)
        params = list(inspect.signature(fn).parameters)
        self_name = params[0] if params else "self"
        self.call_specs = [s for s in self.specs if is_call_spec(s, self_name)]
        self.process_specs = [s for s in self.specs if not is_call_spec(s, self_name)]
        writer = _Writer(set(params), self_name, getattr(fn, "__globals__", {}), closure_cells(fn))
        signature, _ = _signature_text(fn, writer.namespace)
        conditions = [writer.condition(s) for s in self.call_specs]
        self.call: Callable[..., int] | None = None
        if conditions:
            lines = ["try:"]
            lines += [f"    if not ({c}): return {i}" for i, c in enumerate(conditions)]
            lines += ["except Exception:", "    return -2", "return -1"]
            self.call = _function(fn.__name__, signature, lines, writer.namespace)
        self._call_facts = _function(
            "_call_facts", signature, _facts_lines(conditions), writer.namespace
        )
        process = [writer.condition(s) for s in self.process_specs]
        self._process_facts = _function(
            "_process_facts", self_name, _facts_lines(process), writer.namespace
        )

    def process_facts(self, module: Any) -> list[Any]:
        """Each process check's outcome for ``module`` (True, False, or None when it raised)."""
        return self._process_facts(module)

    def process_ok(self, module: Any) -> bool:
        """Whether every process check holds for ``module`` in this process."""
        return all(f is True for f in self._process_facts(module))

    def call_ok(self, module: Any, args: tuple, kwargs: dict) -> bool:
        """Whether every call check holds (raises Python's TypeError for a bad call)."""
        return self.call is None or self.call(module, *args, **kwargs) == -1

    def facts(self, module: Any, args: tuple, kwargs: dict) -> list[Any]:
        """Outcomes of every check, process then call: what tells variants apart."""
        return [*self._process_facts(module), *self._call_facts(module, *args, **kwargs)]

    def describe_failure(self, module: Any, args: tuple, kwargs: dict) -> str:
        """The first failing check, as text for the log."""
        for spec, ok in zip(self.process_specs + self.call_specs, self.facts(module, args, kwargs)):
            if ok is not True:
                return _spec_text(spec)
        return "none"


def _facts_lines(conditions: list[str]) -> list[str]:
    lines = ["out = []"]
    for c in conditions:
        lines += ["try:", f"    out.append(bool({c}))", "except Exception:", "    out.append(None)"]
    return [*lines, "return out"]


def _spec_text(spec: dict[str, Any]) -> str:
    if spec["op"] in ("expr", "state", "env"):
        return f"{spec['op']} {spec['value']!r}"
    from airgraph_cache.program import path_text

    if spec["op"] == "same":
        return f"{path_text(spec['path'])} is {path_text(spec['value'])}"
    return f"{path_text(spec['path'])}: {spec['op']} {spec['value']!r}"
