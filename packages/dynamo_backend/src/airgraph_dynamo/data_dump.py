"""``debug.data_dump``: run the ATen graph op by op and save each op's tensors, as TorchAir does.

With ``debug.data_dump.type = "npy"`` the graph is not compiled: it runs
eagerly (TorchAir does the same and says so in a warning), and every ATen op
call writes its inputs and outputs as ``.npy`` files::

    <path>/worldsize1_global_rank0/graph_<n>/<call>/<node>-<target>.INPUT.<i>.<ts>.npy
    <path>/worldsize1_global_rank0/graph_<n>/<call>/<node>-<target>.OUTPUT.<i>.<ts>.npy

``<call>`` counts the graph's calls from 0; a list input gets ``.<i>.<j>``;
under ``torch.distributed`` with more than one rank the folder is
``worldsize<W>_global_rank<R>``. ``bfloat16`` is saved as ``float32`` (numpy
has no bfloat16). ``debug.data_dump.filter``, when set, is called with each
FX node: ``None`` skips the node, otherwise the node it returns is dumped.
``path`` defaults to the working directory.

``dump_config.enable_dump`` on the host target (:class:`GeOpDumper`) dumps
per GE op instead, as GE does on the NPU: the graph is compiled as usual,
and each dumped call (``dump_step``) runs op by op with the host semantics
(the ``interpret`` mode's pass, also in ``inductor`` mode), writing::

    <dump_path>/worldsize1_global_rank0/<graph>/<step>/<op>.output.<i>.npy
    <dump_path>/worldsize1_global_rank0/<graph>/<step>/<op>.input.<i>.npy
    <dump_path>/worldsize1_global_rank0/<graph>/<step>/index.csv

``<op>`` is the GE op's name (as in the ``debug.graph_dump`` of the graph;
characters other than letters, digits, ``_``, ``-`` and ``.`` become
``_``), ``<step>`` counts the graph's calls from 0. ``index.csv`` has a row
per tensor: ``op_name, op_type, io, index, dtype, shape, file`` and, with
``dump_data="stats"`` (no ``.npy`` files then), ``min, max, mean``.
``dump_mode`` picks ``input``, ``output`` or ``all`` tensors; ``Data`` ops
have outputs only, ``Const`` and ``NetOutput`` are not dumped; an op that
writes an input in place (``Assign``) is dumped with the input as before
the write. ``dump_layer`` (op names, space-separated) limits the dump to
those ops and the ``Data`` ops feeding them. ``quant_dumpable``,
``dump_config_path`` and ``data_dump_stage`` have no meaning on the host.
"""

from __future__ import annotations

import csv
import logging
import os
import re
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import torch
from torch.fx import GraphModule, Interpreter, Node

from airgraph_core import GeGraph
from airgraph_core.input_updates import as_plain_data
from airgraph_core.ir.graph import GeOp, parse_edge
from airgraph_core.targets.base import Artifact, Executable
from airgraph_core.targets.host.program import specialize
from airgraph_dynamo import _dynamo_compat

__all__ = ["DataDumper", "GeOpDumper", "parse_dump_steps"]

log = logging.getLogger("airgraph.dynamo")


def _numpy() -> Any:
    try:
        import numpy
    except ImportError as e:  # torch runs without numpy; .npy dumps do not
        raise ImportError("debug.data_dump.type='npy' needs numpy: pip install numpy") from e
    return numpy


def _as_numpy(value: Any) -> Any:
    np = _numpy()
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu()
        if value.dtype == torch.bfloat16:
            value = value.to(torch.float32)
        return value.numpy()
    try:
        return np.array(value)
    except Exception:  # noqa: BLE001 - any value gets a dump, if only as text
        return np.array(f"{value}")


def _rank_folder() -> str:
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        return f"worldsize{dist.get_world_size()}_global_rank{dist.get_rank()}"
    return "worldsize1_global_rank0"


