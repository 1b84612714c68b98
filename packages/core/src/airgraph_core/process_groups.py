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
    "ge_group_name",
    "group_ranks",
    "host_group_name",
    "parse_host_group_name",
    "resolve_ge_group",
]


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

    Raises:
        ValueError: ``name`` is malformed, or no live group has its tag and
            ranks (the groups of the compiling run were not created here).
    """
    tag, ranks = parse_host_group_name(name)
    group = _torch_compat.find_process_group(tag, ranks) if dist.is_initialized() else None
    if group is None:
        raise ValueError(
            f"group: no live process group with tag {tag!r} and ranks {ranks} "
            "(create the same groups, in the same order, as the run that compiled the graph)"
        )
    return group
