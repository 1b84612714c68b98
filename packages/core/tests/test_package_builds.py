"""The AOTInductor package build cache: the same graph is packaged once, never another's.

A package is reused only under a key that covers everything that goes into it
(:mod:`airgraph_core.targets.host.package_builds`). The key tests generate
variants of one graph, each changing one thing that changes the package
(a constant's value in the middle of a large constant, an attribute, an input's
shape, dtype or stride, a package option, an Inductor setting, the CPU's
vector ISA), and require a key of its own for each; the same graph built again
gets the same key, in this process and in a fresh one. The compile test packages
two graphs that differ only in a constant's value and checks each loaded
package against eager.
"""

from __future__ import annotations

import os
import random
import sys
from pathlib import Path

import pytest
import torch

from airgraph_core import _torch_compat
from airgraph_core.ir import DataType, GraphBuilder
from airgraph_core.targets.host import package, package_builds, warm_hints
from airgraph_core.targets.host.program import HostProgram

OPTIONS = {"precompile_headers": False}
#: Elements of the graph's constant: more than ``repr`` of a tensor shows (it elides the middle).
CONST_SIZE = 4096


@pytest.fixture(autouse=True)
def _build_cache_on(monkeypatch):
    """Whatever ``AIRGRAPH_PACKAGE_BUILD_CACHE`` says in this run."""
    monkeypatch.setattr(package_builds, "ENABLED", True)


def _const(seed: int, changed_at: int | None = None) -> torch.Tensor:
    values = torch.randn(CONST_SIZE, generator=torch.Generator().manual_seed(seed))
    if changed_at is not None:
        values[changed_at] += 1.0
    return values.reshape(64, 64)


def _program(
    const: torch.Tensor,
    perm: tuple[int, int] = (1, 0),
    dtype: DataType = DataType.FLOAT,
    mode: str = "interpret",
) -> HostProgram:
    """``Transpose(x, perm) * const + 1``, specialized for one call."""
    b = GraphBuilder("builds")
    x = b.data(0, dtype, (64, 64))
    t = b.op("Transpose", x, b.const(list(perm)), out=x.spec)
    c = b.const(const.to(torch.float32 if dtype == DataType.FLOAT else torch.float64))
    y = b.op("Mul", t, c, out=x.spec)
    b.net_output([b.op("Add", y, b.const(1.0 if dtype == DataType.FLOAT else 2.0), out=x.spec)])
    return HostProgram(b.graph, mode)


def _key(program: HostProgram, x: torch.Tensor, options=OPTIONS) -> str | None:
    program(x)
    (signature,) = program.signatures
    return package_builds.build_key(program.specialized_module(signature), [x], options)


def _x(dtype: torch.dtype = torch.float32, transposed: bool = False) -> torch.Tensor:
    x = torch.randn(64, 64, generator=torch.Generator().manual_seed(3)).to(dtype)
    return x.t().contiguous().t() if transposed else x


def _variants() -> dict[str, tuple]:
    """name -> (program, input, options): the base, and variants that each change one thing."""
    rng = random.Random(0)
    base = _const(0)
    variants = {
        "base": (_program(base), _x(), OPTIONS),
        "perm": (_program(base, perm=(0, 1)), _x(), OPTIONS),
        "dtype": (_program(base, dtype=DataType.DOUBLE), _x(torch.float64), OPTIONS),
        "input strides": (_program(base), _x(transposed=True), OPTIONS),
        "options": (_program(base), _x(), {"precompile_headers": True}),
        "another constant": (_program(_const(1)), _x(), OPTIONS),
    }
    for _ in range(4):  # one element changed where repr(tensor) shows "..."
        at = rng.randrange(200, CONST_SIZE - 200)
        variants[f"constant[{at}]"] = (_program(_const(0, at)), _x(), OPTIONS)
    return variants


def test_every_change_that_changes_the_package_changes_the_key():
    keys = {name: _key(p, x, o) for name, (p, x, o) in _variants().items()}
    assert all(keys.values()), keys
    assert len(set(keys.values())) == len(keys), keys
    again = _key(_program(_const(0)), _x())
    assert again == keys["base"]


