"""The NPU target: GE on an Ascend NPU through torch_npu's TorchAir binding.

torch_npu ships TorchAir's pybind module ``_torchair`` (at
``torch_npu.dynamo.torchair.core._torchair``). This target drives it the way
TorchAir does, per graph:

1. once per process: ``InitializeGraphEngine(options)`` with the device id
   (``ge.exec.deviceId``), ``ge_run_with_torch_npu="1"`` and the global op
   compile options (``ge.exec.allow_hf32``, ``ge.deterministic``), after
   importing ``_npu_graph_executor`` (it registers the NPU executor);
2. ``TorchNpuGraphBase(name).load(proto_bytes, options, input_placements,
   output_dtypes, executor_type)``: the serialized ``ModelDef``, the GE
   options as ``dict[str, str]`` and the graph attributes
   ``_input_placements`` (0 host, 1 device), ``_output_dtypes`` (ge::
   numbering) and ``_executor_type`` (0 CPU, 1 NPU) as ``list[int]``/``int``;
3. ``set_hint_shape(input_shapes, [])``: the ``Data`` shapes in index order
   (``-1`` for dynamic dims);
4. ``compile()``;
5. per call ``run((inputs, assigned_outputs, stream))`` with one tensor per
   ``Data`` op (host scalars as 0-d int64 CPU tensors), ``[]`` to let GE
   allocate the outputs and ``None`` for the current stream; it returns the
   output tensors.

A graph that updates inputs in place is loaded as TorchAir loads it
(:func:`airgraph_core.input_updates.updates_as_outputs`): each update is an
output sharing the input's memory (``ge.exec.outputReuseInputMemIndexes``),
and ``assigned_outputs`` holds the input tensor at that output's position
(``None`` elsewhere); the outputs added for updates are not returned. With
``experimental_config.enable_ref_data`` those inputs arrive as ``RefData``
ops (:func:`airgraph_core.input_updates.as_ref_data`), which are loaded as
they are, as TorchAir loads them.

Nothing here imports torch_npu until a graph is compiled; tests pass a fake
binding instead (``NpuTarget(binding=...)``, see
:func:`airgraph_core.targets.fake_npu.make_fake_npu_binding`).
"""

from __future__ import annotations

import atexit
import importlib
import importlib.util
import logging
import sys
import threading
from collections.abc import Mapping, Sequence
from types import ModuleType
from typing import Any, ClassVar

import torch

from airgraph_core.input_updates import reuse_option, updates_as_outputs
from airgraph_core.ir.graph import GeGraph
from airgraph_core.targets.base import Executable, Target, TargetCapabilities

__all__ = [
    "BINDING_MODULE",
    "NpuExecutable",
    "NpuTarget",
    "engine_options",
    "load_binding",
    "npu_available",
]

log = logging.getLogger("airgraph.core")

#: Where torch_npu keeps TorchAir's pybind module.
BINDING_MODULE = "torch_npu.dynamo.torchair.core._torchair"
_EXECUTOR_MODULE = "torch_npu.dynamo.torchair.core._npu_graph_executor"

_engine_lock = threading.Lock()
# Set on the binding module once GE is initialized: GE allows one
# initialization per process, and the binding is a per-process singleton.
_STARTED_FLAG = "_airgraph_engine_started"


def npu_available() -> bool:
    """True when torch_npu is installed and at least one NPU is visible.

    torch_npu is only imported when it is installed; its import is slow, so
    machines without it pay nothing.
    """
    if "torch_npu" not in sys.modules and importlib.util.find_spec("torch_npu") is None:
        return False
    try:
        import torch_npu  # noqa: F401 - registers torch.npu

        return bool(torch.npu.is_available())
    except Exception as e:  # a broken CANN install must not break host runs
        log.warning("torch_npu is installed but unusable (%s); using the host target", e)
        return False


