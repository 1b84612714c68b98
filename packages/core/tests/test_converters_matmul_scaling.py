"""addmm / baddbmm / addmv / addbmm / addr with ``alpha`` or ``beta`` 0 and infs in
the operand they drop.

Eager (BLAS) does not read the factors when ``alpha == 0`` (except addr,
which multiplies anyway) and ignores ``self`` when ``beta == 0``, so
non-finite values there must not reach the result. The cases are generated
from a seed: every (alpha, beta, bias shape, where the infs go)
combination, each with its own random data.
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


@pytest.mark.parametrize(("alpha", "beta", "bias_shape", "poison"), _cases(((3, 5), (5,))))
def test_addmm_scaling(alpha, beta, bias_shape, poison):
    seed = zlib.crc32(repr((alpha, beta, bias_shape, poison)).encode())
    inputs = _inputs(seed, bias_shape, [(3, 4), (4, 5)], poison)
    g = check_lowering(
        lambda s, x, y: torch.addmm(s, x, y, beta=beta, alpha=alpha), inputs, atol=1e-5
    )
    assert ("MatMulV2" in g.op_types()) == (alpha != 0)


@pytest.mark.parametrize(("alpha", "beta", "bias_shape", "poison"), _cases(((2, 1, 8), (8,))))
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


#: op -> (bias shapes, factor shapes); addr's factors are only poisoned with alpha != 0 below.
OTHERS = {
    "addmv": (((3,), (1,)), [(3, 4), (4,)]),
    "addbmm": (((3, 5), (5,)), [(2, 3, 4), (2, 4, 5)]),
    "addr": (((3, 4), (4,)), [(3,), (4,)]),
}


def _other_cases() -> list[tuple]:
    cases = []
    for op, (shapes, _) in OTHERS.items():
        for alpha, beta, shape, poison in _cases(shapes[:1]):
            # Eager's addr computes 0 * inf = NaN: a NaN on both sides, which
            # check_lowering (no equal_nan) cannot compare; the others skip the product.
            if not (op == "addr" and poison == "factors"):
                cases.append((op, alpha, beta, shape, poison))
        cases += [(op, 1, 1, shapes[0], "none"), (op, 2.0, 0.5, shapes[-1], "none")]
    return cases


@pytest.mark.parametrize(("op", "alpha", "beta", "bias_shape", "poison"), _other_cases())
def test_other_scaled_products(op, alpha, beta, bias_shape, poison):
    seed = zlib.crc32(repr((op, alpha, beta, bias_shape, poison)).encode())
    inputs = _inputs(seed, bias_shape, OTHERS[op][1], poison)
    fn = getattr(torch, op)
    check_lowering(lambda s, x, y: fn(s, x, y, beta=beta, alpha=alpha), inputs, atol=1e-5)


@pytest.mark.parametrize("op", ["addmv", "addbmm", "addr"])
@pytest.mark.parametrize("dtype", [torch.float16, torch.int32])
def test_other_scaled_products_dtypes(op, dtype):
    gen = torch.Generator().manual_seed(3)
    shapes = [OTHERS[op][0][0], *OTHERS[op][1]]
    inputs = [torch.randint(-3, 4, s, generator=gen).to(dtype) for s in shapes]
    fn = getattr(torch, op)
    beta, alpha = (2, 3) if dtype is torch.int32 else (0.5, 2.0)
    check_lowering(lambda s, x, y: fn(s, x, y, beta=beta, alpha=alpha), inputs)


def test_addmv_dynamic():
    inputs = [torch.randn(3), torch.randn(3, 4), torch.randn(4)]
    check_lowering(lambda s, x, y: torch.addmv(s, x, y, alpha=0.5), inputs, dynamic=True)
