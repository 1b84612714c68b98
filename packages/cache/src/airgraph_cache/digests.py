"""Process-independent identities of Python functions and code objects (for check specs)."""

from __future__ import annotations

import hashlib
import inspect
import types
import weakref
from typing import Any

from airgraph_cache.sources import object_source, qualified_name

__all__ = ["code_digest", "code_digest_of", "function_digest", "memoized_function_digest"]


def function_digest(fn: Any) -> str:
    """A process-independent identity of a Python function: qualified name and code digest."""
    text = object_source(fn)
    return f"{qualified_name(fn)}:{hashlib.sha256(text.encode()).hexdigest()[:16]}"


def code_digest(code: types.CodeType) -> str:
    """A process-independent identity of a code object: its bytecode, names and
    constants, nested code included (the Python version, which decides the
    bytecode, is in the key). Not ``marshal``: its output depends on refcounts."""
    digest = hashlib.sha256()

    def feed(c: types.CodeType) -> None:
        digest.update(c.co_code)
        names = (c.co_names, c.co_varnames, c.co_freevars, c.co_cellvars)
        digest.update(repr((names, c.co_filename, c.co_qualname, c.co_firstlineno)).encode())
        for const in c.co_consts:
            if isinstance(const, types.CodeType):
                feed(const)
            elif isinstance(const, frozenset):  # set order varies with hash seeds
                digest.update(repr(sorted(repr(v) for v in const)).encode())
            else:
                digest.update(repr(const).encode())

    feed(code)
    return digest.hexdigest()[:32]


# Digests of functions checked per call (read from closure cells), by function, with the
# code they were computed for: a call check then costs a lookup, not a source read.
_DIGESTS: weakref.WeakKeyDictionary[Any, tuple[types.CodeType, str]] = weakref.WeakKeyDictionary()


def memoized_function_digest(obj: Any) -> str:
    """:func:`function_digest` of ``obj`` (unwrapped), memoized per function and code object;
    ``"<not a function>"`` for what has no Python source."""
    if type(obj) is types.FunctionType:
        known = _DIGESTS.get(obj)
        if known is not None and known[0] is obj.__code__:
            return known[1]
    try:
        digest = function_digest(inspect.unwrap(obj))
    except Exception:  # not a Python function: cannot be the one traced
        return "<not a function>"
    if type(obj) is types.FunctionType:
        _DIGESTS[obj] = (obj.__code__, digest)
    return digest


def code_digest_of(obj: Any) -> str:
    """:func:`code_digest` of a code object; ``"<not code>"`` for anything else."""
    return code_digest(obj) if isinstance(obj, types.CodeType) else "<not code>"
