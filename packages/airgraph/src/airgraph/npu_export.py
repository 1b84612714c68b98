"""TorchAir's ``torchair.dynamo_export``: write a model's GE graph to files, offline.

``dynamo_export(x, y, model=model, export_path="export_file")`` traces
``model(x, y)`` as the backend would (Dynamo with ``fullgraph=True``, then
AOTAutograd in inference mode), lowers it to one GE graph with the model's
parameters and buffers embedded as ``Const`` ops (the inputs stay ``Data``),
and writes, as TorchAir does:

* ``<export_path>/<export_name>.air``: the GE ``ModelDef`` protobuf (what
  Ascend's ATC tool and ``airgraph graph`` read);
* ``<export_path>/dynamo.pbtxt``: the same graph as protobuf text.

Tracing runs the model once on CPU (as ``torch.compile`` does); nothing runs
on a device. What TorchAir's export does beyond this is not
provided: weights in external files (``FileConstant``), multi-rank exports with
ATC's ``model_relation_config.json`` / ``numa_config.json``, ``RefData`` inputs
for in-place updated inputs (here they are ``Data`` + ``Assign``), and
``config.export.experimental`` options.

Example::

    import torch
    import airgraph as torchair

    model = torch.nn.Linear(4, 2)
    torchair.dynamo_export(torch.randn(3, 4), model=model, export_path="export_file")
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import torch

__all__ = ["dynamo_export"]


def dynamo_export(
    *args: Any,
    model: torch.nn.Module,
    export_path: str = "export_file",
    export_name: str = "export",
    dynamic: bool = False,
    config: Any = None,
    **kwargs: Any,
) -> None:
    """Trace ``model(*args, **kwargs)`` and write its GE graph to ``export_path``.

    Args:
        args: the model's example inputs.
        model: the module to export (its parameters and buffers become ``Const`` ops).
        export_path: the folder to write into (created if missing).
        export_name: the ``.air`` file's name, without suffix.
        dynamic: trace with symbolic sizes (``-1`` dims in the graph).
        config: a ``CompilerConfig``; accepted for TorchAir's signature, its
            options do not change the exported graph here.
        kwargs: keyword inputs of the model.

    Raises:
        TypeError: ``model`` is not a ``torch.nn.Module``.
        airgraph_core.UnsupportedOpError: the graph has ops airgraph cannot lower.
    """
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"model: expected a torch.nn.Module, got {type(model).__name__}")
    from airgraph_core import lower_graph, serialize, to_pbtxt
    from airgraph_core.capture import capture_aten_graph

    def call(*inputs: Any) -> Any:
        return model(*inputs, **kwargs)

    with torch.no_grad():
        gm, inputs = capture_aten_graph(call, args, dynamic=dynamic)
    state = {id(t) for t in itertools.chain(model.parameters(), model.buffers())}
    frozen = [i for i, value in enumerate(inputs) if id(value) in state]
    graph = lower_graph(gm, inputs, name=export_name, frozen_inputs=frozen)
    folder = Path(export_path)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{export_name}.air").write_bytes(serialize(graph))
    (folder / "dynamo.pbtxt").write_text(to_pbtxt(graph))
