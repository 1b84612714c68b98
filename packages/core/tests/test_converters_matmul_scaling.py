"""addmm / baddbmm with ``alpha`` or ``beta`` 0 and infs in the operand they drop.

Eager (BLAS) does not read the factors when ``alpha == 0`` and ignores
``self`` when ``beta == 0``, so non-finite values there must not reach the
result. The cases are generated from a seed: every (alpha, beta, bias
shape, where the inf/NaN go) combination, each with its own random data.
baddbmm's sizes are above ATen's small-size kernel (contraction x rows x
cols >= 400), which multiplies even when ``alpha == 0``.
"""

from __future__ import annotations

import itertools
import random
import zlib

import pytest
import torch

from airgraph_core.testing import check_lowering

ALPHAS = (0, 2.5)
BETAS = (0, 0.5)


def _poison(t: torch.Tensor, rng: random.Random) -> torch.Tensor:
    t = t.clone()
    flat = t.view(-1)
    # inf only: 0 * inf is already NaN (check_lowering compares inputs without equal_nan).
    for value in (float("inf"), float("-inf")):
        flat[rng.randrange(flat.numel())] = value
    return t


def _cases(bias_shapes: tuple[tuple[int, ...], ...]) -> list[tuple]:
    """Every combination where a dropped operand holds infs, and alpha == 0 with clean data."""
    cases = []
    for alpha, beta, shape in itertools.product(ALPHAS, BETAS, bias_shapes):
        if alpha == 0:
            cases += [(alpha, beta, shape, "factors"), (alpha, beta, shape, "none")]
        if beta == 0:
            cases.append((alpha, beta, shape, "self"))
    return cases


def _inputs(seed: int, bias_shape, factor_shapes, poison: str) -> list[torch.Tensor]:
    rng = random.Random(seed)
    gen = torch.Generator().manual_seed(seed)
    bias = torch.randn(bias_shape, generator=gen)
    a, b = (torch.randn(s, generator=gen) for s in factor_shapes)
    if poison == "factors":
        a = _poison(a, rng)
    elif poison == "self":
        bias = _poison(bias, rng)
    return [bias, a, b]


@pytest.mark.parametrize(("alpha", "beta", "bias_shape", "poison"), _cases(((3, 5), (1, 5), (5,))))
def test_addmm_scaling(alpha, beta, bias_shape, poison):
    seed = zlib.crc32(repr((alpha, beta, bias_shape, poison)).encode())
    inputs = _inputs(seed, bias_shape, [(3, 4), (4, 5)], poison)
    g = check_lowering(
        lambda s, x, y: torch.addmm(s, x, y, beta=beta, alpha=alpha), inputs, atol=1e-5
    )
    assert ("MatMulV2" in g.op_types()) == (alpha != 0)


@pytest.mark.parametrize(
    ("alpha", "beta", "bias_shape", "poison"), _cases(((2, 8, 8), (2, 1, 8), (8,)))
)
def test_baddbmm_scaling(alpha, beta, bias_shape, poison):
    seed = zlib.crc32(repr((alpha, beta, bias_shape, poison)).encode())
    inputs = _inputs(seed, bias_shape, [(2, 8, 8), (2, 8, 8)], poison)
    g = check_lowering(
        lambda s, x, y: torch.baddbmm(s, x, y, beta=beta, alpha=alpha), inputs, atol=1e-4
    )
    assert ("BatchMatMul" in g.op_types()) == (alpha != 0)


@pytest.mark.parametrize("beta", [0, 2.0])
def test_addmm_alpha_zero_dynamic(beta):
    bias = torch.randn(5)
    a = _poison(torch.randn(3, 4), random.Random(1))
    check_lowering(
        lambda s, x, y: torch.addmm(s, x, y, beta=beta, alpha=0),
        [bias, a, torch.randn(4, 5)],
        dynamic=True,
    )


@pytest.mark.parametrize("op", ["addmv", "addbmm", "addr"])
def test_other_scaled_products_are_refused(op):
    """No converter: a clear UnsupportedOpError, never a wrong value."""
    from airgraph_core.lowering import UnsupportedOpError

    args = {
        "addmv": [torch.ones(2), torch.ones(2, 3), torch.ones(3)],
        "addbmm": [torch.ones(2, 2), torch.ones(1, 2, 3), torch.ones(1, 3, 2)],
        "addr": [torch.ones(2, 3), torch.ones(2), torch.ones(3)],
    }[op]
    with pytest.raises(UnsupportedOpError, match=op):
        check_lowering(lambda *t: getattr(torch, op)(*t, alpha=0), args)
