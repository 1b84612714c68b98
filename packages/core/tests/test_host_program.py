"""The host target: specialization, constant folding, caching, both modes."""

from __future__ import annotations

import struct

import pytest
import torch

from airgraph_core import HostProgram
from airgraph_core.ir import DataType, GraphBuilder
from airgraph_core.targets.host import lookup_host_op, specialize


def _add_graph(shape=(2, -1)):
    b = GraphBuilder("add")
    x = b.data(0, DataType.FLOAT, shape)
    y = b.data(1, DataType.FLOAT, shape)
    b.net_output([b.op("Add", x, y, out=x.spec)])
    return b.graph


def test_interpret_runs_and_caches_per_signature():
    prog = HostProgram(_add_graph(), "interpret")
    x, y = torch.randn(2, 3), torch.randn(2, 3)
    (out,) = prog(x, y)
    torch.testing.assert_close(out, x + y)
    prog(torch.randn(2, 3), torch.randn(2, 3))
    assert len(prog._compiled) == 1
    prog(torch.randn(2, 5), torch.randn(2, 5))
    assert len(prog._compiled) == 2


def test_constants_feeding_only_constants_are_folded():
    b = GraphBuilder("fold")
    x = b.data(0, DataType.FLOAT, (3,))
    c = b.op("Add", b.const(1.0), b.const(2.0), out=(DataType.FLOAT, ()))
    b.net_output([b.op("Add", x, c, out=x.spec)])
    gm, tensors, first = specialize(b.graph, [torch.zeros(3)])
    torch.testing.assert_close(first[0], torch.full((3,), 3.0))
    calls = [n.target for n in gm.graph.nodes if n.op == "call_function"]
    # The constant Add ran at build time; its result is a literal in the graph.
    assert len(calls) == 2 and calls[0] is torch.full, gm.code
    assert not list(gm.buffers())
    torch.testing.assert_close(gm(*tensors)[0], torch.full((3,), 3.0))


def test_shape_of_a_runtime_tensor_is_folded():
    b = GraphBuilder("shape")
    x = b.data(0, DataType.FLOAT, (-1, 2))
    s = b.op("Shape", x, out=(DataType.INT64, (2,)), dtype=DataType.INT64.ge_code)
    b.net_output([s])
    prog = HostProgram(b.graph, "interpret")
    (out,) = prog(torch.zeros(5, 2))
    assert out.tolist() == [5, 2]
    assert out.dtype is torch.int64


def test_host_scalar_inputs_are_part_of_the_signature():
    b = GraphBuilder("scalar")
    x = b.data(0, DataType.FLOAT, (-1,))
    n = b.data(1, DataType.INT64, (), placement="CPU")
    b.net_output(
        [b.op("Add", x, b.op("Cast", n, out=(DataType.FLOAT, ()), dst_type=0), out=x.spec)]
    )
    prog = HostProgram(b.graph, "interpret")
    (out,) = prog(torch.zeros(2), 3)
    assert out.tolist() == [3.0, 3.0]
    (out,) = prog(torch.zeros(2), 4)
    assert out.tolist() == [4.0, 4.0]
    assert len(prog._compiled) == 2


def test_assign_updates_the_input_in_place():
    b = GraphBuilder("assign")
    cache = b.data(0, DataType.FLOAT, (4,))
    new = b.data(1, DataType.FLOAT, (4,))
    a = b.op("Assign", cache, new, out=cache.spec)
    b.net_output([], control=[a.op])
    prog = HostProgram(b.graph, "interpret")
    c = torch.zeros(4)
    prog(c, torch.ones(4))
    assert c.tolist() == [1.0] * 4


def test_bad_arguments():
    with pytest.raises(ValueError, match="mode: 'fast'"):
        HostProgram(_add_graph(), "fast")
    prog = HostProgram(_add_graph(), "interpret")
    with pytest.raises(ValueError, match="takes 2 inputs, got 1"):
        prog(torch.zeros(2, 2))
    with pytest.raises(NotImplementedError, match="no semantics for GE op 'NoSuchOp'"):
        lookup_host_op("NoSuchOp")


