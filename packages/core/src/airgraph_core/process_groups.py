"""How a GE graph names a ``torch.distributed`` process group.

Hcom ops carry their process group as the string attribute ``group``.
The name depends on where the group's communicator lives, as in TorchAir:

* a group with an NPU (HCCL) backend is named by HCCL's communicator name,
  which the GE runtime looks up on the NPU;
* any other group (gloo on the host target) is named
  ``tag=<tag>;rank_list=<r0>,<r1>,...``: stable across restarts as long as
  the program creates its groups in the same order, and enough for the host
  target to find the live group again (:func:`resolve_ge_group`).

Examples:
    >>> host_group_name("ptd:0", [0, 1])
    'tag=ptd:0;rank_list=0,1'
    >>> parse_host_group_name("tag=ptd:0;rank_list=0,1")
    ('ptd:0', [0, 1])
"""

from __future__ import annotations

from typing import Any

import torch.distributed as dist

from airgraph_core import _torch_compat

__all__ = [
    "HCOM_OPS",
    "collective_schedule",
    "default_store",
    "distributed_layout",
    "ge_group_name",
    "graph_group_names",
    "group_ranks",
    "host_group_name",
    "live_group_ranks",
    "parse_host_group_name",
    "resolve_ge_group",
]

#: The GE op types that communicate; every rank of their group must run them in the same order.
HCOM_OPS = frozenset(
    {"HcomAllReduce", "HcomAllGather", "HcomReduceScatter", "HcomAllToAllV", "HcomBroadcast"}
)
#: Attributes of an Hcom op that every rank of its group must agree on.
_SCHEDULE_ATTRS = ("group", "reduction", "rank_size", "root_rank")


def host_group_name(tag: str, ranks: list[int]) -> str:
    """The ``group`` attribute of a host (non-HCCL) group: its tag and ranks."""
    return f"tag={tag};rank_list={','.join(str(r) for r in ranks)}"


def parse_host_group_name(name: str) -> tuple[str, list[int]]:
    """``(tag, ranks)`` from a name made by :func:`host_group_name`.

    Raises:
        ValueError: ``name`` is not of the form ``tag=<tag>;rank_list=<ranks>``.
    """
    tag_part, sep, ranks_part = name.rpartition(";rank_list=")
    if not sep or not tag_part.startswith("tag="):
        raise ValueError(
            f"name: {name!r} is not a host group name; expected 'tag=<tag>;rank_list=<r0>,<r1>,...'"
        )
    ranks = [int(r) for r in ranks_part.split(",")] if ranks_part else []
    return tag_part.removeprefix("tag="), ranks


def group_ranks(group_name: str) -> list[int]:
    """Global ranks of the live group registered as ``group_name`` (``'0'`` is the default group)."""
    return dist.get_process_group_ranks(_torch_compat.resolve_process_group(group_name))


def ge_group_name(group_name: str) -> str:
    """The GE ``group`` attribute for the live group registered as ``group_name``.

    Args:
        group_name: the name Dynamo's functional collectives carry.

    Returns:
        HCCL's communicator name where the group has an NPU backend, else
        the host name (see :func:`host_group_name`).

    Raises:
        ValueError: no such group (``torch.distributed`` not initialized, or
            the group was destroyed).
    """
    try:
        group = _torch_compat.resolve_process_group(group_name)
    except (RuntimeError, ValueError, KeyError) as e:
        raise ValueError(f"group_name: no live process group named {group_name!r} ({e})") from e
    hccl = _torch_compat.hccl_comm_name(group)
    if hccl:
        return hccl
    ranks = dist.get_process_group_ranks(group)
    return host_group_name(_torch_compat.group_tag(group), ranks)


def resolve_ge_group(name: str) -> Any:
    """The live process group a host Hcom op's ``group`` attribute names.

    The group with the name's tag and ranks; where there is none (the
    program created its groups in another order than the run that compiled
    the graph), the first live group with exactly those global ranks: a
    group's ranks are what survives a restart.

    Raises:
        ValueError: ``name`` is malformed, or no live group has its ranks
            (another world size, or the group was not created here).
    """
    tag, ranks = parse_host_group_name(name)
    if not dist.is_initialized():
        raise ValueError(
            f"group: the graph's collectives run on the process group of ranks {ranks}, but "
            "torch.distributed is not initialized (call dist.init_process_group first)"
        )
    group = _torch_compat.find_process_group(tag, ranks)
    if group is None:
        group = _torch_compat.find_process_group_by_ranks(ranks)
    if group is None:
        raise ValueError(
            f"group: no live process group with ranks {ranks} (tag {tag!r}) in this world of "
            f"{dist.get_world_size()} ranks; create the groups of the run that compiled the graph"
        )
    return group


def live_group_ranks(group: Any) -> list[int] | None:
    """Global ranks of ``group`` if it is a live process group of this process, else None.

    What identifies a process group across restarts (its Python object does not).
    """
    if not (dist.is_available() and dist.is_initialized()) or not isinstance(
        group, dist.ProcessGroup
    ):
        return None
    try:
        return list(dist.get_process_group_ranks(group))
    except (RuntimeError, ValueError, KeyError):  # destroyed, or another world's
        return None


def distributed_layout() -> dict[str, Any]:
    """What a compiled program of this process depends on in ``torch.distributed``.

    Returns:
        ``{}`` outside a distributed run; else ``{"world_size", "backend"}``
        (the default group's). The rank is not in it: ranks of one job share
        a layout.
    """
    if not (dist.is_available() and dist.is_initialized()):
        return {}
    return {"world_size": dist.get_world_size(), "backend": str(dist.get_backend())}


def default_store() -> Any:
    """The key-value store the default process group was initialized with (torchrun's).

    Raises:
        RuntimeError: ``torch.distributed`` is not initialized.
    """
    if not (dist.is_available() and dist.is_initialized()):
        raise RuntimeError("torch.distributed is not initialized: no default store")
    return _torch_compat.default_store()


def graph_group_names(graph: Any) -> list[str]:
    """The ``group`` attributes of ``graph``'s Hcom ops, each once, in graph order."""
    names: list[str] = []
    for op in graph.ops:
        if op.type in HCOM_OPS and op.attr("group") not in names:
            names.append(op.attr("group"))
    return names


def collective_schedule(graph: Any) -> list[list[Any]]:
    """The collectives of ``graph`` in the order they run, as every rank of a group must run them.

    Each entry is ``[op type, {attribute: value}, input dtypes, input ranks]``:
    what two ranks meeting in the collective must agree on (shapes may differ,
    e.g. uneven all-to-all splits, and are left out). Empty for a graph
    without collectives.
    """
    from airgraph_core.ir.graph import topological_order

    schedule: list[list[Any]] = []
    for op in topological_order(graph.ops):
        if op.type not in HCOM_OPS:
            continue
        attrs = {a: op.attr(a) for a in _SCHEDULE_ATTRS if op.attr(a) is not None}
        descs = op.input_descs
        dtypes = [str(d.dtype.name) for d in descs]
        ranks = [None if d.shape is None else len(d.shape) for d in descs]
        schedule.append([op.type, attrs, dtypes, ranks])
    return schedule
