"""A build cache of AOTInductor packages: the same graph is compiled ahead of time once.

Compiling a host specialization as a package (:mod:`~airgraph_core.targets.host.package`)
costs seconds of C++ compile even when Inductor's caches are warm: AOTInductor
compiles its wrapper and kernels again on every call (a 2-layer model: ~11 CPU-s
of g++, torch 2.13). The same graph is packaged again whenever a cache entry is
rebuilt while the graph stays as it was: an edit that changed the entry's key
but not what was traced (a comment, a helper the trace did not reach), an entry
refused as forged or damaged, a cleared cache, another cache folder, or another
process building the same graph.

So a package is kept under a digest of everything that goes into it, next to
Inductor's own caches (``<inductor cache dir>/airgraph_packages/``), and reused
when that digest comes again. The digest covers: the graph's code, every
constant it reads (names, metadata and bytes), the inputs' shapes, strides,
dtypes and devices, the settings that change Inductor's output
(:func:`~airgraph_core.targets.host.warm_hints.settings_digest`: Inductor's,
functorch's and torch.compiler's configs, torch's version and numerics state,
airgraph's host sources), the package compile's own options, the CPU's vector
ISA, the machine and the C++ compiler named by ``CXX``.

A graph that calls anything whose code the digest cannot see (a custom op, a
higher-order op, a Python function, a submodule) or a setting whose text is
not stable across processes (an object address), or one packaged under a torch
function or dispatch mode (a default device), is never looked up nor kept.
A package read back is checked as a fresh one is (zip CRCs, JSON members); one that
then does not load is dropped and compiled anew (:func:`discard`). Any
failure to read or write only costs the compile; Inductor's
``force_disable_caches`` and :data:`ENABLED` turn the cache off.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import operator
import os
import platform
import sys
import tempfile
import types
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch

from airgraph_core import _torch_compat
from airgraph_core.targets.host import warm_hints

__all__ = ["ENABLED", "SUBDIR", "build_key", "discard", "lookup", "store"]

log = logging.getLogger("airgraph.host")

#: Whether packages are looked up and kept (``AIRGRAPH_PACKAGE_BUILD_CACHE=0`` turns it off).
ENABLED = os.environ.get("AIRGRAPH_PACKAGE_BUILD_CACHE", "1") != "0"

#: The folder under Inductor's cache dir that holds the packages.
SUBDIR = "airgraph_packages"

#: Bumped whenever what a key covers changes.
_FORMAT = 2

#: Namespaces of ops whose code is torch's own (its version is in the key).
_TORCH_NAMESPACES = frozenset({"aten", "prims"})
_OPERATORS = frozenset(v for v in vars(operator).values() if callable(v))
#: The modules of airgraph_core whose source is in the key (``warm_hints.HOST_SOURCES``).
_KEYED_MODULES = tuple(
    "airgraph_core." + part.removesuffix(".py").replace("/", ".")
    for part in warm_hints.HOST_SOURCES
)
#: Argument values whose text in the graph's code is all of them.
_PLAIN_ARGS = (int, float, complex, bool, str, type(None), torch.dtype, torch.device)
_PLAIN_ARGS += (torch.layout, torch.memory_format, torch.fx.Node, type(...))


def _known_code(target: Any, depth: int = 0) -> bool:
    """Whether a ``call_function`` target runs only code the key covers: torch's and
    Python's own (torch's version is in the key) or airgraph_core's host semantics (its
    source digest is in the key), through whatever functions it closes over."""
    if isinstance(target, _torch_compat.OpOverload):
        return target.namespace in _TORCH_NAMESPACES
    if isinstance(target, _torch_compat.OpOverloadPacket):  # host graphs call overloads
        return False
    try:
        if target in _OPERATORS:
            return True
    except TypeError:  # unhashable
        return False
    if not isinstance(target, (types.FunctionType, types.BuiltinFunctionType)):
        return False  # a callable object (a custom op's definition, a higher-order op)
    module = getattr(target, "__module__", None) or ""
    if module == "builtins":
        return True
    if module.split(".")[0] == "torch":
        # torch's public functions (torch.full, F.scaled_dot_product_attention), not its
        # higher-order ops, whose bodies are subgraphs.
        return "higher_order" not in module and not module.startswith("torch._library")
    keyed = any(module == m or module.startswith(m + ".") for m in _KEYED_MODULES)
    if not keyed or depth > 3:
        return False
    for cell in getattr(target, "__closure__", None) or ():
        try:
            value = cell.cell_contents
        except ValueError:  # a cell not yet assigned
            return False
        inner = getattr(value, "fn", value)  # a HostOp carries its function as .fn
        if callable(inner) and not _known_code(inner, depth + 1):
            return False
    return True


def _plain_args(args: Any) -> bool:
    """Whether the code text of a node's ``args`` or ``kwargs`` shows all of them (a
    function or object passed as an argument shows only its name)."""
    if isinstance(args, (list, tuple)):
        return all(_plain_args(a) for a in args)
    if isinstance(args, dict):
        return all(_plain_args(a) for a in args.values())
    if isinstance(args, slice):
        return _plain_args((args.start, args.stop, args.step))
    return isinstance(args, _PLAIN_ARGS)


def build_key(
    gm: torch.fx.GraphModule, tensors: Sequence[torch.Tensor], options: Mapping[str, Any]
) -> str | None:
    """The build-cache key of packaging ``gm`` for inputs like ``tensors`` with ``options``,
    or None when the package must not be cached (or the cache is off, or the key fails)."""
    try:
        return _build_key(gm, tensors, options)
    except Exception as error:  # the cache costs speed only, never the compile
        log.info("host: package build cache not used: %s: %s", type(error).__name__, error)
        return None


def _build_key(
    gm: torch.fx.GraphModule, tensors: Sequence[torch.Tensor], options: Mapping[str, Any]
) -> str | None:
    if not ENABLED or _torch_compat.inductor_caches_disabled():
        return None
    if _torch_compat.dispatch_modes_active() or _torch_compat.function_modes_active():
        # torch.export traces through them (a default device, a mode rewriting ops).
        return _bypass("is packaged under a torch mode (or a default device)")
    for node in gm.graph.nodes:
        if node.op == "call_module":
            return _bypass("calls a submodule")
        if node.op == "call_function" and not _known_code(node.target):
            return _bypass(f"calls {getattr(node.target, '__qualname__', node.target)}")
        if node.op in ("call_function", "call_method") and not (
            _plain_args(node.args) and _plain_args(node.kwargs)
        ):
            return _bypass(f"passes an object to {node.target}")
    parts = [f"airgraph package build {_FORMAT}", warm_hints.graph_text(gm, tensors)]
    named = [
        *gm.named_parameters(remove_duplicate=False),
        *gm.named_buffers(remove_duplicate=False),
    ]
    parts += [f"{name}: {warm_hints.tensor_text(t)}" for name, t in named]
    for node in gm.graph.nodes:
        if node.op == "get_attr":
            parts.append(f"{node.target}: {warm_hints.value_text(_attribute(gm, node.target))}")
    settings = _torch_compat.inductor_settings()
    parts += [warm_hints.settings_digest(), repr(sorted(options.items()))]
    parts += [warm_hints.vector_isa(), platform.machine(), sys.version]
    parts += [os.environ.get("CXX", ""), getattr(torch.version, "git_version", "")]
    text = "\n".join(parts)
    if warm_hints.OPAQUE in text or any(_unstable(v) for v in settings.values()):
        return _bypass("has a value without stable text")
    return hashlib.sha256(text.encode()).hexdigest()


def _unstable(text: str) -> bool:
    """Whether a setting's text differs in another process (an object's address) or does
    not show the setting (a custom pass without ``uuid()``)."""
    return " at 0x" in text or "<unkeyed " in text


def _attribute(gm: torch.fx.GraphModule, target: str) -> Any:
    value: Any = gm
    for part in target.split("."):
        value = getattr(value, part)
    return value


def _bypass(why: str) -> None:
    log.debug("host: package build cache not used: the graph %s", why)
    return None


def _path(key: str) -> str:
    return os.path.join(_torch_compat.inductor_cache_dir(), SUBDIR, f"{key}.pt2")


def lookup(key: str | None, check: Callable[[bytes], str]) -> bytes | None:
    """The package kept under ``key``, if any and ``check`` finds no problem in it."""
    if key is None:
        return None
    try:
        path = _path(key)
        with open(path, "rb") as f:
            data = f.read()
    except Exception:  # no file, no folder, no cache dir (no user name to build it from)
        return None
    try:
        problem = check(data)
    except Exception as error:  # a damaged archive the check itself trips over
        problem = f"{type(error).__name__}: {error}"
    if problem:
        log.info("host: dropping a damaged package from the build cache (%s): %s", path, problem)
        with contextlib.suppress(OSError):
            os.unlink(path)
        return None
    log.debug("host: package from the build cache: %s", path)
    return data


def store(key: str | None, data: bytes) -> None:
    """Keep ``data`` under ``key`` (atomically: a reader sees a whole file or none)."""
    if key is None:
        return
    path = "?"
    try:
        path = _path(key)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
    except Exception as error:  # a full or read-only disk, no cache dir: speed only
        log.info("host: could not keep the package in the build cache (%s): %s", path, error)


def discard(key: str | None) -> None:
    """Drop the package kept under ``key`` (one that does not load here); never raises."""
    if key is None:
        return
    try:
        os.unlink(_path(key))
    except Exception as error:  # gone already, or no cache dir
        log.debug("host: could not drop the package %s from the build cache: %s", key, error)