@pytest.mark.slow
def test_inductor_mode_matches_interpret():
    g = _add_graph()
    program = HostProgram(g, "inductor")
    program(torch.randn(2, 3), torch.randn(2, 3))  # runs op by op while Inductor compiles
    x, y = torch.randn(2, 3), torch.randn(2, 3)
    (a,) = program(x, y)  # the compiled code
    (b,) = HostProgram(g, "interpret")(x, y)
    torch.testing.assert_close(a, b)


def test_signature_json_round_trip():
    from airgraph_core.targets.host.package import signature_from_json, signature_to_json

    prog = HostProgram(_add_graph(), "interpret")
    sig = prog.signature([torch.zeros(2, 3), torch.zeros(2, 3)])
    assert signature_from_json(signature_to_json(sig)) == sig
    assert sig == ((2, 3), (2, 3))
    with pytest.raises(ValueError, match="data"):
        signature_from_json([["x"]])
    with pytest.raises(ValueError, match="data"):
        signature_from_json([True])


@pytest.mark.slow
def test_aot_package_runs_without_compiling_and_updates_inputs_in_place():
    from airgraph_core.targets.host.package import export_package, load_package

    b = GraphBuilder("pkg")
    cache = b.data(0, DataType.FLOAT, (2, 3))
    x = b.data(1, DataType.FLOAT, (2, 3))
    total = b.op("Add", cache, x, out=cache.spec)
    assign = b.op("Assign", cache, total, out=cache.spec)
    b.net_output([b.op("Add", total, total, out=cache.spec)], control=[assign.op])
    source = HostProgram(b.graph, "interpret")
    c, v = torch.zeros(2, 3), torch.ones(2, 3)
    source(c, v)
    data = export_package(source, source.signatures[0])

    fresh = HostProgram(b.graph, "interpret")
    load_package(fresh, source.signatures[0], data)
    c2 = torch.full((2, 3), 5.0)
    (out,) = fresh(c2, v)
    assert fresh.signatures == source.signatures
    with pytest.raises(KeyError):  # it ran the package: nothing was specialized or compiled
        fresh.specialized_module(source.signatures[0])
    torch.testing.assert_close(out, torch.full((2, 3), 12.0))
    torch.testing.assert_close(c2, torch.full((2, 3), 6.0))


def test_large_foldable_values_are_computed_not_baked_in():
    b = GraphBuilder("mask")
    x = b.data(0, DataType.FLOAT, (64, 64))
    ones = b.op("Fill", b.const([64, 64]), b.const(1.0), out=(DataType.FLOAT, (64, 64)))
    tril = b.op("Tril", ones, out=ones.spec, diagonal=0)
    b.net_output([b.op("Mul", x, tril, out=x.spec)])
    gm, _, first = specialize(b.graph, [torch.ones(64, 64)])
    targets = [getattr(n.target, "__name__", "") for n in gm.graph.nodes if n.op == "call_function"]
    assert targets == ["full", "ge_Fill", "ge_Tril", "ge_Mul"], targets  # full: the fill value
    torch.testing.assert_close(first[0], torch.ones(64, 64).tril())
    buffers = dict(gm.named_buffers())
    assert all(t.numel() <= 16 for t in buffers.values())
    torch.testing.assert_close(gm(torch.ones(64, 64))[0], torch.ones(64, 64).tril())


