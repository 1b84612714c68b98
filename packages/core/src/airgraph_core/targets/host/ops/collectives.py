"""Host semantics of the Hcom ops: collectives through ``torch.distributed``.

Each Hcom op runs as the matching functional collective
(``torch.ops._c10d_functional``) on the live process group its ``group``
attribute names (see :func:`airgraph_core.process_groups.resolve_ge_group`),
then waits for it: GE runs a collective to completion inside the graph.
Functional collectives are ordinary ATen ops with fake-tensor kernels, so
Inductor traces and compiles them with the compute around them (its own
comm lowerings), and interpret mode calls them directly. Every rank must
run the same graph: the collectives meet in graph order.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from airgraph_core.process_groups import resolve_ge_group
from airgraph_core.targets.host.semantics import host_op

c10d = torch.ops._c10d_functional

#: GE ``reduction`` -> the reduce op name of the functional collectives.
REDUCE_OPS = {"sum": "sum", "prod": "product", "max": "max", "min": "min"}


def _group(attrs: dict[str, Any]) -> str:
    return resolve_ge_group(attrs["group"]).group_name


def _reduce_op(attrs: dict[str, Any]) -> str:
    reduction = attrs["reduction"]
    if reduction not in REDUCE_OPS:
        raise NotImplementedError(
            f"reduction: {reduction!r} is not one of GE's {sorted(REDUCE_OPS)}"
        )
    return REDUCE_OPS[reduction]


@host_op("HcomAllReduce")
def all_reduce(inputs: list[Any], attrs: dict[str, Any]) -> torch.Tensor:
    return c10d.wait_tensor(c10d.all_reduce(inputs[0], _reduce_op(attrs), _group(attrs)))


@host_op("HcomAllGather")
def all_gather(inputs: list[Any], attrs: dict[str, Any]) -> torch.Tensor:
    out = c10d.all_gather_into_tensor(inputs[0], attrs["rank_size"], _group(attrs))
    return c10d.wait_tensor(out)


@host_op("HcomReduceScatter")
def reduce_scatter(inputs: list[Any], attrs: dict[str, Any]) -> torch.Tensor:
    out = c10d.reduce_scatter_tensor(
        inputs[0], _reduce_op(attrs), attrs["rank_size"], _group(attrs)
    )
    return c10d.wait_tensor(out)


@host_op("HcomAllToAllV", const_inputs=(1, 2, 3, 4))
def all_to_all_v(inputs: list[Any], attrs: dict[str, Any]) -> torch.Tensor:
    x, send_counts, send_displs, recv_counts, recv_displs = inputs
    # Counts are elements of the flattened tensor; the functional collective
    # splits rows of dim 0. The converter emits packed displacements (the
    # prefix sums of the counts), which is all the host runs.
    for what, counts, displs in (
        ("send", send_counts, send_displs),
        ("recv", recv_counts, recv_displs),
    ):
        if list(displs) != [sum(counts[:i]) for i in range(len(counts))]:
            raise NotImplementedError(
                f"{what}_displacements: {list(displs)} leave gaps between the counts "
                f"{list(counts)}; the host target runs packed splits only"
            )
    row = math.prod(x.shape[1:])
    if x.dim() == 0 or any(c % row for c in [*send_counts, *recv_counts]):
        raise NotImplementedError(
            f"send_counts {list(send_counts)}, recv_counts {list(recv_counts)}: the host "
            f"target runs whole rows of dim 0 ({row} elements each) only"
        )
    out = c10d.all_to_all_single(
        x, [c // row for c in recv_counts], [c // row for c in send_counts], _group(attrs)
    )
    return c10d.wait_tensor(out)


@host_op("HcomBroadcast")
def broadcast(inputs: list[Any], attrs: dict[str, Any]) -> Any:
    group = _group(attrs)
    outs = [c10d.wait_tensor(c10d.broadcast(x, attrs["root_rank"], group)) for x in inputs]
    # One tensor for one input: the host program indexes only multi-output results.
    return outs[0] if len(outs) == 1 else outs
