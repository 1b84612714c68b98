"""The forward core ATen coverage count (airgraph_core.coverage) and its docs section."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch
from torch.fx.experimental.proxy_tensor import make_fx

from airgraph_core import registered
from airgraph_core.converters.registry import target_name
from airgraph_core.coverage import (
    DECOMPOSITION_SAMPLES,
    LEFT_OUT_REASONS,
    core_aten_coverage,
    core_forward_opset,
)
from airgraph_core.decompositions import default_decompositions

aten = torch.ops.aten
ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def report():
    return core_aten_coverage()


@pytest.fixture(scope="module")
def opset():
    return {target_name(op): op for op in core_forward_opset()}


def test_opset_is_the_core_tag_without_backward_inplace_or_out(opset):
    assert all(torch.Tag.core in op.tags for op in opset.values())
    for name in opset:
        assert "backward" not in name and not name.split(".")[1].endswith("_"), name
        assert name.split(".")[-1] != "out", name
    # Members reached only through the dispatcher's list (not looked up before).
    for name in ["aten.add.Tensor", "aten.var.dim", "aten._native_batch_norm_legit.default"]:
        assert name in opset
    for op in [aten.atan2.out, aten.resize_.default, aten.convolution_backward.default]:
        assert torch.Tag.core in op.tags
        assert target_name(op) not in opset
    # Every core forward overload of these packets is in, and nothing else of them.
    for packet in [aten.add, aten.var, aten.max_pool2d_with_indices, aten.upsample_nearest2d]:
        for overload in packet.overloads():
            op = getattr(packet, overload)
            core = torch.Tag.core in op.tags and overload != "out"
            assert (target_name(op) in opset) == core, target_name(op)


def test_counts_add_up(report, opset):
    assert report.total == len(opset) == len({op.name for op in report.ops})
    assert report.covered == sum(op.category in ("converter", "decomposed") for op in report.ops)
    n_conv = sum(op in registered() for op in opset.values())
    assert sum(op.category == "converter" for op in report.ops) == n_conv
    assert report.covered <= report.expressible <= report.total
    assert report.percent == pytest.approx(100 * report.covered / report.total)


def test_removing_a_converter_uncovers_it_and_what_decomposes_to_it(report):
    converters = dict(registered())
    del converters[aten.mean.dim]
    smaller = core_aten_coverage(converters)
    by_name = {op.name: op for op in smaller.ops}
    assert by_name["aten.mean.dim"].category == "not yet done"
    assert "`aten.mean.dim`" in by_name["aten.var.correction"].detail
    assert not by_name["aten.var.dim"].covered
    assert smaller.covered <= report.covered - 3


def test_the_target_of_a_decomposition_decides_its_coverage():
    converters = dict(registered())
    del converters[aten.upsample_nearest2d.default]
    by_name = {op.name: op for op in core_aten_coverage(converters).ops}
    assert not by_name["aten.upsample_nearest2d.vec"].covered
    assert "`aten.upsample_nearest2d.default`" in by_name["aten.upsample_nearest2d.vec"].detail
    converters[aten.upsample_nearest2d.default] = object()
    by_name = {op.name: op for op in core_aten_coverage(converters).ops}
    assert by_name["aten.upsample_nearest2d.vec"].covered


def test_coverage_reaches_95_percent(report):
    """Issue 15's bar; every op left out is one no converter can honestly cover."""
    assert report.covered >= 0.95 * report.total
    assert report.covered == report.expressible


def test_every_op_left_out_has_a_stated_reason(report, opset):
    for op in report.ops:
        if not op.covered:
            assert op.detail and op.detail != "no converter", op.name
    for name in list(LEFT_OUT_REASONS) + list(DECOMPOSITION_SAMPLES):
        assert name in opset, f"{name} is not a forward core overload"


@pytest.mark.parametrize("name", sorted(DECOMPOSITION_SAMPLES))
def test_decomposition_samples_match_eager(name, opset):
    op = opset[name]
    gm = make_fx(lambda *a: op(*a), decomposition_table=default_decompositions())(
        *DECOMPOSITION_SAMPLES[name]()
    )
    got = gm(*DECOMPOSITION_SAMPLES[name]())
    want = op(*DECOMPOSITION_SAMPLES[name]())
    got, want = (x if isinstance(x, (tuple, list)) else (x,) for x in (got, want))
    # Only the first output is used in inference (batch/group norm's mean and rstd are dead).
    torch.testing.assert_close(got[0], want[0], atol=1e-5, rtol=1e-4)


def test_ops_page_carries_the_generated_section(report):
    page = (ROOT / "docs/reference/ops.md").read_text()
    spec = importlib.util.spec_from_file_location("docs_hooks", ROOT / "docs/hooks.py")
    hooks = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hooks)
    section = page.split("## Core ATen coverage", 1)[1].split("\n## ", 1)[0]
    assert hooks.COVERAGE_MARKER in section
    built = hooks.on_page_markdown(page)
    assert report.markdown() in built and hooks.COVERAGE_MARKER not in built
    assert f"**{report.covered} of {report.total} forward core ATen overloads" in built
