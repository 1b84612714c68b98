"""The ``torch.compile`` backend: ``get_npu_backend`` and ``get_compiler``.

One compile goes: Dynamo's FX graph -> inference check -> AOTAutograd in
inference mode (functionalized; our decompositions merged with the user's;
in-place input updates kept in the graph) -> :class:`AtenCompiler` (lower to
GE, static-marks check, dump, target) -> a callable that runs the target.
"""

from __future__ import annotations

import copy
import inspect
import logging
import types
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch.fx import GraphModule

from airgraph_core import GeGraph
from airgraph_core.capture import aot_inference_graph
from airgraph_core.decompositions import merge_decompositions
from airgraph_dynamo import _dynamo_compat
from airgraph_dynamo.compiler import AtenCompiler, CompiledGraph
from airgraph_dynamo.config import CompilerConfig
from airgraph_dynamo.gear_dispatch import GearedRunner
from airgraph_dynamo.inputs import aten_input_origins, dynamo_module_state_positions
from airgraph_dynamo.targets import Target
from airgraph_dynamo.ungeared import specialize_ungeared_dims

__all__ = [
    "InferenceOnlyError",
    "NpuBackend",
    "get_compiler",
    "get_npu_backend",
    "user_facing_error",
]

log = logging.getLogger("airgraph.dynamo")


class InferenceOnlyError(RuntimeError):
    """Raised when a graph would need autograd: airgraph compiles inference graphs only."""