@pytest.mark.parametrize("view_op", ["Identity", "Transpose", "Cast"])
@pytest.mark.parametrize("mode", ["interpret", pytest.param("inductor", marks=pytest.mark.slow)])
def test_a_view_of_an_input_written_later_keeps_the_old_values(view_op, mode):
    # y = cache.clone() (or cache.t()); cache.copy_(new); return y: as on the NPU,
    # y holds the values from before the write even though the host runs views.
    b = GraphBuilder("view_then_write")
    cache = b.data(0, DataType.FLOAT, (2, 2))
    new = b.data(1, DataType.FLOAT, (2, 2))
    if view_op == "Identity":
        old = b.op("Identity", cache, out=cache.spec)
    elif view_op == "Cast":  # to its own dtype: a bf16 cache's clone lowers so
        old = b.op("Cast", cache, out=cache.spec, dst_type=DataType.FLOAT.ge_code)
    else:
        old = b.op("Transpose", cache, b.const([1, 0]), out=cache.spec)
    assign = b.op("Assign", cache, new, out=cache.spec)
    b.net_output([old], control=[assign.op])
    program = HostProgram(b.graph, mode)
    for _ in range(2):  # the specializing call, then the compiled one
        c = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
        (out,) = program(c, torch.zeros(2, 2))
        expected = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
        torch.testing.assert_close(out, expected.t() if view_op == "Transpose" else expected)
        torch.testing.assert_close(c, torch.zeros(2, 2))


def test_views_inside_the_graph_are_not_copied():
    b = GraphBuilder("plain_views")
    x = b.data(0, DataType.FLOAT, (2, 3))
    t = b.op("Transpose", x, b.const([1, 0]), out=(DataType.FLOAT, (3, 2)))
    b.net_output([b.op("MatMulV2", t, x, out=(DataType.FLOAT, (3, 3)))])
    xs = torch.randn(2, 3)
    gm, tensors, (first,) = specialize(b.graph, [xs])
    targets = [n.target for n in gm.graph.nodes if n.op == "call_function"]
    assert torch.clone not in targets, gm.code
    torch.testing.assert_close(first, xs.t() @ xs)


@pytest.mark.parametrize("source", ["input", "constant"])
def test_outputs_are_new_contiguous_tensors(source):
    # GE outputs never alias the graph's inputs or constants, and are contiguous.
    b = GraphBuilder("view_outputs")
    x = b.data(0, DataType.FLOAT, (3, 4))
    base = x if source == "input" else b.const(torch.arange(12.0).reshape(3, 4))
    t = b.op("Transpose", base, b.const([1, 0]), out=(DataType.FLOAT, (4, 3)))
    same = b.op("Identity", base, out=base.spec)
    b.net_output([t, same])
    program = HostProgram(b.graph, "interpret")
    xs = torch.arange(12.0).reshape(3, 4)
    for _ in range(2):  # the specializing call, then the compiled one
        outs = program(xs)
        for out, expected in zip(outs, (xs.t(), xs)):
            torch.testing.assert_close(out, expected)
            assert out.is_contiguous()
            assert out.untyped_storage().data_ptr() != xs.untyped_storage().data_ptr()
            out.add_(100.0)  # the caller owns it: nothing inside may change
    torch.testing.assert_close(xs, torch.arange(12.0).reshape(3, 4))


@pytest.mark.parametrize("mode", ["interpret", pytest.param("inductor", marks=pytest.mark.slow)])
def test_a_write_through_a_view_of_an_input_reaches_the_input(mode):
    b = GraphBuilder("write_through_view")
    cache = b.data(0, DataType.FLOAT, (2, 3))
    new = b.data(1, DataType.FLOAT, (6,))
    flat = b.op("Reshape", cache, b.const([6]), out=(DataType.FLOAT, (6,)))
    assign = b.op("Assign", flat, new, out=flat.spec)
    b.net_output([], control=[assign.op])
    program = HostProgram(b.graph, mode)
    for step in range(2):
        c = torch.zeros(2, 3)
        program(c, torch.arange(6.0) + step)
        torch.testing.assert_close(c, (torch.arange(6.0) + step).reshape(2, 3))


def test_a_graph_read_back_from_protobuf_specializes_to_the_same_values():
    # GE float attributes are 32-bit: the host uses them so, whether the graph
    # comes fresh from the lowering or from a cache entry's protobuf (else the
    # two specialize to different code and miss each other in Inductor's cache).
    from airgraph_core.ir.serialize import deserialize, serialize
    from airgraph_core.targets.host.program import py_attrs

    b = GraphBuilder("eps")
    x = b.data(0, DataType.FLOAT, (4,))
    b.net_output([b.op("LeakyRelu", x, out=x.spec, negative_slope=1e-5)])
    (fresh,) = [o for o in b.graph.ops if o.type == "LeakyRelu"]
    (back,) = [o for o in deserialize(serialize(b.graph)).ops if o.type == "LeakyRelu"]
    assert back.attr("negative_slope") != 1e-5  # the protobuf holds a float32
    as_float32 = struct.unpack("f", struct.pack("f", 1e-5))[0]
    assert py_attrs(fresh) == py_attrs(back) == {"negative_slope": as_float32}