def test_settings_isa_and_the_switches_enter_the_key(monkeypatch):
    from torch._inductor import config

    base = _key(_program(_const(0)), _x())
    with config.patch(max_autotune_gemm_search_space="EXHAUSTIVE"):
        assert _key(_program(_const(0)), _x()) not in (None, base)
    monkeypatch.setattr(_torch_compat, "probe_cpu_vec_isa", lambda: "some-other-isa")
    assert _key(_program(_const(0)), _x()) not in (None, base)
    monkeypatch.undo()
    with config.patch(force_disable_caches=True):
        assert _key(_program(_const(0)), _x()) is None
    monkeypatch.setattr(package_builds, "ENABLED", False)
    assert _key(_program(_const(0)), _x()) is None


_KEY_IN_A_FRESH_PROCESS = """
import sys, torch
sys.path.insert(0, sys.argv[1])
import test_package_builds as t
print("KEY", t._key(t._program(t._const(0)), t._x()))
"""


def test_the_key_is_the_same_in_a_fresh_process():
    import fresh_python  # tests/support, on the path in the test session only

    here = str(Path(__file__).parent)
    proc = fresh_python.run(
        [sys.executable, "-c", _KEY_IN_A_FRESH_PROCESS, here],
        env={**os.environ, "AIRGRAPH_PACKAGE_BUILD_CACHE": "1"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    (line,) = [x for x in proc.stdout.splitlines() if x.startswith("KEY ")]
    assert line.split()[1] == _key(_program(_const(0)), _x())


def _specialized() -> tuple[torch.fx.GraphModule, torch.Tensor]:
    """The base graph's host module, specialized for :func:`_x`, and that input."""
    program = _program(_const(0))
    x = _x()
    program(x)
    return program.specialized_module(program.signatures[0]), x


def _user_function(x):
    return x * 2


def test_a_graph_calling_code_outside_the_key_is_never_cached():
    gm, x = _specialized()
    output = next(n for n in gm.graph.nodes if n.op == "output")
    with gm.graph.inserting_before(output):
        extra = gm.graph.call_function(_user_function, (output.args[0][0],))
    output.args = ((extra,),)
    gm.recompile()
    assert package_builds.build_key(gm, [x], OPTIONS) is None
    # A host op whose semantics live outside airgraph_core (a closure over user code).
    assert not package_builds._known_code(_closure_over(_user_function))
    assert package_builds._known_code(torch.ops.aten.add.Tensor)
    assert not package_builds._known_code(torch.ops.higher_order.cond)


def _closure_over(fn):
    def call(*tensors):
        return fn(*tensors)

    call.__module__ = "airgraph_core.targets.host.program"  # as the host program's calls
    return call


def test_a_damaged_package_is_dropped_and_a_failed_write_is_harmless(tmp_path, monkeypatch):
    monkeypatch.setattr(_torch_compat, "inductor_cache_dir", lambda: str(tmp_path))
    package_builds.store("k" * 64, b"not a zip")
    path = tmp_path / package_builds.SUBDIR / ("k" * 64 + ".pt2")
    assert path.read_bytes() == b"not a zip"
    assert package_builds.lookup("k" * 64, package.package_problem) is None
    assert not path.exists()
    assert package_builds.lookup(None, package.package_problem) is None
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    monkeypatch.setattr(_torch_compat, "inductor_cache_dir", lambda: str(blocked))
    package_builds.store("k" * 64, b"data")  # logs, never raises
    assert package_builds.lookup("k" * 64, package.package_problem) is None


@pytest.mark.slow
def test_a_graph_is_packaged_once_and_another_constant_is_packaged_anew(tmp_path, monkeypatch):
    monkeypatch.setattr(_torch_compat, "inductor_cache_dir", lambda: str(tmp_path))
    compiles = []
    save = _torch_compat.save_aoti_package

    def counting_save(exported, path, **options):
        compiles.append(path)
        save(exported, path, **options)

    monkeypatch.setattr(_torch_compat, "save_aoti_package", counting_save)

    def packaged(const: torch.Tensor) -> tuple[bytes, torch.Tensor]:
        source = _program(const)
        x = _x()
        want = source(x)[0]
        signature = source.signatures[0]
        data = package.export_package(source, signature)
        fresh = _program(const)
        fresh(x)  # specializes in interpret mode; the package replaces it
        package.load_package(fresh, signature, data)
        got = fresh(_x())[0]
        torch.testing.assert_close(got, want, rtol=1e-6, atol=1e-6)
        return data, got

    first, got_first = packaged(_const(0))
    assert len(compiles) == 1
    again, _ = packaged(_const(0))
    assert len(compiles) == 1 and again == first  # from the build cache
    other, got_other = packaged(_const(0, CONST_SIZE // 2))  # one element differs
    assert len(compiles) == 2 and other != first
    assert not torch.equal(got_first, got_other)


# --- Found in review: inputs that changed the package but not the key, and crashes. ---


def _argmax_program(dtype: DataType) -> HostProgram:
    """``ArgMaxV2(x, 1)`` with its ``dtype`` attribute (a DataType: the output's dtype)."""
    b = GraphBuilder("argmax")
    x = b.data(0, DataType.FLOAT, (4, 8))
    b.net_output([b.op("ArgMaxV2", x, b.const(1), out=(dtype, (4,)), dtype=dtype)])
    return HostProgram(b.graph, "interpret")


def test_an_enum_attribute_enters_the_key():
    """A ``dt`` attribute is a DataType (an Enum); the key held only its class name, so
    ArgMaxV2 to int32 and to int64 shared one package (same code, same inputs)."""
    x = torch.randn(4, 8)
    int32, int64 = (_key(_argmax_program(d), x) for d in (DataType.INT32, DataType.INT64))
    assert int32 is not None and int64 is not None
    assert int32 != int64


class _Pass:
    """An Inductor custom pass (``CustomGraphPass``'s protocol: ``__call__`` + ``uuid``)."""

    def __init__(self, uuid):
        self._uuid = uuid

    def __call__(self, graph):
        pass

    def uuid(self):
        return self._uuid


def test_inductor_custom_passes_enter_the_key():
    """``save_config_portable`` leaves the custom passes out (Inductor keys them by
    ``uuid()``); a package built with a pass was reused without it, and the other way."""
    from torch._inductor import config

    base = _key(_program(_const(0)), _x())
    keys = {}
    for uuid in ("a", "b"):
        with config.patch(post_grad_custom_post_pass=_Pass(uuid)):
            keys[uuid] = _key(_program(_const(0)), _x())
    assert None not in keys.values()
    assert len({base, *keys.values()}) == 3
    with config.patch(post_grad_custom_pre_pass=_Pass(None)):  # no uuid: nothing to key it by
        assert _key(_program(_const(0)), _x()) is None
    assert _key(_program(_const(0)), _x()) == base


def test_callable_objects_and_function_arguments_are_code_outside_the_key():
    """A custom op's packet or definition and a function passed as an argument (to
    ``torch.cond``, say) run code the key cannot see."""
    lib = torch.library.Library("airgraph_builds_test", "FRAGMENT")  # noqa: TOR901
    lib.define("twice(Tensor x) -> Tensor")
    lib.impl("twice", lambda x: x * 2, "CompositeExplicitAutograd")
    assert not package_builds._known_code(torch.ops.airgraph_builds_test.twice)
    assert not package_builds._known_code(torch.ops.airgraph_builds_test.twice.default)
    assert package_builds._known_code(torch.full)
    gm, x = _specialized()
    output = next(n for n in gm.graph.nodes if n.op == "output")
    with gm.graph.inserting_before(output):
        pred = gm.graph.call_function(torch.full, ((), True), {"dtype": torch.bool})
        extra = gm.graph.call_function(
            torch.cond, (pred, _user_function, _user_function, (output.args[0][0],))
        )
    output.args = ((extra,),)  # not recompiled: FX cannot print a function argument
    assert package_builds.build_key(gm, [x], OPTIONS) is None


class _Opaque:
    def __init__(self, scale):
        self.scale = scale


def test_a_closure_over_an_object_without_stable_text_is_never_cached():
    """An object in a call's closure showed only its class name: two objects of one class
    with other values gave one key."""
    gm, x = _specialized()
    node = next(n for n in gm.graph.nodes if n.op == "call_function" and n.name == "ge_mul")
    attrs = node.target.__closure__[node.target.__code__.co_freevars.index("attrs")]
    attrs.cell_contents["scale"] = _Opaque(2.0)
    assert package_builds.build_key(gm, [x], OPTIONS) is None


def _exotic_tensors() -> dict[str, torch.Tensor]:
    from torch._subclasses.fake_tensor import FakeTensorMode

    x = torch.arange(12.0).reshape(3, 4)
    with FakeTensorMode():
        fake = torch.empty(3)
    return {
        "transposed": x.t(),
        "zero-size": torch.empty(0, 3),
        "bool": torch.tensor([True, False]),
        "complex": torch.tensor([1 + 2j, 3 - 1j]),
        "expanded": torch.tensor([1.0]).expand(5),
        "offset": torch.arange(10.0)[3:6],
        "sparse coo": x.to_sparse(),
        "sparse csr": x.to_sparse_csr(),
        "nested": torch.nested.nested_tensor([torch.randn(2), torch.randn(3)]),
        "meta": torch.empty(3, device="meta"),
        "fake": fake,
        "mkldnn": x.to_mkldnn(),
    }


@pytest.mark.filterwarnings("ignore")
def test_tensor_text_never_raises_and_sees_what_bytes_hide():
    """Sparse CSR and nested tensors raised (a crashed compile); a fake tensor read its null
    data pointer; a conjugate or negative view, and quantized tensors of one integer
    representation but different scales, hashed as their plain twins."""
    texts = {name: warm_hints.tensor_text(t) for name, t in _exotic_tensors().items()}
    for name in ("sparse coo", "sparse csr", "nested", "meta", "fake", "mkldnn"):
        assert warm_hints.OPAQUE in texts[name], (name, texts[name])
    for name in ("transposed", "zero-size", "bool", "complex", "expanded", "offset"):
        assert warm_hints.OPAQUE not in texts[name], (name, texts[name])
    z = torch.tensor([1 + 2j, 3 - 1j])
    assert warm_hints.tensor_text(z.conj()) != warm_hints.tensor_text(z)
    assert warm_hints.tensor_text(z.conj()) == warm_hints.tensor_text(z.conj().resolve_conj())
    r = torch.tensor([1.0, 2.0])
    assert warm_hints.tensor_text(torch._neg_view(r)) != warm_hints.tensor_text(r)
    a = torch.quantize_per_tensor(torch.tensor([1.0, 2.0]), 0.1, 0, torch.qint8)
    b = torch.quantize_per_tensor(torch.tensor([2.0, 4.0]), 0.2, 0, torch.qint8)
    assert torch.equal(a.int_repr(), b.int_repr())
    assert warm_hints.tensor_text(a) != warm_hints.tensor_text(b)


def test_a_failing_key_or_cache_folder_costs_the_cache_only(tmp_path, monkeypatch):
    """Any error while keying, reading or checking a kept package: no key, no package."""
    program, x = _program(_const(0)), _x()

    def fails(*args):
        raise KeyError("no user name for the cache dir")

    monkeypatch.setattr(_torch_compat, "probe_cpu_vec_isa", fails)
    assert _key(program, x) is None
    monkeypatch.undo()
    monkeypatch.setattr(_torch_compat, "inductor_cache_dir", fails)
    assert package_builds.lookup("k" * 64, package.package_problem) is None
    package_builds.store("k" * 64, b"data")  # logs, never raises
    monkeypatch.setattr(_torch_compat, "inductor_cache_dir", lambda: str(tmp_path))
    package_builds.store("k" * 64, b"PK\x03\x04 a damaged archive")
    assert package_builds.lookup("k" * 64, fails) is None
