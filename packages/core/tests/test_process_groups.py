"""What a GE graph records of its process groups, and how a later run finds them again.

On a one-rank gloo world (an in-memory store): group names resolve by tag
and ranks, else by ranks alone (what survives a restart), else are refused
by their ranks; a live group's ranks; the distributed layout the cache key
records; the collective schedule ranks compare before a first run.
"""

from __future__ import annotations

import pytest
import torch
import torch.distributed as dist
import torch.distributed._functional_collectives as funcol

from airgraph_core.process_groups import (
    collective_schedule,
    default_store,
    distributed_layout,
    graph_group_names,
    host_group_name,
    live_group_ranks,
    resolve_ge_group,
)
from airgraph_core.testing import check_lowering

pytestmark = pytest.mark.skipif(
    not (dist.is_available() and dist.is_gloo_available()),
    reason="torch.distributed with the gloo backend is not available",
)


def test_outside_a_distributed_run():
    if dist.is_initialized():
        pytest.skip("another test left torch.distributed initialized")
    assert distributed_layout() == {}
    assert live_group_ranks(object()) is None
    with pytest.raises(ValueError, match=r"ranks \[0\].*not initialized"):
        resolve_ge_group(host_group_name("ptd:0", [0]))
    with pytest.raises(RuntimeError, match="not initialized"):
        default_store()


@pytest.fixture(scope="module")
def world():
    """A one-rank gloo world and one subgroup of it."""
    if dist.is_initialized():
        pytest.skip("another test left torch.distributed initialized")
    dist.init_process_group("gloo", store=dist.HashStore(), rank=0, world_size=1)
    sub = dist.new_group([0])
    yield sub
    dist.destroy_process_group()


def test_a_group_is_found_by_tag_and_ranks_then_by_ranks(world):
    tag_of_sub = f"ptd:{world.group_name}"
    assert resolve_ge_group(host_group_name(tag_of_sub, [0])) is world
    # Another run created its groups in another order: the tag names nothing, the ranks do.
    found = resolve_ge_group(host_group_name("ptd:41", [0]))
    assert dist.get_process_group_ranks(found) == [0]


def test_a_group_whose_ranks_are_not_live_is_refused_by_its_ranks(world):
    with pytest.raises(ValueError, match=r"no live process group with ranks \[0, 1\].*world of 1"):
        resolve_ge_group(host_group_name("ptd:0", [0, 1]))


def test_live_group_ranks(world):
    assert live_group_ranks(dist.group.WORLD) == [0]
    assert live_group_ranks(world) == [0]
    for not_a_group in (None, 0, "0", torch.ones(1)):
        assert live_group_ranks(not_a_group) is None


def test_distributed_layout_and_store(world):
    assert distributed_layout() == {"world_size": 1, "backend": "gloo"}
    store = default_store()
    store.set("airgraph/test", "1")
    assert store.get("airgraph/test") == b"1"


def test_collective_schedule_lists_the_collectives_in_graph_order(world):
    def fn(x):
        y = funcol.all_reduce(x * 2, "max", dist.group.WORLD)
        z = funcol.all_gather_single(y.to(torch.float16), 0, world)
        return funcol.reduce_scatter_single(z, "sum", 0, dist.group.WORLD)

    graph = check_lowering(fn, [torch.randn(4, 3)])
    names = graph_group_names(graph)
    assert names == [host_group_name("ptd:0", [0]), host_group_name(f"ptd:{world.group_name}", [0])]
    schedule = collective_schedule(graph)
    assert [entry[0] for entry in schedule] == [
        "HcomAllReduce",
        "HcomAllGather",
        "HcomReduceScatter",
    ]
    assert schedule[0][1] == {"group": names[0], "reduction": "max"}
    assert schedule[1][1] == {"group": names[1], "rank_size": 1}
    assert schedule[2][1] == {"group": names[0], "reduction": "sum", "rank_size": 1}
    assert [entry[2] for entry in schedule] == [["FLOAT"], ["FLOAT16"], ["FLOAT16"]]
    assert [entry[3] for entry in schedule] == [[2], [2], [2]]


def test_a_graph_without_collectives_has_an_empty_schedule(world):
    graph = check_lowering(lambda x: x * 2 + 1, [torch.randn(3)])
    assert collective_schedule(graph) == [] and graph_group_names(graph) == []