def test_written_inputs_follow_views_to_the_data_input():
    from airgraph_core.targets.host import written_inputs

    b = GraphBuilder("written")
    cache = b.data(0, DataType.FLOAT, (2, 3))
    new = b.data(1, DataType.FLOAT, (6,))
    flat = b.op("Reshape", cache, b.const([6]), out=(DataType.FLOAT, (6,)))
    assign = b.op("Assign", flat, new, out=flat.spec)
    b.net_output([b.op("Relu", new, out=new.spec)], control=[assign.op])
    assert written_inputs(b.graph) == {cache.op.name}
    assert written_inputs(_add_graph()) == frozenset()


def _zip(members: dict[str, bytes]) -> bytes:
    import io
    import zipfile

    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return out.getvalue()


_WHOLE = {
    "program/data/model/x.wrapper.so": b"\x7fELF",
    "program/data/model/x_metadata.json": b"{}",
}


def _corrupt_crc(data: bytes) -> bytes:
    # The stored (uncompressed) payload of the first member sits right after its name.
    at = data.index(b"\x7fELF")
    return data[:at] + b"\x7fELG" + data[at + 4 :]


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (_zip(_WHOLE), ""),
        (_zip({**_WHOLE, "program/data/model/x_metadata.json": b""}), "x_metadata.json"),
        (_zip({**_WHOLE, "program/data/model/x_metadata.json": b'{"AOTI'}), "x_metadata.json"),
        (_corrupt_crc(_zip(_WHOLE)), "CRC mismatch"),
        (b"not a zip", "not a zip archive"),
    ],
    ids=["whole", "empty json", "half-written json", "bad crc", "not a zip"],
)
def test_package_problem_names_what_is_torn(data, expected):
    from airgraph_core.targets.host.package import package_problem

    problem = package_problem(data)
    if expected:
        assert expected in problem, problem
    else:
        assert problem == ""


def _tiny_program() -> HostProgram:
    b = GraphBuilder("torn")
    x = b.data(0, DataType.FLOAT, (2,))
    b.net_output([b.op("Relu", x, out=x.spec)])
    program = HostProgram(b.graph, "interpret")
    program(torch.ones(2))
    return program


@pytest.mark.parametrize("torn_attempts", [1, 2, 3])
def test_a_torn_package_from_a_concurrent_compile_is_compiled_again(monkeypatch, torn_attempts):
    """AOTInductor writes its metadata JSON in place in the shared Inductor cache; a
    concurrent compile of the same graph can leave this package an empty one (seen in CI:
    the next start failed to load it). Such a package is compiled again, never returned."""
    from airgraph_core import _torch_compat
    from airgraph_core.targets.host import package, package_builds

    calls = []

    def save(exported, path, **options):
        calls.append(path)
        torn = len(calls) <= torn_attempts
        members = {**_WHOLE, "program/data/model/x_metadata.json": b"" if torn else b"{}"}
        with open(path, "wb") as f:
            f.write(_zip(members))

    monkeypatch.setattr(_torch_compat, "save_aoti_package", save)
    monkeypatch.setattr(package_builds, "ENABLED", False)  # keep the fakes out of it
    program = _tiny_program()
    if torn_attempts < package.EXPORT_ATTEMPTS:
        data = package.export_package(program, program.signatures[0])
        assert package.package_problem(data) == ""
        assert len(calls) == torn_attempts + 1
    else:
        with pytest.raises(RuntimeError, match="torn after 3 attempts: .*x_metadata.json"):
            package.export_package(program, program.signatures[0])
        assert len(calls) == package.EXPORT_ATTEMPTS
