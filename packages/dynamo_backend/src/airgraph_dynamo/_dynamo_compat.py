"""Every private torch API the backend package uses, in one place.

Upgrading torch means reading this file: each function says why it reaches
into Dynamo, AOTAutograd or the dispatcher and which torch version it was
checked with. The Dynamo -> AOTAutograd capture itself lives in
:func:`airgraph_core.capture.aot_inference_graph` (core's compat module).
"""

from __future__ import annotations

import contextlib
import functools
import traceback
import types
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import torch

__all__ = [
    "OpOverload",
    "aot_input_origin",
    "boxed_call",
    "calls_run_eagerly_during_fx_tracing",
    "dynamo_compile_lock",
    "inductor_remove_noop_ops",
    "dispatch_modes_active",
    "is_alias_of",
    "is_fake",
    "module_state_kind",
    "no_dispatch_modes",
    "placeholder_source",
    "real_mode",
    "shape_guards",
    "size_expr",
    "static_dims",
    "surfaced_backend_error",
]


#: The class of one ATen overload (``torch.ops.aten.add.Tensor``); isinstance checks only.
#: Why: torch has no public name for it. Checked with torch 2.13.
OpOverload = torch._ops.OpOverload


def inductor_remove_noop_ops(graph: torch.fx.Graph) -> None:
    """Inductor's post-grad pass that removes no-op nodes (same-shape views, x + 0...) in place.

    Why: ``remove_noop_ops`` lives in ``torch._inductor.fx_passes.post_grad``;
    importing it imports torch.jit code that warns of its own deprecation,
    silenced here. Checked with torch 2.13.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from torch._inductor.fx_passes.post_grad import remove_noop_ops

    remove_noop_ops(graph)


def placeholder_source(node: torch.fx.Node) -> Any:
    """The Dynamo source (``L['x']``...) of a placeholder of a Dynamo graph, or ``None``.

    Why: Dynamo records it only on private node state (``_dynamo_source``,
    else ``meta["grapharg"].source``). Checked with torch 2.13.
    """
    source = getattr(node, "_dynamo_source", None)
    if source is None:
        source = getattr(node.meta.get("grapharg"), "source", None)
    return source


def module_state_kind(source: Any) -> str | None:
    """``"param"``/``"buffer"`` when a Dynamo source reads a module's parameter or buffer.

    Why: sources are private classes of ``torch._dynamo.source``; with
    ``inline_inbuilt_nn_modules`` a lifted parameter's source reads
    ``<module>._parameters[...]`` (or is a ``ParamBufferSource``).
    Checked with torch 2.13.
    """
    from torch._dynamo import source as sources

    param_sources = tuple(
        getattr(sources, name)
        for name in ("UnspecializedParamBufferSource", "ParamBufferSource")
        if hasattr(sources, name)
    )
    s = source
    while s is not None:
        member = getattr(s, "member", None)
        if isinstance(s, param_sources):
            if member == "_buffers":
                return "buffer"
            return "param"
        if member in ("_parameters", "_buffers"):
            return "param" if member == "_parameters" else "buffer"
        s = getattr(s, "base", None)
    return None


def aot_input_origin(node: torch.fx.Node) -> tuple[str, Any] | None:
    """Where AOTAutograd took an ATen placeholder from.

    Returns ``("arg", index)`` for the Dynamo graph's argument ``index``,
    ``("param", fqn)`` / ``("buffer", fqn)`` for state it lifted itself, or
    ``None`` when unknown.

    Why: the origin is a private descriptor in ``node.meta["desc"]``
    (``torch._functorch._aot_autograd.descriptors``). Checked with torch 2.13.
    """
    from torch._functorch._aot_autograd.descriptors import (
        BufferAOTInput,
        ParamAOTInput,
        PlainAOTInput,
    )

    desc = node.meta.get("desc")
    if isinstance(desc, PlainAOTInput):
        return ("arg", desc.idx)
    if isinstance(desc, ParamAOTInput):
        return ("param", desc.target)
    if isinstance(desc, BufferAOTInput):
        return ("buffer", desc.target)
    return None


def static_dims(value: Any) -> frozenset[int]:
    """The dims of ``value`` marked with ``torch._dynamo.mark_static``.

    Why: the marks live in a private tensor attribute
    (``_dynamo_static_indices``). Checked with torch 2.13.
    """
    return frozenset(getattr(value, "_dynamo_static_indices", ()) or ())


def is_fake(value: Any) -> bool:
    """Whether ``value`` is a fake tensor (AOTAutograd's example inputs while tracing).

    Why: ``FakeTensor`` is private (``torch._subclasses``). Checked with torch 2.13.
    """
    from torch._subclasses.fake_tensor import FakeTensor

    return isinstance(value, FakeTensor)


def real_mode() -> contextlib.AbstractContextManager[Any]:
    """A context in which tensors are real, even inside AOTAutograd's fake mode.

    Why: AOTAutograd calls its compilers with the fake mode still active and
    lowering builds real constant tensors (``unset_fake_temporarily``,
    ``torch._subclasses``). Checked with torch 2.13.
    """
    from torch._subclasses.fake_tensor import unset_fake_temporarily

    return unset_fake_temporarily()


#: ``dispatch_modes_active() -> int``: how many torch dispatch modes are in effect.
#: Why: the per-call test before :func:`no_dispatch_modes`, kept as torch's own
#: function (no wrapper) because it runs on every call. Checked with torch 2.13.
dispatch_modes_active = torch._C._len_torch_dispatch_stack


@contextlib.contextmanager
def no_dispatch_modes() -> Iterator[None]:
    """Step out of the torch dispatch modes in effect, if any.

    Why: AOTAutograd runs the first call under a dispatch mode that checks
    custom-op aliasing; compiling a new specialization must not trace through
    it (``_disable_current_modes``). Checked with torch 2.13.
    """
    if not dispatch_modes_active():
        yield
        return
    from torch.utils._python_dispatch import _disable_current_modes

    with _disable_current_modes():
        yield


def is_alias_of(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Whether ``a`` and ``b`` share storage.

    Why: ``torch._C._is_alias_of`` is the exact check eager uses; the fake
    NPU binding asserts GE's outputs never alias its inputs. Checked with torch 2.13.
    """
    return bool(torch._C._is_alias_of(a, b))


def output_input_aliases() -> dict[int, int] | None:
    """For the ATen graph AOTAutograd is compiling: graph output position -> the
    placeholder position of the input that eager's output is or is a view of.

    ``None`` when no metadata is at hand. Why: after functionalization,
    ``x.add_(1); return x`` and ``y = x + 1; x.copy_(y); return y`` are the
    same graph; only AOTAutograd's output metadata (``ViewAndMutationMeta``
    on the private tracing context) tells them apart. Checked with torch 2.13.
    """
    from torch._guards import TracingContext

    context = TracingContext.try_get()
    meta = None if context is None else context.fw_metadata
    if meta is None:
        return None
    offset = meta.num_mutated_inp_runtime_indices  # updated inputs returned first
    return {
        offset + k: info.base_idx
        for k, info in enumerate(meta.output_info)
        if info.output_type.name in ("is_input", "alias_of_input") and info.base_idx is not None
    }


# -- gears: backed geared sizes and the guards the trace put on them -------------------------


def size_expr(size: torch.SymInt) -> Any:
    """The sympy expression of a symbolic size, with the shape env's replacements applied.

    Why: a geared size is a backed symbol; when the model equates two of them
    (``x1 + x2``) Dynamo replaces one by the other in its ``ShapeEnv``
    (``ShapeEnv.replace``), so ``size.node.expr`` alone may name a symbol the
    graph no longer uses. Checked with torch 2.13.
    """
    node = size.node
    shape_env = getattr(node, "shape_env", None)
    return node.expr if shape_env is None else shape_env.replace(node.expr)


def shape_guards(size: torch.SymInt) -> tuple[list[Any], dict[Any, Any]]:
    """The guards the trace put on sizes so far, and the value range of each size symbol.

    Returns the guards' boolean sympy expressions (replacements applied) and
    ``symbol -> ValueRanges``; Dynamo turns both into the guards of the
    compiled frame. Why: they live on the private-ish ``ShapeEnv`` of the
    symbolic size (``guards``, ``var_to_range``). Checked with torch 2.13.
    """
    shape_env = getattr(size.node, "shape_env", None)
    if shape_env is None:
        return [], {}
    guards = [shape_env.replace(guard.expr) for guard in shape_env.guards]
    return guards, dict(shape_env.var_to_range)


# -- backend errors: airgraph's own error, not Dynamo's wrapper ------------------------------


def surfaced_backend_error(
    error: Exception, backend_name: str, hint: str, first_useful_frame: types.FrameType | None
) -> Exception:
    """``error`` re-typed so that Dynamo passes it to the user as it is.

    The result is an instance of ``type(error)`` and of Dynamo's
    ``BackendCompilerFailed`` (so TorchAir-style ``except
    BackendCompilerFailed`` / ``except RuntimeError`` and its
    ``inner_exception`` still work); it carries ``error``'s attributes and
    its ``str`` is ``error``'s message, then ``hint``, then the user's source
    lines Dynamo records (``real_stack``), without Dynamo's "backend=...
    raised" header and "report a bug to PyTorch" footer (appended to
    ``args[0]``, which this ``str`` does not read). ``error`` itself when its
    class is Dynamo's own or cannot be combined with ``BackendCompilerFailed``.

    Why: Dynamo wraps what a backend raises in ``BackendCompilerFailed`` but
    re-raises a ``ShortenTraceback`` (which ``BackendCompilerFailed`` is)
    unchanged (``OutputGraph._call_user_compiler``, ``convert_frame``);
    ``first_useful_frame`` is where the user's traceback starts
    (``ShortenTraceback.remove_dynamo_frames``). Checked with torch 2.13.
    """
    cls = _surfaced_class(type(error))
    if cls is None:
        return error
    surfaced = cls.__new__(cls, *error.args)
    state = {k: v for k, v in vars(error).items() if k != "real_stack"}
    surfaced.__dict__.update(state)
    surfaced.args = error.args
    surfaced.backend_name = backend_name
    surfaced.inner_exception = error
    surfaced.first_useful_frame = first_useful_frame
    surfaced.airgraph_hint = hint
    return surfaced


def _surfaced_str(self: Any) -> str:
    text = str(self.inner_exception)
    if self.airgraph_hint:
        text = f"{text}\n{self.airgraph_hint}"
    stack = getattr(self, "real_stack", None)
    if stack:
        text = f"{text}\n\nfrom user code:\n{''.join(traceback.format_list(stack))}"
    return text


def _surfaced_repr(self: Any) -> str:
    return repr(self.inner_exception)  # not args[0], to which Dynamo appended its footer


def _surfaced_reduce(self: Any) -> Any:
    return self.inner_exception.__reduce__()  # pickles as the error airgraph raised


@functools.cache
def _surfaced_class(error_class: type[Exception]) -> type[Exception] | None:
    from torch._dynamo.exc import BackendCompilerFailed, TorchDynamoException

    # Dynamo's own exceptions steer its control flow (restart, skip, graph break): untouched.
    if issubclass(error_class, TorchDynamoException):
        return None
    namespace = {
        "__module__": error_class.__module__,
        "__qualname__": error_class.__qualname__,
        "__doc__": error_class.__doc__,
        "__str__": _surfaced_str,
        "__repr__": _surfaced_repr,
        "__reduce__": _surfaced_reduce,
    }
    try:
        return type(error_class.__name__, (error_class, BackendCompilerFailed), namespace)
    except TypeError:  # a class whose layout cannot be combined (e.g. with __slots__)
        return None


def dynamo_compile_lock() -> Any:
    """The lock Dynamo holds while it compiles a frame (a ``threading.RLock``).

    Why: ``gear_compile="background"`` compiles gears with Inductor in a thread;
    holding Dynamo's own lock (``torch._dynamo.convert_frame.compile_lock``)
    keeps a Dynamo compile in another thread from tracing at the same time
    (both would set and restore torch.fx's process-wide tracing flag and could
    leave it set). Checked with torch 2.13.
    """
    from torch._dynamo.convert_frame import compile_lock

    return compile_lock


def calls_run_eagerly_during_fx_tracing() -> Callable[[], None]:
    """In the calling thread: a ``torch.compile``'d function called while FX traces runs eagerly.

    Why: torch.fx's tracing flag (``torch.fx._symbolic_trace._is_fx_tracing_flag``)
    is process-wide; ``make_fx`` in a background Inductor compile sets it, and a
    compiled function called meanwhile in another thread raises "Detected that
    you are using FX to symbolically trace a dynamo-optimized function" unless
    ``torch._dynamo.config.error_on_nested_fx_trace`` is off (a per-thread
    setting): then that call runs the function eagerly, with the same results.
    Checked with torch 2.13.

    Returns:
        A function that puts the calling thread's previous setting back (call
        it from the same thread).
    """
    previous = torch._dynamo.config.error_on_nested_fx_trace
    torch._dynamo.config.error_on_nested_fx_trace = False

    def restore() -> None:
        torch._dynamo.config.error_on_nested_fx_trace = previous

    return restore


def boxed_call(fn: Callable[[list[Any]], Any]) -> Callable[[list[Any]], Any]:
    """Mark ``fn`` (one list of the graph's inputs -> its outputs) as taking AOTAutograd's
    boxed convention, and return it.

    Why: AOTAutograd calls a compiled forward that has ``_boxed_call`` set with
    its list of inputs as it is; any other callable it wraps in
    ``make_boxed_func``, one more Python call and an unpacking of every input on
    each call (``torch._functorch._aot_autograd.utils``). The list is the
    callee's: it may keep or clear it. Checked with torch 2.13.
    """
    fn._boxed_call = True  # type: ignore[attr-defined]
    return fn
