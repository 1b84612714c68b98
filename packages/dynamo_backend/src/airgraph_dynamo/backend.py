"""The ``torch.compile`` backend: ``get_npu_backend`` and ``get_compiler``.

One compile goes: Dynamo's FX graph -> inference check -> AOTAutograd in
inference mode (functionalized; our decompositions merged with the user's;
in-place input updates kept in the graph) -> :class:`AtenCompiler` (lower to
GE, static-marks check, dump, target) -> a callable that runs the target.
"""

from __future__ import annotations

import logging
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
from airgraph_dynamo.inputs import aten_input_origins, dynamo_module_state_positions
from airgraph_dynamo.targets import Target
from airgraph_dynamo.ungeared import specialize_ungeared_dims

__all__ = ["InferenceOnlyError", "NpuBackend", "get_compiler", "get_npu_backend"]

log = logging.getLogger("airgraph.dynamo")


class InferenceOnlyError(RuntimeError):
    """Raised when a graph would need autograd: airgraph compiles inference graphs only."""


class NpuBackend:
    """The object ``get_npu_backend`` returns: a Dynamo backend ``(gm, example_inputs) -> callable``.

    Attributes:
        config: the backend's own copy of the :class:`CompilerConfig`.
        decompositions: the merged decomposition table handed to AOTAutograd.
        compiler: the :class:`AtenCompiler` (its ``compiled`` list records
            every graph).
    """

    def __init__(
        self,
        config: CompilerConfig,
        decompositions: dict,
        *,
        target: Target | None = None,
    ) -> None:
        self.config = config.copy()
        self.decompositions = decompositions
        self.compiler = AtenCompiler(self.config, target=target)
        # Dynamo names the backend by __name__ in its logs and errors.
        self.__name__ = "airgraph"

    @property
    def compiled(self) -> list[CompiledGraph]:
        """One record per ATen graph compiled by this backend, oldest first."""
        return self.compiler.compiled

    @property
    def graphs(self) -> list[GeGraph]:
        """The GE graphs compiled by this backend, oldest first (``graphs[-1]`` is the latest)."""
        return self.compiler.graphs

    def __call__(self, gm: GraphModule, example_inputs: Sequence[Any]) -> Callable[..., Any]:
        _check_inference(gm, example_inputs)
        dynamo_inputs = list(example_inputs)
        # TorchAir: with gears, dims without gears are static (also under dynamic=True).
        specialize_ungeared_dims(gm, dynamo_inputs)

        def fw_compiler(aten_gm: GraphModule, aten_inputs: Sequence[Any]) -> Callable[..., Any]:
            origins = aten_input_origins(aten_gm, gm, dynamo_inputs)
            return self.compiler.compile(aten_gm, aten_inputs, origins=origins)

        return aot_inference_graph(gm, example_inputs, fw_compiler, self.decompositions)

    def __repr__(self) -> str:
        return f"NpuBackend({self.config!r})"


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
    return NpuBackend(config, merge_decompositions(custom_decompositions), target=target)


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
