"""Collective converters (Hcom ops) and their host semantics, on a one-rank gloo group.

With world size 1 every collective is an identity (avg divides by 1), so
numerics are checked against eager on the same group; the op types and
attributes are checked against TorchAir's (what the oracle shows for the
same functions). Two ranks run in ``tests/test_tensor_parallel.py``.
"""

from __future__ import annotations

import pytest
import torch
import torch.distributed as dist
import torch.distributed._functional_collectives as funcol

from airgraph_core.capture import capture_aten_graph
from airgraph_core.ir.opdefs import prototype
from airgraph_core.lowering import UnsupportedOpError, lower_graph
from airgraph_core.process_groups import (
    ge_group_name,
    host_group_name,
    parse_host_group_name,
    resolve_ge_group,
)
from airgraph_core.targets.host.program import HostProgram
from airgraph_core.testing import check_lowering

pytestmark = pytest.mark.skipif(
    not (dist.is_available() and dist.is_gloo_available()),
    reason="torch.distributed with the gloo backend is not available",
)

WORLD = "tag=ptd:0;rank_list=0"


@pytest.fixture(scope="module", autouse=True)
def one_rank_group():
    """A one-rank gloo world (an in-memory store: no port), and one subgroup."""
    if dist.is_initialized():
        pytest.skip("another test left torch.distributed initialized")
    dist.init_process_group("gloo", store=dist.HashStore(), rank=0, world_size=1)
    sub = dist.new_group([0])
    yield sub
    dist.destroy_process_group()


def hcom_ops(graph):
    return [op for op in graph.ops if op.type.startswith("Hcom")]


def attrs_of(op):
    return {name: attr.value for name, attr in op.attrs.items()}


def assert_declared_attrs(op):
    """Every attribute the op carries is declared by its prototype (required ones all set)."""
    declared = prototype(op.type).attrs
    assert set(op.attrs) <= set(declared), f"{op.type}: undeclared {set(op.attrs) - set(declared)}"
    required = {name for name, a in declared.items() if a.required}
    assert required <= set(op.attrs), f"{op.type}: missing {required - set(op.attrs)}"


# --- all_reduce -------------------------------------------------------------------------

REDUCE_CASES = [
    ("sum", "sum", torch.float32),
    ("sum", "sum", torch.int32),
    ("sum", "sum", torch.float16),
    ("product", "prod", torch.float32),
    ("max", "max", torch.int32),
    ("min", "min", torch.float32),
    ("avg", "sum", torch.float32),
]


def make(shape, dtype):
    if dtype.is_floating_point:
        return torch.randn(shape).to(dtype)
    return torch.randint(-5, 6, shape, dtype=dtype)


@pytest.mark.parametrize("op,reduction,dtype", REDUCE_CASES)
def test_all_reduce(op, reduction, dtype):
    g = check_lowering(
        lambda x: funcol.all_reduce(x, op, dist.group.WORLD) * 2,
        [make((4, 3), dtype)],
        expect_ops=["HcomAllReduce"],
    )
    # wait_tensor's Identity feeds the Mul only: cleanup_graph bypasses it, as TorchAir's graphs.
    assert "Identity" not in g.op_types()
    (hcom,) = hcom_ops(g)
    assert attrs_of(hcom) == {"reduction": reduction, "group": WORLD, "fusion": 0, "fusion_id": -1}
    assert_declared_attrs(hcom)
    assert ("RealDiv" in g.op_types()) == (op == "avg")


def test_in_place_all_reduce_of_an_input_is_assigned_back():
    def fn(x):
        dist.all_reduce(x)
        return x + 1

    g = check_lowering(fn, [torch.randn(4, 3)], expect_ops=["HcomAllReduce", "Assign"])
    assert attrs_of(hcom_ops(g)[0])["reduction"] == "sum"


def test_in_place_all_reduce_of_an_intermediate():
    def fn(x):
        y = x * 2
        dist.all_reduce(y, op=dist.ReduceOp.MAX)
        return y + 1

    g = check_lowering(fn, [torch.randn(4, 3)], expect_ops=["HcomAllReduce"])
    assert "Assign" not in g.op_types()
    assert attrs_of(hcom_ops(g)[0])["reduction"] == "max"


def test_subgroup_is_named_by_its_tag_and_ranks(one_rank_group):
    g = check_lowering(lambda x: funcol.all_reduce(x, "sum", one_rank_group), [torch.randn(3)])
    name = attrs_of(hcom_ops(g)[0])["group"]
    assert name == host_group_name(f"ptd:{one_rank_group.group_name}", [0]) != WORLD
    assert resolve_ge_group(name) is one_rank_group


# --- all_gather / reduce_scatter / all_to_all / broadcast ------------------------------


@pytest.mark.parametrize("dtype", [torch.float32, torch.int64, torch.float16])
def test_all_gather_into_tensor(dtype):
    g = check_lowering(
        lambda x: funcol.all_gather_single(x, 0, dist.group.WORLD) + 1, [make((2, 5), dtype)]
    )
    (hcom,) = hcom_ops(g)
    assert hcom.type == "HcomAllGather"
    assert attrs_of(hcom) == {"group": WORLD, "rank_size": 1, "fusion": 0, "fusion_id": -1}
    assert_declared_attrs(hcom)


