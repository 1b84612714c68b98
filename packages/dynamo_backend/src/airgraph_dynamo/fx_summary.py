"""``debug.fx_summary``: a CSV summary of the ops of the ATen graph, as TorchAir writes it.

One row per op target: the target, its kind (``aten``, ``prims`` or
``builtin``), whether airgraph lowers it (from the converter registry, for
the node as traced: dtypes, ranks and the converter's own check), how often
it occurs, and the distinct input and output signatures with their counts
(most frequent first; tensors shown as ``float32(2, 2)``). The columns are
TorchAir's, and so are its (Chinese) headers, so sheets built for TorchAir's
summaries read ours. The values are read from the graph's ``meta["val"]``:
nothing runs.

The file goes to the working directory as
``summary_rank_<r>_pid_<p>_ts_<t>.csv`` (TorchAir's name and place).
"""

from __future__ import annotations

import csv
import logging
import os
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch
from torch.fx import GraphModule, Node

from airgraph_dynamo import _dynamo_compat

__all__ = ["HEADER", "summarize", "write_summary"]

log = logging.getLogger("airgraph.dynamo")

#: TorchAir's header: target, kind, support status, calls, input stats, output stats.
HEADER = ("目标函数", "函数类型", "支持状态", "调用次数", "输入统计", "输出统计")


def _show(value: Any) -> Any:
    if isinstance(value, Node):
        value = value.meta.get("val", value.name)
    if isinstance(value, torch.Tensor):
        return _Shown(f"{str(value.dtype).split('.')[-1]}{tuple(value.shape)}")
    if isinstance(value, (list, tuple)):
        return type(value)(_show(v) for v in value)
    if isinstance(value, dict):
        return {k: _show(v) for k, v in value.items()}
    return value


class _Shown(str):
    def __repr__(self) -> str:
        return str(self)


def _kind(target: Any) -> str:
    if isinstance(target, _dynamo_compat.OpOverload):
        return "prims" if "prim" in str(target) else "aten"
    return "builtin"


def _status(node: Node) -> str:
    from airgraph_core import registered

    converter = registered().get(node.target)
    if converter is None:
        return "no converter"
    reason = converter.why_unsupported(node)
    return "supported" if reason is None else f"unsupported: {reason}"


def summarize(gm: GraphModule) -> list[list[str]]:
    """The summary rows of ``gm`` (see the module doc), in first-use order."""
    rows: dict[Any, dict[str, Any]] = {}
    for node in (n for n in gm.graph.nodes if n.op == "call_function"):
        row = rows.setdefault(
            node.target, {"statuses": Counter(), "inputs": Counter(), "outputs": Counter()}
        )
        row["statuses"][_status(node)] += 1
        args = _show(tuple(node.args))
        text = f"{args}, {_show(dict(node.kwargs))}" if node.kwargs else f"{args}"
        row["inputs"][text] += 1
        row["outputs"][f"{_show(node.meta.get('val'))}"] += 1
    table = []
    for target, row in rows.items():
        count = sum(row["inputs"].values())
        statuses = row["statuses"]
        status = next(iter(statuses)) if len(statuses) == 1 else "partly supported"
        table.append(
            [
                str(target),
                _kind(target),
                status,
                str(count),
                "\n".join(f"{n}x: {t}" for t, n in row["inputs"].most_common()),
                "\n".join(f"{n}x: {t}" for t, n in row["outputs"].most_common()),
            ]
        )
    return table


def write_summary(gm: GraphModule, folder: str | os.PathLike | None = None) -> Path:
    """Write the summary of ``gm`` as a CSV file and return its path.

    Args:
        gm: the ATen graph.
        folder: where to write; ``None`` for the working directory (TorchAir's).
    """
    import torch.distributed as dist

    rank = dist.get_rank() if dist.is_available() and dist.is_initialized() else 0
    stamp = datetime.now(tz=UTC).strftime("%Y%m%d%H%M%S%f")
    out_dir = Path(folder) if folder is not None else Path.cwd()
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"summary_rank_{rank}_pid_{os.getpid()}_ts_{stamp}.csv"
    with open(path, "w", newline="", encoding="utf-8-sig") as f:
        writer = csv.writer(f)
        writer.writerow(HEADER)
        writer.writerows(summarize(gm))
    log.info("wrote the FX op summary to %s", path)
    return path