def load_binding() -> ModuleType:
    """Import torch_npu's ``_torchair`` module and register its NPU executor.

    Returns:
        The binding module (``TorchNpuGraphBase``, ``InitializeGraphEngine``, ...).

    Raises:
        RuntimeError: torch_npu (with its TorchAir part) is not installed.
    """
    try:
        import torch_npu  # noqa: F401 - registers the NPU device with torch

        binding = importlib.import_module(BINDING_MODULE)
        importlib.import_module(_EXECUTOR_MODULE)
    except ImportError as e:
        raise RuntimeError(
            f"the NPU target needs torch_npu with its GE binding ({BINDING_MODULE}); "
            f"import failed: {e}. Install airgraph's npu extra on an Ascend machine, "
            "or set airgraph_config.target = 'host'"
        ) from e
    return binding


def engine_options(device_id: int | None = None) -> dict[str, str]:
    """The ``InitializeGraphEngine`` options (all values are strings, as GE wants).

    Args:
        device_id: the NPU to run on; ``None`` for torch_npu's current device.
    """
    if device_id is None:
        device_id = torch.npu.current_device() if hasattr(torch, "npu") else 0
    hf32 = "10"  # GE's default: hf32 for convolutions, not for matmul
    npu = getattr(torch, "npu", None)
    if npu is not None and hasattr(npu, "conv") and hasattr(npu, "matmul"):
        hf32 = ("1" if npu.conv.allow_hf32 else "0") + ("1" if npu.matmul.allow_hf32 else "0")
    return {
        "ge.exec.deviceId": str(int(device_id)),
        "ge_run_with_torch_npu": "1",
        "ge.exec.allow_hf32": hf32,
        "ge.deterministic": "1" if torch.are_deterministic_algorithms_enabled() else "0",
    }


def _ensure_engine(binding: Any, device_id: int | None) -> None:
    with _engine_lock:
        if getattr(binding, _STARTED_FLAG, False):
            return
        options = engine_options(device_id)
        log.debug("GE: InitializeGraphEngine(%s)", options)
        binding.InitializeGraphEngine(options)
        setattr(binding, _STARTED_FLAG, True)
        finalize = getattr(binding, "FinalizeGraphEngine", None)
        if finalize is not None:
            atexit.register(finalize)


def _serialize(graph: GeGraph) -> bytes:
    try:
        from airgraph_core.ir.serialize import serialize
    except ImportError as e:  # pragma: no cover - depends on the installed core
        raise RuntimeError(
            "the NPU target needs GE protobuf serialization "
            "(airgraph_core.ir.serialize), which this airgraph-core lacks"
        ) from e
    return serialize(graph)


def _int_list_attr(graph: GeGraph, name: str) -> list[int]:
    attr = graph.attrs.get(name)
    if attr is None:
        raise ValueError(f"graph: GE graph {graph.name!r} lacks the graph attribute {name!r}")
    return [int(v) for v in attr.value]


class NpuExecutable(Executable):
    """A GE graph loaded and compiled by the GE runtime."""

    def __init__(
        self,
        graph: GeGraph,
        npu_graph: Any,
        host_inputs: Sequence[bool],
        reuse: Mapping[int, int] | None = None,
        outputs: int | None = None,
    ) -> None:
        self.graph = graph
        self.npu_graph = npu_graph
        self._host_inputs = list(host_inputs)
        # Output position -> Data index of the input whose memory it is.
        self._reuse = dict(reuse or {})
        self._returned = len(graph.net_output.data_inputs)
        # The loaded graph's outputs: the returned ones, then those added for updates.
        self._outputs = self._returned if outputs is None else outputs

    def __call__(self, inputs: Sequence[Any]) -> list[Any]:
        if len(inputs) != len(self._host_inputs):
            raise ValueError(
                f"inputs: graph {self.graph.name!r} takes {len(self._host_inputs)} "
                f"inputs, got {len(inputs)}"
            )
        tensors = [
            torch.tensor(int(v), dtype=torch.int64)
            if host and not isinstance(v, torch.Tensor)
            else v
            for v, host in zip(inputs, self._host_inputs)
        ]
        if not self._reuse:
            return list(self.npu_graph.run((tensors, [], None)))
        assigned: list[Any] = [None] * self._outputs
        for output, data in self._reuse.items():
            assigned[output] = tensors[data]
        return list(self.npu_graph.run((tensors, assigned, None)))[: self._returned]


