"""Errors airgraph raises while Dynamo compiles reach the user as airgraph's own.

Dynamo wraps what a backend raises in ``BackendCompilerFailed`` ("backend=...
raised:" and a "report a bug to PyTorch" footer); an airgraph error must
instead be catchable as its own class, with its message and fix hint, and
still be a ``BackendCompilerFailed`` for code written against TorchAir. All
through real ``torch.compile`` calls on tiny graphs (host target, interpret mode).
"""

from __future__ import annotations

import os
import re
import traceback

import pytest
import torch
from torch import nn
from torch._dynamo.exc import BackendCompilerFailed

from airgraph_core import UnsupportedOpError
from airgraph_dynamo import GearSetupError, get_npu_backend
from airgraph_dynamo.backend import InferenceOnlyError
from airgraph_gears import set_dim_gears

aten = torch.ops.aten

#: What Dynamo's wrapper adds; none of it may reach the user with an airgraph error.
DYNAMO_WRAPPER_TEXT = ("TORCHDYNAMO_VERBOSE", "reporting a bug to PyTorch", "raised:\n")


@torch.library.custom_op("airgraph_errors_test::opaque", mutates_args=())
def opaque(x: torch.Tensor) -> torch.Tensor:
    return x.flip(0) * 2


@opaque.register_fake
def _(x):
    return torch.empty_like(x)


def uses_opaque(x):
    return opaque(x + 1) - 1


def _assert_shown_as_airgraphs(error: BaseException, headline: str) -> str:
    """The error line Python prints for ``error`` starts with ``headline``; no Dynamo wrapper text."""
    shown = "".join(traceback.format_exception_only(error))
    assert shown.startswith(headline), shown
    for text in (shown, repr(error)):
        for wrapper in DYNAMO_WRAPPER_TEXT:
            assert wrapper not in text, text
        assert re.search(r"object at 0x[0-9a-f]+", text) is None, text
    return shown


@pytest.mark.parametrize("fullgraph", [True, False])
def test_unsupported_op_is_raised_as_itself_with_its_hint(make_config, fullgraph):
    backend = get_npu_backend(compiler_config=make_config("interpret"))
    fn = torch.compile(uses_opaque, backend=backend, fullgraph=fullgraph)
    with pytest.raises(UnsupportedOpError) as info, torch.no_grad():
        fn(torch.randn(3))
    error = info.value
    assert [op.target for op in error.ops] == ["airgraph_errors_test.opaque.default"]
    message = str(error)
    assert "opaque(x + 1)" in message  # the user's source line
    assert 'airgraph_config.unsupported_op = "fallback"' in message
    assert "airgraph ops --op NAME" in message
    _assert_shown_as_airgraphs(
        error, "airgraph_core.lowering.UnsupportedOpError: 1 unsupported op(s) in the graph:"
    )
    # Dynamo's frames are left out of the traceback, down to airgraph's backend.
    frames = traceback.extract_tb(error.__traceback__)
    dynamo = [frame.name for frame in frames if f"torch{os.sep}_dynamo" in frame.filename]
    assert dynamo == ["compile_wrapper"]
    assert frames[-1].filename.endswith("lowering.py")


def test_following_the_hint_runs_the_graph(make_config):
    config = make_config("interpret", unsupported_op="fallback")
    backend = get_npu_backend(compiler_config=config)
    fn = torch.compile(uses_opaque, backend=backend, fullgraph=True)
    x = torch.randn(3)
    with torch.no_grad():
        torch.testing.assert_close(fn(x), uses_opaque(x))
    assert backend.compiled[-1].target == "eager"