class NpuBackend:
    """The object ``get_npu_backend`` returns: a Dynamo backend ``(gm, example_inputs) -> callable``.

    Copies and pickles (``transformers``' ``generate`` deep-copies the
    backend of a ``CompileConfig``): ``copy.deepcopy(backend)`` is a backend
    with a deep copy of the config that shares this one's compiler, so its
    compiles land in the same ``compiled`` records (the records themselves are
    not copied) and run this backend's first-call hooks; a copy compares equal
    to the backend it was copied from. ``pickle`` saves the options, the
    user's decompositions (functions by reference, as pickle does) and a target
    given to ``get_npu_backend``; the loaded backend has no records and
    compiles again.

    Attributes:
        config: the backend's own copy of the :class:`CompilerConfig`.
        decompositions: the merged decomposition table handed to AOTAutograd.
        custom_decompositions: the user's table as given to ``get_npu_backend``
            (``None`` for none), from which a pickled backend rebuilds
            ``decompositions``.
        compiler: the :class:`AtenCompiler` (its ``compiled`` list records
            every graph).
    """

    def __init__(
        self,
        config: CompilerConfig,
        decompositions: dict,
        *,
        target: Target | None = None,
        custom_decompositions: dict | None = None,
    ) -> None:
        self.config = config.copy()
        self.decompositions = decompositions
        self.custom_decompositions = (
            None if custom_decompositions is None else dict(custom_decompositions)
        )
        self.compiler = AtenCompiler(self.config, target=target)
        # Dynamo names the backend by __name__ in its logs and errors.
        self.__name__ = "airgraph"

    def __deepcopy__(self, memo: dict[int, Any]) -> NpuBackend:
        new = type(self).__new__(type(self))
        memo[id(self)] = new
        new.config = copy.deepcopy(self.config, memo)
        # The tables map ops to functions, which copy as themselves: shared.
        new.decompositions = self.decompositions
        new.custom_decompositions = self.custom_decompositions
        new.compiler = copy.deepcopy(self.compiler, memo)
        new.__name__ = self.__name__
        return new

    def __copy__(self) -> NpuBackend:
        new = type(self).__new__(type(self))
        new.__dict__.update(self.__dict__)
        return new

    def __reduce__(self) -> tuple[Any, ...]:
        return (
            _load_backend,
            (type(self), self.config, _by_op_name(self.custom_decompositions), self.compiler),
        )

    # Equal backends compile alike into the same records: copies of one backend.
    # transformers compares CompileConfigs to decide whether to compile again.
    def __eq__(self, other: object) -> bool:
        if not isinstance(other, NpuBackend):
            return NotImplemented
        return (
            self.compiler.compiled is other.compiler.compiled
            and self.config == other.config
            and self.compiler.config == other.compiler.config
            and self.decompositions == other.decompositions
        )

    def __hash__(self) -> int:
        return hash(id(self.compiler.compiled))

    @property
    def compiled(self) -> list[CompiledGraph]:
        """One record per ATen graph compiled by this backend, oldest first."""
        return self.compiler.compiled

    @property
    def graphs(self) -> list[GeGraph]:
        """The GE graphs compiled by this backend, oldest first (``graphs[-1]`` is the latest)."""
        return self.compiler.graphs

    def __call__(
        self,
        gm: GraphModule,
        example_inputs: Sequence[Any],
        *,
        mode: str | None = None,
        options: dict | None = None,
    ) -> Callable[..., Any]:
        """Compile Dynamo's graph ``gm`` (Dynamo calls this).

        Args:
            gm: Dynamo's FX graph.
            example_inputs: one (fake) value per placeholder.
            mode: ``torch.compile``'s ``mode=``, which it passes on to a
                backend (``transformers``' ``CompileConfig`` sets
                ``"reduce-overhead"``). Its modes tune Inductor; they do not
                change what airgraph builds, so it is accepted and logged.
                TorchAir's modes are ``CompilerConfig.mode``.
            options: ``torch.compile``'s ``options=``: Inductor's options,
                which airgraph does not take; only ``None``/``{}`` is accepted.

        Returns:
            The callable Dynamo runs in place of the graph.

        Raises:
            InferenceOnlyError: grad mode is on and graph inputs require grad.
            TypeError: ``mode`` is not a string, or ``options`` is given.
            airgraph_core.UnsupportedOpError: some ops cannot be lowered and
                ``airgraph_config.unsupported_op`` is ``"error"``.

        An error airgraph raises here reaches the user as that error (its
        class, message and a fix hint), not as Dynamo's
        ``BackendCompilerFailed`` wrapper; it is also a
        ``BackendCompilerFailed`` (``inner_exception`` is the error itself) for
        code written against TorchAir. Errors from torch pass through as
        Dynamo reports them.
        """
        try:
            return self._compile(gm, example_inputs, mode, options)
        except Exception as error:
            surfaced = user_facing_error(error, self.__name__, inspect.currentframe())
            if surfaced is error:
                raise
            raise surfaced.with_traceback(error.__traceback__) from error.__cause__

    def _compile(
        self, gm: GraphModule, example_inputs: Sequence[Any], mode: Any, options: Any
    ) -> Callable[..., Any]:
        _check_compile_arguments(mode, options)
        _check_inference(gm, example_inputs)
        dynamo_inputs = list(example_inputs)
        # TorchAir: with gears, dims without gears are static (also under dynamic=True).
        specialize_ungeared_dims(gm, dynamo_inputs)

        def fw_compiler(aten_gm: GraphModule, aten_inputs: Sequence[Any]) -> Callable[..., Any]:
            origins = aten_input_origins(aten_gm, gm, dynamo_inputs)
            compiled = self.compiler.compile(aten_gm, aten_inputs, origins=origins)
            # A geared graph: AOTAutograd calls the dispatch itself with its list of inputs.
            return compiled.boxed if isinstance(compiled, GearedRunner) else compiled

        return aot_inference_graph(gm, example_inputs, fw_compiler, self.decompositions)

    def __repr__(self) -> str:
        return f"NpuBackend({self.config!r})"


_UNSUPPORTED_HINT = (
    'Hint: set config.airgraph_config.unsupported_op = "fallback" to run such graphs '
    "eagerly in PyTorch (the others still compile); `airgraph ops --op NAME` lists the "
    "supported ATen ops."
)