class DataDumper(Interpreter):
    """Runs an ATen graph eagerly, saving each ATen op's inputs and outputs.

    Args:
        gm: the ATen graph.
        name: the graph's name (its folder).
        folder: the dump root; ``None`` for the working directory.
        node_filter: ``debug.data_dump.filter`` (see the module doc), or None.

    Attributes:
        calls: how many calls ran (the next call's folder number).
    """

    def __init__(
        self,
        gm: GraphModule,
        name: str,
        folder: str | os.PathLike | None = None,
        node_filter: Callable[[Node], Node | None] | None = None,
    ) -> None:
        super().__init__(gm, garbage_collect_values=True)
        self.name = name
        self.root = os.fspath(folder) if folder is not None else os.getcwd()
        self.node_filter = node_filter
        self.calls = 0
        self._node: Node | None = None

    @property
    def call_folder(self) -> str:
        """The folder of the current call's files."""
        return os.path.join(self.root, _rank_folder(), self.name, str(self.calls))

    def __call__(self, *args: Any) -> Any:
        try:
            return self.run(*args)
        finally:
            self.calls += 1

    def run_node(self, n: Node) -> Any:
        dumped = n
        if self.node_filter is not None:
            dumped = self.node_filter(n)
        self._node = dumped
        try:
            return super().run_node(n)
        finally:
            self._node = None

    def call_function(self, target: Any, args: tuple, kwargs: dict) -> Any:
        node = self._node
        if node is None or not isinstance(target, _dynamo_compat.OpOverload):
            return super().call_function(target, args, kwargs)
        np = _numpy()
        folder = self.call_folder
        os.makedirs(folder, exist_ok=True)  # a file in the way: NotADirectoryError, as TorchAir
        stamp = datetime.now(tz=UTC).strftime("%Y%m%d%H%M%S%f")
        prefix = os.path.join(folder, f"{node.name}-{target}")
        for i, arg in enumerate(args):
            if isinstance(arg, (list, tuple)) and arg and isinstance(arg[0], torch.Tensor):
                for j, tensor in enumerate(arg):
                    np.save(f"{prefix}.INPUT.{i}.{j}.{stamp}", _as_numpy(tensor))
            else:
                np.save(f"{prefix}.INPUT.{i}.{stamp}", _as_numpy(arg))
        result = super().call_function(target, args, kwargs)
        outputs = result if isinstance(result, (list, tuple)) else [result]
        for i, tensor in enumerate(outputs):
            np.save(f"{prefix}.OUTPUT.{i}.{stamp}", _as_numpy(tensor))
        return result


def parse_dump_steps(text: str) -> Callable[[int], bool] | None:
    """``dump_config.dump_step`` (``"0|3-5|10"``) as a test of a step; ``None`` for every step.

    Raises:
        ValueError: ``text`` is not ``|``-separated steps and ``a-b`` ranges.
    """
    text = text.strip()
    if not text:
        return None
    ranges = []
    for part in (p.strip() for p in text.split("|") if p.strip()):
        match = re.fullmatch(r"(\d+)(?:-(\d+))?", part)
        if match is None:
            raise ValueError(f"dump_step: {part!r} in {text!r} is not a step or a range 'a-b'")
        low = int(match.group(1))
        high = int(match.group(2)) if match.group(2) is not None else low
        ranges.append((low, high))
    return lambda step: any(low <= step <= high for low, high in ranges)


_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")


