"""complex64: view_as_complex / view_as_real / complex / polar and complex arithmetic vs eager.

The rotary-embedding case is LLaMA's reference formulation (``apply_rotary_emb``
with ``freqs_cis`` from ``torch.polar``); the view cases follow TorchAir's
tests/st ``test_view_as_real_dynamic_sym`` / ``test_view_as_complex_dynamic_sym``
(values compared with eager; GE has no aliasing views, so results are copies).
"""

from __future__ import annotations

import pytest
import torch

from airgraph_core.lowering import UnsupportedOpError
from airgraph_core.testing import check_lowering


def _freqs_cis(dim: int, end: int, theta: float = 10000.0) -> torch.Tensor:
    freqs = 1.0 / (theta ** (torch.arange(0, dim, 2)[: dim // 2].float() / dim))
    angles = torch.outer(torch.arange(end).float(), freqs)
    return torch.polar(torch.ones_like(angles), angles)


def _apply_rotary_emb(xq, xk, freqs_cis):
    xq_ = torch.view_as_complex(xq.float().reshape(*xq.shape[:-1], -1, 2))
    xk_ = torch.view_as_complex(xk.float().reshape(*xk.shape[:-1], -1, 2))
    shape = [d if i in (1, xq_.ndim - 1) else 1 for i, d in enumerate(xq_.shape)]
    freqs = freqs_cis.view(*shape)
    xq_out = torch.view_as_real(xq_ * freqs).flatten(3)
    xk_out = torch.view_as_real(xk_ * freqs).flatten(3)
    return xq_out.type_as(xq), xk_out.type_as(xk)


@pytest.mark.parametrize("dynamic", [False, True])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
def test_llama_rotary_embedding(dtype, dynamic):
    xq, xk = torch.randn(2, 5, 3, 8).to(dtype), torch.randn(2, 5, 3, 8).to(dtype)
    graph = check_lowering(
        _apply_rotary_emb, [xq, xk, _freqs_cis(8, 5)], dynamic=dynamic,
        expect_ops=["Complex"],
    )  # fmt: skip
    assert any(op.type == "Mul" for op in graph.ops)


@pytest.mark.parametrize("dynamic", [False, True])
def test_freqs_cis_computed_in_the_graph(dynamic):
    def fn(x):
        return torch.view_as_real(_freqs_cis(2 * x.shape[-1], x.shape[0])) * 2 + x.unsqueeze(-1)

    check_lowering(fn, [torch.randn(6, 2)], dynamic=dynamic, expect_ops=["Complex", "Cos", "Sin"])


@pytest.mark.parametrize("dynamic", [False, True])
def test_view_as_real_of_a_complex_input(dynamic):
    # tests/st test_view_as_real_dynamic_sym: a complex64 graph input.
    x = torch.complex(torch.randn(4, 4), torch.randn(4, 4))
    check_lowering(lambda x: torch.view_as_real(x) + 0, [x], dynamic=dynamic)


@pytest.mark.parametrize("dynamic", [False, True])
def test_view_as_complex_output(dynamic):
    # tests/st test_view_as_complex_dynamic_sym: a complex64 graph output.
    check_lowering(lambda x: torch.view_as_complex(x * 2), [torch.randn(4, 2)], dynamic=dynamic)


def test_complex_arithmetic():
    def fn(a, b, re, im):
        c = torch.complex(re, im)
        return a * b + c - a, (a * 2.0) * c

    a = torch.complex(torch.randn(3, 4), torch.randn(3, 4))
    b = torch.complex(torch.randn(4), torch.randn(4))
    check_lowering(fn, [a, b, torch.randn(3, 4), torch.randn(3, 4)])


def test_complex128_is_refused():
    x = torch.randn(3, 2, dtype=torch.float64)
    with pytest.raises(UnsupportedOpError, match="view_as_complex"):
        check_lowering(lambda x: torch.view_as_real(torch.view_as_complex(x) * 2), [x])