class NpuTarget(Target):
    """Compiles GE graphs with the GE runtime in torch_npu.

    Args:
        binding: the ``_torchair`` module to drive; ``None`` imports
            torch_npu's at the first compile (tests pass a fake).
        device_id: the NPU for ``ge.exec.deviceId``; ``None`` for torch_npu's
            current device.
    """

    name = "npu"
    capabilities: ClassVar[TargetCapabilities] = TargetCapabilities(
        device="npu", compiles_per_shape=False, gear_options=True
    )
    unavailable_hint: ClassVar[str] = (
        "torch_npu or an Ascend NPU is not available; install the npu extra on an NPU machine"
    )

    def __init__(self, binding: Any = None, *, device_id: int | None = None) -> None:
        self._binding = binding
        self.device_id = device_id

    @classmethod
    def available(cls) -> bool:
        """Whether torch_npu and an NPU are here (see :func:`npu_available`)."""
        return npu_available()

    @classmethod
    def from_options(
        cls, *, binding: Any = None, device_id: int | None = None, **options: Any
    ) -> NpuTarget:
        """An NPU target on ``binding`` (``None``: torch_npu's) and ``device_id``."""
        return cls(binding, device_id=device_id)

    @property
    def binding(self) -> Any:
        """The ``_torchair`` module this target drives (torch_npu's, imported at first use)."""
        if self._binding is None:
            self._binding = load_binding()
        return self._binding

    def compile(self, graph: GeGraph, options: Mapping[str, str] | None = None) -> NpuExecutable:
        """Serialize ``graph``, load it into GE with ``options``, set hint shapes, compile.

        Args:
            graph: the lowered GE graph (with ``_input_placements``,
                ``_output_dtypes`` and ``_executor_type`` graph attributes).
            options: GE options, ``str`` to ``str`` (e.g. ``ge.inputShape``,
                ``ge.dynamicDims``, ``ge.dynamicNodeType`` for gears).

        Returns:
            The executable.

        Raises:
            TypeError: an option name or value is not a ``str``.
            ValueError: the graph lacks a required graph attribute.
            RuntimeError: torch_npu's binding is missing.
        """
        ge_options: dict[str, str] = {}
        for key, value in (options or {}).items():
            if not isinstance(key, str) or not isinstance(value, str):
                raise TypeError(
                    f"options: GE options are str -> str, got {key!r}: {value!r} "
                    f"({type(value).__name__})"
                )
            ge_options[key] = value
        lowered = graph
        graph, reuse = updates_as_outputs(graph)
        ge_options.update(reuse_option(reuse))
        binding = self.binding
        _ensure_engine(binding, self.device_id)
        placements = _int_list_attr(graph, "_input_placements")
        output_dtypes = _int_list_attr(graph, "_output_dtypes")
        executor_type = int(graph.attrs["_executor_type"].value)
        datas = graph.data_ops
        hint_shapes = [
            [-2] if op.output_descs[0].shape is None else list(op.output_descs[0].shape)
            for op in datas
        ]

        npu_graph = binding.TorchNpuGraphBase(str(graph.name))
        npu_graph.load(_serialize(graph), ge_options, placements, output_dtypes, executor_type)
        npu_graph.set_hint_shape(hint_shapes, [])
        npu_graph.compile()
        log.info("npu: compiled GE graph %s (%d ops)", graph.name, len(graph.ops))
        outputs = len(graph.net_output.data_inputs)
        return NpuExecutable(lowered, npu_graph, [p == 0 for p in placements], reuse, outputs)

    def __repr__(self) -> str:
        return f"NpuTarget(device_id={self.device_id!r})"