class GeOpDumper(Executable):
    """Runs a host executable, dumping each GE op's tensors on the selected calls.

    Calls outside ``dump_step`` run ``executable`` itself; the dumped ones
    run the graph op by op (see the module doc for the layout).

    Args:
        executable: the host target's executable of ``graph``.
        name: the graph's name (its folder).
        dump_path: the dump root (``dump_config.dump_path``).
        dump_mode: ``"input"``, ``"output"`` or ``"all"``.
        dump_step: ``dump_config.dump_step`` (``""``: every call).
        dump_layer: ``dump_config.dump_layer`` (``""``: every op).
        dump_data: ``"tensor"`` (``.npy`` files) or ``"stats"`` (only ``index.csv``).

    Attributes:
        calls: how many calls ran (the next call's step).
    """

    def __init__(
        self,
        executable: Executable,
        name: str,
        dump_path: str | os.PathLike = "./",
        dump_mode: str = "all",
        dump_step: str = "",
        dump_layer: str = "",
        dump_data: str = "tensor",
    ) -> None:
        if dump_mode not in ("input", "output", "all"):
            raise ValueError(f"dump_mode: expected 'input', 'output' or 'all', got {dump_mode!r}")
        if dump_data not in ("tensor", "stats"):
            raise ValueError(f"dump_data: expected 'tensor' or 'stats', got {dump_data!r}")
        self.executable = executable
        self.graph = executable.graph
        self._plain = as_plain_data(executable.graph)
        self.name = name
        self.root = os.fspath(dump_path)
        self.dump_mode, self.dump_data = dump_mode, dump_data
        self._step_dumped = parse_dump_steps(dump_step)
        self._ops = _selected_ops(self._plain, dump_layer)
        self.calls = 0

    def __call__(self, inputs: Sequence[Any]) -> list[Any]:
        step = self.calls
        self.calls += 1
        if self._step_dumped is not None and not self._step_dumped(step):
            return self.executable(inputs)
        return self._dump_call(list(inputs), step)

    def step_folder(self, step: int) -> str:
        """The folder of one call's dumps."""
        return os.path.join(self.root, _rank_folder(), self.name, str(step))

    def export_artifacts(self) -> list[Artifact]:
        return self.executable.export_artifacts()

    def load_artifacts(self, artifacts: Sequence[Artifact]) -> None:
        self.executable.load_artifacts(artifacts)

    def _dump_call(self, inputs: list[Any], step: int) -> list[Any]:
        folder = self.step_folder(step)
        os.makedirs(folder, exist_ok=True)
        rows: list[list[Any]] = []

        def on_op(op: GeOp, ins: list[Any], outs: list[Any]) -> None:
            if self._ops is not None and op.name not in self._ops:
                return
            if self.dump_mode != "output":
                for i, value in enumerate(ins):
                    rows.extend(self._write(folder, op, "input", i, value))
            if self.dump_mode != "input":
                for i, value in enumerate(outs):
                    rows.extend(self._write(folder, op, "output", i, value))

        outputs = specialize(self._plain, inputs, on_op=on_op)[2]
        header = ["op_name", "op_type", "io", "index", "dtype", "shape", "file"]
        if self.dump_data == "stats":
            header += ["min", "max", "mean"]
        with open(os.path.join(folder, "index.csv"), "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(header)
            writer.writerows(rows)
        log.debug("dump_config: %d tensors of %s step %d in %s", len(rows), self.name, step, folder)
        return outputs

    def _write(self, folder: str, op: GeOp, io: str, index: int, value: Any) -> list[list[Any]]:
        if value is None:
            return []
        tensor = value if isinstance(value, torch.Tensor) else torch.as_tensor(value)
        dtype = str(tensor.dtype).removeprefix("torch.")
        row: list[Any] = [op.name, op.type, io, index, dtype, "x".join(map(str, tensor.shape))]
        if self.dump_data == "stats":
            return [row + ["", *_stats(tensor)]]
        file = f"{_UNSAFE.sub('_', op.name)}.{io}.{index}.npy"
        _numpy().save(os.path.join(folder, file), _as_numpy(tensor))
        return [row + [file]]


def _selected_ops(graph: GeGraph, dump_layer: str) -> set[str] | None:
    """The names of the ops ``dump_layer`` names, and of the Data ops feeding them (None: all)."""
    names = set(dump_layer.split())
    if not names:
        return None
    datas = {op.name for op in graph.data_ops}
    for op in graph.ops:
        if op.name in names:
            names.update(
                src for src, _ in map(parse_edge, filter(None, op.data_inputs)) if src in datas
            )
    return names


def _stats(tensor: torch.Tensor) -> list[Any]:
    if tensor.numel() == 0 or tensor.is_complex():
        return ["", "", ""]
    t = tensor.detach().to(torch.float64)
    return [t.min().item(), t.max().item(), t.mean().item()]
