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
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import torch
from torch.fx import GraphModule, Interpreter, Node

from airgraph_dynamo import _dynamo_compat

__all__ = ["DataDumper"]

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
