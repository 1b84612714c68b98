"""Private torch APIs that core calls, each with why and the torch versions checked.

Upgrading torch means reading this file: every underscore API of torch (and
of torch_npu) that ``airgraph_core`` relies on is called from here.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.distributed as dist

__all__ = [
    "find_process_group",
    "group_tag",
    "hccl_comm_name",
    "resolve_process_group",
]


def resolve_process_group(group_name: str) -> Any:
    """The live process group whose registered name is ``group_name``.

    Why: Dynamo's functional collectives carry the group as this name
    (``'0'`` for the default group); only c10d's registry maps it back.
    Checked with torch 2.13.
    """
    return dist.distributed_c10d._resolve_process_group(group_name)


def group_tag(group: Any) -> str:
    """The tag c10d files ``group`` under (``'ptd:<name>'`` unless the user gave one).

    Why: TorchAir names host groups by tag and ranks; there is no public
    accessor of the tag. Checked with torch 2.13.
    """
    return dist.distributed_c10d._get_group_tag(group)


def find_process_group(tag: str, ranks: list[int]) -> Any | None:
    """The live group with ``tag`` and exactly ``ranks``, or ``None``.

    Why: the inverse of :func:`group_tag` plus ranks; c10d keeps that index
    privately. Checked with torch 2.13.
    """
    return dist.distributed_c10d._find_pg_by_ranks_and_tag(tag, ranks)


def hccl_comm_name(group: Any) -> str | None:
    """HCCL's communicator name of ``group`` on this rank, or ``None`` when
    ``group`` has no NPU (HCCL) backend or torch_npu is not loaded.

    Why: GE's Hcom ops find their communicator by this name; torch_npu
    exposes it only on the backend object (``ProcessGroup._get_backend``,
    private in torch) as ``get_hccl_comm_name``. Checked with torch 2.13;
    the NPU branch follows TorchAir's use of the same calls.
    """
    import sys

    if "torch_npu" not in sys.modules:
        return None
    try:
        backend = group._get_backend(_npu_device())
    except (RuntimeError, TypeError, ValueError):
        return None
    get_name = getattr(backend, "get_hccl_comm_name", None)
    if get_name is None:
        return None
    return get_name(dist.get_rank(), init_comm=True)


def _npu_device() -> torch.device:
    # The "npu" device type exists only once torch_npu has registered it.
    return torch.device("npu")