def test_torchair_style_handlers_still_catch_it(make_config):
    """TorchAir's users catch ``BackendCompilerFailed`` / ``RuntimeError`` and read ``inner_exception``."""
    fn = torch.compile(
        uses_opaque, backend=get_npu_backend(compiler_config=make_config("interpret"))
    )
    with pytest.raises(BackendCompilerFailed) as info, torch.no_grad():
        fn(torch.randn(3))
    error = info.value
    assert isinstance(error, RuntimeError) and isinstance(error, NotImplementedError)
    assert type(error.inner_exception) is UnsupportedOpError
    assert error.inner_exception.ops == error.ops
    assert error.backend_name == "airgraph"


def test_a_gear_setup_error_is_raised_as_itself(make_config):
    def pins_the_size(x):
        torch._check(x.shape[0] == 2)
        return x + 1

    backend = get_npu_backend(compiler_config=make_config("interpret"))
    fn = torch.compile(pins_the_size, backend=backend, fullgraph=True)
    x = torch.ones(2, 2)
    set_dim_gears(x, {0: [2, 4]})
    with pytest.raises(GearSetupError, match="specialized it to the constant 2") as info:
        fn(x)
    _assert_shown_as_airgraphs(info.value, "airgraph_dynamo.gears.GearSetupError: ")
    assert "unsupported_op" not in str(info.value)  # the fallback hint is for unsupported ops


def test_inference_only_error_is_raised_as_itself(make_config):
    model = nn.Linear(4, 2)
    fn = torch.compile(model, backend=get_npu_backend(compiler_config=make_config("interpret")))
    with pytest.raises(InferenceOnlyError, match=r"torch\.no_grad\(\)") as info:
        fn(torch.randn(3, 4))
    _assert_shown_as_airgraphs(info.value, "airgraph_dynamo.backend.InferenceOnlyError: ")


def test_a_builtin_error_airgraph_raises_is_raised_as_itself(make_config):
    backend = get_npu_backend(compiler_config=make_config("interpret"))
    fn = torch.compile(lambda x: x + 1, backend=backend, options={"max_autotune": object()})
    with pytest.raises(
        TypeError, match=r"Inductor's\), got 'max_autotune'; set airgraph's"
    ) as info:
        fn(torch.ones(2))
    _assert_shown_as_airgraphs(info.value, "TypeError: options: ")


def test_errors_not_raised_by_airgraph_keep_dynamos_report(make_config):
    def broken_add(x, y, alpha=1):
        raise ValueError("broken decomposition")

    backend = get_npu_backend(
        compiler_config=make_config("interpret"),
        custom_decompositions={aten.add.Tensor: broken_add},
    )
    fn = torch.compile(lambda x: x + 1, backend=backend, fullgraph=True)
    with pytest.raises(BackendCompilerFailed) as info, torch.no_grad():
        fn(torch.ones(2))
    assert type(info.value) is BackendCompilerFailed
    assert isinstance(info.value.inner_exception, ValueError)
    assert "backend='airgraph' raised:\nValueError: broken decomposition" in str(info.value)


def test_cache_compile_raises_airgraph_errors_as_themselves(make_config, tmp_path):
    cache = pytest.importorskip("airgraph_cache")

    class Model(nn.Module):
        def __init__(self, body):
            super().__init__()
            self.body = body
            self.cached = cache.cache_compile(
                self._forward, config=make_config("interpret"), cache_dir=tmp_path
            )

        def _forward(self, x):
            return self.body(x)

        def forward(self, x):
            return self.cached(x)

    with pytest.raises(UnsupportedOpError) as info, torch.no_grad():
        Model(uses_opaque)(torch.randn(3))
    assert "airgraph ops --op NAME" in str(info.value)
    _assert_shown_as_airgraphs(
        info.value, "airgraph_core.lowering.UnsupportedOpError: 1 unsupported op(s)"
    )

    # TorchAir refuses random ops in a cached method with an AssertionError.
    with pytest.raises(AssertionError, match="depend on RNG") as info, torch.no_grad():
        Model(lambda x: torch.randn(3) + x)(torch.randn(3))
    assert isinstance(info.value, BackendCompilerFailed)
    _assert_shown_as_airgraphs(info.value, "AssertionError: Cache compile does not support")