def user_facing_error(
    error: Exception, backend_name: str = "airgraph", frame: types.FrameType | None = None
) -> Exception:
    """The exception a Dynamo backend raises so that an airgraph error reaches the user as itself.

    Dynamo wraps whatever a backend raises in its ``BackendCompilerFailed``
    ("backend=... raised:" and a "report a bug to PyTorch" footer). For an
    error airgraph raised (its class is airgraph's, or airgraph code raised
    it), this returns an exception that Dynamo lets through: an instance of
    ``type(error)`` with its attributes, whose message is ``error``'s plus a
    fix hint where there is one, and which is also a ``BackendCompilerFailed``
    whose ``inner_exception`` is ``error`` (code written against TorchAir
    catches that). Any other error is returned as it is.

    Args:
        error: what the backend caught.
        backend_name: the backend's name (``BackendCompilerFailed.backend_name``).
        frame: the backend's frame that caught ``error``; the user's traceback
            starts there (Dynamo's own frames are left out).

    Returns:
        The exception to raise, with ``error.__traceback__``; ``error`` itself
        when it is not airgraph's or is already such an exception.

    Examples:
        >>> try:
        ...     compiled = backend(gm, example_inputs)  # doctest: +SKIP
        ... except Exception as error:
        ...     surfaced = user_facing_error(error, "airgraph", inspect.currentframe())
        ...     if surfaced is error:
        ...         raise
        ...     raise surfaced.with_traceback(error.__traceback__) from error.__cause__
    """
    if not _raised_by_airgraph(error):
        return error
    return _dynamo_compat.surfaced_backend_error(error, backend_name, _hint_for(error), frame)


def _raised_by_airgraph(error: BaseException) -> bool:
    """Whether airgraph raised ``error``: its class is airgraph's, or its raising frame is in airgraph."""
    if type(error).__module__.startswith("airgraph"):
        return True
    tb = error.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    return tb is not None and str(tb.tb_frame.f_globals.get("__name__", "")).startswith("airgraph")


def _hint_for(error: BaseException) -> str:
    # The compiler's fallback catches NotImplementedError (UnsupportedOpError and
    # a GE op the target lacks), so that is what the fallback hint is for.
    return _UNSUPPORTED_HINT if isinstance(error, NotImplementedError) else ""


def _check_compile_arguments(mode: Any, options: Any) -> None:
    if mode is not None and not isinstance(mode, str):
        raise TypeError(
            f"mode: expected torch.compile's mode (a str) or None, got {type(mode).__name__}"
        )
    if options:
        raise TypeError(
            f"options: airgraph takes no torch.compile options (they are Inductor's), got "
            f"{_names(options)}; set airgraph's options on the CompilerConfig given to "
            "get_npu_backend"
        )
    if mode is not None and mode != "default":
        log.info(
            "torch.compile mode=%r tunes Inductor and does not change what airgraph builds; "
            "TorchAir's modes are CompilerConfig.mode",
            mode,
        )


def _names(options: Any) -> str:
    """The option names (not their values, which may be any object) for a message."""
    if isinstance(options, dict):
        return ", ".join(repr(str(name)) for name in options)
    return f"a {type(options).__name__}"


def _check_inference(gm: GraphModule, example_inputs: Sequence[Any]) -> None:
    if not torch.is_grad_enabled():
        return
    needing = [
        i for i, x in enumerate(example_inputs) if isinstance(x, torch.Tensor) and x.requires_grad
    ]
    if not needing:
        return
    names = []
    placeholders = list(gm.graph.find_nodes(op="placeholder"))
    state = dynamo_module_state_positions(gm, example_inputs)
    for i in needing[:5]:
        source = (
            _dynamo_compat.placeholder_source(placeholders[i]) if i < len(placeholders) else None
        )
        kind = state.get(i, ("input", ""))[0]
        names.append(f"{kind} {source.name if source is not None else f'#{i}'}")
    more = f" and {len(needing) - 5} more" if len(needing) > 5 else ""
    raise InferenceOnlyError(
        "airgraph compiles inference graphs only, but grad mode is on and "
        f"{len(needing)} graph input(s) require grad ({', '.join(names)}{more}). "
        "Call the compiled model under torch.no_grad() or torch.inference_mode(), "
        "or set requires_grad=False on those tensors."
    )