@pytest.mark.parametrize("op,reduction", [("sum", "sum"), ("max", "max"), ("avg", "sum")])
def test_reduce_scatter_tensor(op, reduction):
    g = check_lowering(
        lambda x: funcol.reduce_scatter_single(x, op, 0, dist.group.WORLD) - 1,
        [torch.randn(4, 3)],
    )
    (hcom,) = hcom_ops(g)
    assert hcom.type == "HcomReduceScatter"
    assert attrs_of(hcom) == {
        "reduction": reduction,
        "group": WORLD,
        "rank_size": 1,
        "fusion": 0,
        "fusion_id": -1,
    }
    assert_declared_attrs(hcom)


@pytest.mark.parametrize("splits", [None, [4]], ids=["equal", "given"])
@pytest.mark.parametrize("shape", [(4, 3), (4,), (4, 2, 3)])
def test_all_to_all_single(shape, splits):
    g = check_lowering(
        lambda x: funcol.all_to_all_single(x, splits, splits, dist.group.WORLD) * 3,
        [torch.randn(shape)],
    )
    (hcom,) = hcom_ops(g)
    assert hcom.type == "HcomAllToAllV"
    assert attrs_of(hcom) == {"group": WORLD}
    assert_declared_attrs(hcom)
    # send_counts, send_displacements, recv_counts, recv_displacements: elements, as TorchAir.
    counts = [
        g.op(edge.partition(":")[0]).attr("value").to_torch().tolist() for edge in hcom.inputs[1:]
    ]
    numel = torch.Size(shape).numel()
    assert counts == [[numel], [0], [numel], [0]]


def test_broadcast():
    g = check_lowering(lambda x: funcol.broadcast(x, 0, dist.group.WORLD) + 1, [torch.randn(2, 3)])
    (hcom,) = hcom_ops(g)
    assert hcom.type == "HcomBroadcast"
    assert attrs_of(hcom) == {"root_rank": 0, "group": WORLD, "fusion": 0, "fusion_id": -1}
    assert_declared_attrs(hcom)


def test_prototype_dtypes_are_enforced():
    # HcomAllReduce's prototype lists no bf16: a clear error, not an invalid graph.
    gm, inputs = capture_aten_graph(
        lambda x: funcol.all_reduce(x, "sum", dist.group.WORLD), [torch.randn(3).bfloat16()]
    )
    with pytest.raises(UnsupportedOpError, match="all_reduce.*bfloat16"):
        lower_graph(gm, inputs)


# --- group names -----------------------------------------------------------------------


def test_group_name_round_trip():
    assert parse_host_group_name(host_group_name("ptd:3", [0, 2])) == ("ptd:3", [0, 2])
    assert ge_group_name("0") == WORLD


@pytest.mark.parametrize("name", ["0", "rank_list=0", "tag=x"])
def test_malformed_group_names_are_refused(name):
    with pytest.raises(ValueError, match="not a host group name"):
        parse_host_group_name(name)


def test_unknown_groups_are_refused():
    with pytest.raises(ValueError, match=r"no live process group with ranks \[0, 1\]"):
        resolve_ge_group(host_group_name("ptd:0", [0, 1]))
    with pytest.raises(ValueError, match="group_name: no live process group named '99'"):
        ge_group_name("99")


# --- the compiled path -----------------------------------------------------------------


@pytest.mark.slow
def test_inductor_runs_the_collectives_on_every_call():
    def fn(x):
        y = funcol.all_reduce(x * 2, "sum", dist.group.WORLD)
        z = funcol.all_gather_single(y, 0, dist.group.WORLD)
        w = funcol.all_to_all_single(z, None, None, dist.group.WORLD)
        return funcol.broadcast(w, 0, dist.group.WORLD).relu()

    g = check_lowering(fn, [torch.randn(4, 3)], modes=("inductor",))
    program = HostProgram(g, "inductor")
    for _ in range(3):  # the first call specializes; the later ones run Inductor's code
        x = torch.randn(4, 3)
        torch.testing.assert_close(program(x)[0], fn(x))


class _FakeHcclBackend:
    def __init__(self):
        self.calls = []

    def get_hccl_comm_name(self, rank, init_comm=False):
        self.calls.append((rank, init_comm))
        return f"hccl_world_{rank}"


class _FakeNpuGroup:
    """A group as torch_npu makes it: an ``npu`` backend that knows HCCL's communicator name."""

    def __init__(self):
        self.backend = _FakeHcclBackend()

    def _get_backend(self, device):
        if device.type != "npu":
            raise RuntimeError(f"no backend for {device}")
        return self.backend


def test_npu_groups_are_named_by_their_hccl_communicator(monkeypatch):
    import sys
    import types

    from airgraph_core import _torch_compat

    group = _FakeNpuGroup()
    monkeypatch.setattr(_torch_compat, "resolve_process_group", lambda name: group)
    # torch knows the "npu" device type only once torch_npu registered it.
    monkeypatch.setattr(_torch_compat, "_npu_device", lambda: types.SimpleNamespace(type="npu"))
    # Without torch_npu loaded the NPU lookup never runs: the host name is used.
    monkeypatch.delitem(sys.modules, "torch_npu", raising=False)
    assert _torch_compat.hccl_comm_name(group) is None
    monkeypatch.setitem(sys.modules, "torch_npu", types.ModuleType("torch_npu"))
    assert ge_group_name("0") == "hccl_world_0"
    assert group.backend.calls == [(0, True)]  # the communicator is created if it is not yet
    # A gloo group (no npu backend) keeps the host name even with torch_npu loaded.
    assert _torch_compat.hccl_comm_name(dist.group.WORLD) is None