def _by_op_name(table: dict | None) -> list[tuple[str, Any]] | None:
    """A decomposition table with ops as names (``"aten.add.Tensor"``): ops cannot be pickled."""
    if table is None:
        return None
    return [(str(op), fn) for op, fn in table.items()]


def _op_from_name(name: str) -> Any:
    namespace, *rest = name.split(".")
    op = getattr(torch.ops, namespace)
    for part in rest:
        op = getattr(op, part)
    return op


def _load_backend(
    cls: type[NpuBackend],
    config: CompilerConfig,
    custom: list[tuple[str, Any]] | None,
    compiler: AtenCompiler,
) -> NpuBackend:
    """A pickled :class:`NpuBackend` loaded (see its docstring)."""
    table = None if custom is None else {_op_from_name(name): fn for name, fn in custom}
    backend = cls(config, merge_decompositions(table), custom_decompositions=table)
    backend.compiler = compiler
    return backend


def _validate_config(compiler_config: Any) -> CompilerConfig:
    if compiler_config is None:
        return CompilerConfig()
    if not isinstance(compiler_config, CompilerConfig):
        raise TypeError(
            "compiler_config: expected an airgraph CompilerConfig or None, got "
            f"{type(compiler_config).__name__}"
        )
    return compiler_config


def get_npu_backend(
    *,
    compiler_config: CompilerConfig | None = None,
    custom_decompositions: dict | None = None,
    target: Target | None = None,
) -> NpuBackend:
    """Create the airgraph backend for ``torch.compile``.

    The config is copied: changing it afterwards does not affect this backend.

    Args:
        compiler_config: the options; ``None`` for the defaults.
        custom_decompositions: the user's decompositions, a dict from ATen
            ``OpOverload``/``OpOverloadPacket`` to a callable, merged over
            airgraph's table (the user's entries win); ``None`` for ours only.
        target: a :class:`~airgraph_dynamo.targets.Target` object to compile
            with, overriding the config's target choice (e.g. an NPU target
            over a fake binding in tests); ``None`` to select by the config.

    Returns:
        An :class:`NpuBackend`, usable as ``torch.compile(model,
        backend=...)``. Its ``graphs`` / ``compiled`` attributes expose the
        GE graphs it compiled.

    Raises:
        TypeError: ``compiler_config`` is not a ``CompilerConfig``, or
            ``custom_decompositions`` is malformed.

    Examples:
        >>> import torch
        >>> from airgraph_dynamo import CompilerConfig, get_npu_backend
        >>> backend = get_npu_backend(compiler_config=CompilerConfig())
        >>> model = torch.compile(torch.nn.ReLU(), backend=backend, fullgraph=True)
    """
    config = _validate_config(compiler_config)
    if target is not None and not isinstance(target, Target):
        raise TypeError(
            f"target: expected an airgraph_dynamo.targets.Target or None, got {type(target).__name__}"
        )
    return NpuBackend(
        config,
        merge_decompositions(custom_decompositions),
        target=target,
        custom_decompositions=custom_decompositions,
    )


def get_compiler(compiler_config: CompilerConfig | None = None) -> AtenCompiler:
    """The ATen-graph compiler that ``get_npu_backend`` uses, on its own.

    Use it as the ``fw_compiler`` of your own AOTAutograd backend, e.g.
    ``aot_module_simplified(gm, inputs, fw_compiler=get_compiler(config),
    keep_inference_input_mutations=True)`` under ``torch.no_grad()``. On its
    own it knows nothing about Dynamo: with ``frozen_parameter`` it freezes
    only inputs that are real ``nn.Parameter`` tensors.

    Args:
        compiler_config: the options; ``None`` for the defaults.

    Returns:
        An :class:`~airgraph_dynamo.compiler.AtenCompiler`:
        ``compiler(aten_gm, example_inputs) -> callable``.

    Raises:
        TypeError: ``compiler_config`` is not a ``CompilerConfig``.
    """
    return AtenCompiler(_validate_config(compiler_config))
