"""A seeded generator of small programs over mixed dtypes, broadcast shapes and sizes.

Where :mod:`view_programs` varies view chains over float inputs, these
programs vary what values and shapes a compiled graph must get right:

- inputs of mixed dtypes (float32, float16, bfloat16, int32, int64, bool)
  whose shapes broadcast against each other, with size-1 and size-0 dims;
- dtype promotion: tensor-tensor, tensor-Python scalar, 0-d tensors from
  reductions, casts, comparisons, integer division and remainder;
- reductions with and without ``keepdim`` (sum, amax, max values/indices,
  argmax, any/all, prod, cumsum, mean/var/std, softmax, logsumexp, norm);
- sizes used as values (``x * x.shape[0]``, ``x / x.shape[-1] ** 0.5``,
  ``torch.arange(n)``, ``new_full`` with a size ratio);
- views (unsqueeze, transpose, narrow, slices, expand, select, movedim,
  flip, cat, roll) and in-place updates of inputs and of views of them.

Each input dim is a size symbol (``"A"``, ``"B"``: a different value in the
second call, and the gears' values) or a literal (0, 1, 2). Every statement is
checked in eager PyTorch on the inputs of both calls, so each program is
valid for every mode. :func:`check_outputs` compares a compiled call with
eager; :func:`shrink` reduces a failing program to a minimal reproducer.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable
from typing import Any

import torch
import view_programs

__all__ = ["SIZES", "Program", "check_outputs", "generate", "shrink"]

#: Size symbol -> (first call, second call); both are the symbol's gears.
SIZES = {"A": (3, 5), "B": (4, 6)}
_DTYPES = [torch.float32, torch.float32, torch.float16, torch.bfloat16]
_DTYPES += [torch.int32, torch.int64, torch.bool]
_FLOATS = (torch.float32, torch.float16, torch.bfloat16)
_CASTS = ["float32", "float16", "bfloat16", "int32", "int64", "bool"]


@dataclasses.dataclass
class Program:
    """One generated program: input shapes (templates) and dtypes, statements, returns."""

    seed: int
    templates: list[tuple[int | str, ...]]
    dtypes: list[torch.dtype]
    statements: list[str]
    returns: list[str]

    def shapes(self, call: int) -> list[tuple[int, ...]]:
        """The input shapes of call 0 or 1 (symbols take their value of that call)."""
        return [
            tuple(SIZES[d][call] if isinstance(d, str) else d for d in t) for t in self.templates
        ]

    def params(self) -> str:
        return ", ".join(f"x{i}" for i in range(len(self.templates)))

    def source(self, name: str = "f", self_arg: bool = False) -> str:
        params = ("self, " if self_arg else "") + self.params()
        body = "".join(f"    {s}\n" for s in self.statements)
        return f"def {name}({params}):\n{body}    return ({', '.join(self.returns)},)\n"

    def function(self) -> Callable[..., Any]:
        namespace: dict[str, Any] = {"torch": torch}
        exec(compile(self.source(), f"<generated program {self.seed}>", "exec"), namespace)
        return namespace["f"]

    def inputs(self, call: int, seed: int, layouts: list[str] | None = None) -> list[torch.Tensor]:
        """Fresh inputs of call ``call`` (the same values for the same seed).

        ``layouts`` gives each input's memory layout: ``"contiguous"``,
        ``"transposed"`` (first and last dims swapped in memory) or
        ``"strided"`` (every other row of a larger buffer).
        """
        gen = torch.Generator().manual_seed(seed)
        out = []
        for k, (shape, dtype) in enumerate(zip(self.shapes(call), self.dtypes)):
            if dtype == torch.bool:
                t = torch.rand(shape, generator=gen) > 0.5
            elif dtype.is_floating_point:
                t = (torch.randn(shape, generator=gen) * 2).to(dtype)
            else:
                t = torch.randint(-5, 6, shape, generator=gen).to(dtype)
            layout = layouts[k] if layouts else "contiguous"
            if layout == "transposed" and t.dim() >= 2:
                t = t.transpose(0, -1).contiguous().transpose(0, -1)
            elif layout == "strided" and t.dim() >= 1:
                buf = torch.zeros(t.shape[0] * 2, *t.shape[1:], dtype=t.dtype)
                buf[::2] = t
                t = buf[::2]
            out.append(t)
        return out

    def reproducer(self, mode: str) -> str:
        return (
            f"# generated program seed {self.seed}, mode {mode!r}\n{self.source()}"
            f"# inputs: templates {self.templates} (symbols {SIZES}), dtypes {self.dtypes}\n"
        )


def _unary(rng: random.Random, v: str, dtype: torch.dtype, rank: int) -> list[str]:
    boolean = dtype == torch.bool
    c = [
        f"~{v}" if boolean else f"-{v}",
        f"{v}.logical_not()" if boolean else f"{v}.abs()",
        f"torch.exp({v})",
        f"torch.sqrt({v}.abs())",
        f"torch.sigmoid({v})",
        f"torch.tanh({v})",
        f"{v}.to(torch.{rng.choice(_CASTS)})",
        f"{v} * {rng.choice(['2', '2.5', 'True', '-1'])}",
        f"{v} + {rng.choice(['1', '0.5', 'False'])}",
        f"{v} / {rng.choice(['2', '3.0'])}",
        f"{v} > 0",
        f"torch.clamp({v}, min={rng.choice(['0', '-1.5', '1'])})",
        f"{v}.long()" if boolean else f"{v} // 2",
        f"{v}.any()" if boolean else f"{v} % 3",
        f"{v}.round()" if dtype in _FLOATS else f"{v}.float().round()",
    ]
    if rank >= 1:
        d = rng.randrange(rank)
        c += [
            f"{v} * {v}.shape[{d}]",
            f"{v} / {v}.shape[-1]",
            f"{v} / {v}.shape[{d}] ** 0.5",
            f"{v} + torch.arange({v}.shape[-1])",
            f"torch.ones({v}.shape[0], 1, dtype={v}.dtype) + {v}",
            f"torch.full_like({v}, 2)",
            f"{v}.reshape({v}.shape[0], -1)",
            f"{v}.shape[{d}] - {v}",
            f"{v}.float() / ({v}.shape[0] * {v}.shape[-1])",
            f"{v}.sum() / {v}.numel()",
            f"{v}.shape[{d}] * 1.5 * {v}",
            f"{v} % {v}.shape[{d}]",
            f"{v}.new_full(({v}.shape[{d}],), {v}.shape[0] / 2)",
            f"torch.triu(torch.ones({v}.shape[0], {v}.shape[0]), 1) * 3",
        ]
    return c


def _reductions(rng: random.Random, v: str, dtype: torch.dtype, rank: int) -> list[str]:
    if rank == 0:
        return [f"{v}.sum()", f"{v}.all()" if dtype == torch.bool else f"{v}.amax()"]
    d, e = rng.randrange(rank), rng.randrange(rank)
    k = rng.choice(["True", "False"])
    return [
        f"{v}.sum({d}, keepdim={k})",
        f"{v}.sum(({d}, {e}), keepdim={k})",
        f"{v}.sum({d}, dtype=torch.float32)",
        f"{v}.amax({d}, keepdim={k})",
        f"{v}.amin({d}, keepdim={k})",
        f"{v}.max({d}, keepdim={k}).values",
        f"{v}.max({d}, keepdim={k}).indices",
        f"{v}.argmax({d}, keepdim={k})",
        f"{v}.any({d}, keepdim={k})",
        f"{v}.all({d})",
        f"{v}.prod({d}, keepdim={k})",
        f"{v}.cumsum({d})",
        f"{v}.min()",
        f"{v}.float().mean({d}, keepdim={k})",
        f"{v}.float().var({d}, keepdim={k}, correction=0)",
        f"{v}.float().std({d}, keepdim={k}, correction=0)",
        f"{v}.float().softmax({d})",
        f"{v}.float().logsumexp({d}, keepdim={k})",
        f"{v}.float().norm(dim={d}, keepdim={k})",
    ]


def _views(rng: random.Random, v: str, rank: int) -> list[str]:
    if rank == 0:
        return [f"{v}.unsqueeze(0)", f"{v}.expand(2)", f"{v}.reshape(1, 1)"]
    d = rng.randrange(rank)
    return [
        f"{v}.unsqueeze({rng.randrange(rank + 1)})",
        f"{v}.transpose(0, {rank - 1})",
        f"{v}.narrow({d}, 0, 1)",
        f"{v}[..., 1:]",
        f"{v}[::2]",
        f"{v}.flip({d})",
        f"{v}.expand(2, *{v}.shape)",
        f"{v}.reshape(-1)",
        f"{v}.movedim(0, -1)",
        f"{v}.select({d}, -1)",
        f"{v}.squeeze()",
        f"torch.cat([{v}, {v}], {d})",
        f"{v}.roll(1, {d})",
        f"{v}.unflatten({d}, ({v}.shape[{d}], 1))",
    ]


def _binaries(a: str, b: str, dtypes: tuple[torch.dtype, torch.dtype]) -> list[str]:
    boolean = torch.bool in dtypes
    return [
        f"{a} + {b}",
        f"{a} * {b}" if boolean else f"{a} - {b}",
        f"{a} * {b}",
        f"{a} / {b}",
        f"torch.maximum({a}, {b})",
        f"torch.minimum({a}, {b})",
        f"{a} == {b}",
        f"{a} < {b}",
        f"torch.where({a} > 0, {a}, {b})",
        f"torch.where({b} > 0, {a}, 0.5)",
        f"{a} != {b}" if boolean else f"torch.remainder({a}, {b}.abs() + 1)",
        f"{a} ^ {b}" if boolean else f"torch.floor_divide({a}, {b}.abs() + 1)",
        f"{a} | {b}" if boolean else f"torch.add({a}, {b}, alpha=2)",
        f"torch.lerp({a}.float(), {b}.float(), 0.3)",
        f"torch.stack([{a}, {a}])",
    ]


def _inplace(a: str, b: str) -> list[str]:
    return [
        f"{a}.add_({b})",
        f"{a}.mul_({b})",
        f"{a}.copy_({b})",
        f"{a}[...] = {b}",
        f"{a}.clamp_(min=0)",
        f"{a}.masked_fill_({b} > 0, 3)",
        f"{a}.sub_(1)",
        f"{a}.fill_(2)",
        f"{a}.div_(2)",
        f"{a}.neg_()",
        f"{a}.lerp_({b}, 0.5)",
        f"{a}.exp_()",
        f"{a}.abs_()",
    ]


def generate(seed: int) -> Program:
    """The program of ``seed``: 1 to 3 inputs, 2 to 7 statements, 1 to 3 returned values."""
    rng = random.Random(seed)
    rank = rng.randint(0, 3)
    base = [rng.choice(["A", "B", 2, 1, 0 if rng.random() < 0.15 else "A"]) for _ in range(rank)]
    templates = []
    for _ in range(rng.randint(1, 3)):
        # Right-aligned with the base shape: leading dims dropped, some dims 1.
        r = rng.randint(max(0, rank - 2), rank)
        templates.append(tuple(1 if rng.random() < 0.25 else d for d in base[rank - r :]))
    dtypes = [rng.choice(_DTYPES) for _ in templates]
    program = Program(seed, templates, dtypes, [], [])
    envs = [{f"x{i}": t for i, t in enumerate(program.inputs(call, 0))} for call in (0, 1)]
    names = list(envs[0])
    writable = set(names)  # no two elements share memory: in-place writes are legal
    n_statements, tries = rng.randint(2, 7), 0
    while len(program.statements) < n_statements and tries < 300:
        tries += 1
        v = rng.choice(names)
        t, kind, new = envs[0][v], rng.random(), f"v{len(names)}"
        if kind < 0.25:
            statement = f"{new} = {rng.choice(_unary(rng, v, t.dtype, t.dim()))}"
        elif kind < 0.45:
            statement = f"{new} = {rng.choice(_reductions(rng, v, t.dtype, t.dim()))}"
        elif kind < 0.6:
            statement = f"{new} = {rng.choice(_views(rng, v, t.dim()))}"
        elif kind < 0.8:
            b = rng.choice(names)
            statement = f"{new} = {rng.choice(_binaries(v, b, (t.dtype, envs[0][b].dtype)))}"
        elif v in writable:
            statement, new = rng.choice(_inplace(v, rng.choice(names))), None
        else:
            continue
        if not _runs_everywhere(statement, envs):
            continue
        program.statements.append(statement)
        if new is not None:
            names.append(new)
            if all(not _overlaps(env[new]) for env in envs):
                writable.add(new)
    program.returns = rng.sample(names, min(len(names), rng.randint(1, 3)))
    return program


def _overlaps(t: torch.Tensor) -> bool:
    """Whether two elements of ``t`` may share memory (an expanded view)."""
    return any(s == 0 and n > 1 for s, n in zip(t.stride(), t.shape))


def _runs_everywhere(statement: str, envs: list[dict[str, Any]]) -> bool:
    trial = [dict(env) for env in envs]
    try:
        for env in trial:
            exec(statement, {"torch": torch}, env)
    except Exception:  # eager refuses it (shapes, dtypes, overlap): not a program
        return False
    for env, new in zip(envs, trial):
        env.update(new)
    return True


def _tolerance(dtype: torch.dtype) -> dict[str, float]:
    if dtype == torch.float16:
        return {"atol": 2e-2, "rtol": 2e-2}
    if dtype == torch.bfloat16:
        return {"atol": 5e-2, "rtol": 5e-2}
    if dtype.is_floating_point:
        return {"atol": 1e-4, "rtol": 1e-4}
    return {"atol": 0.0, "rtol": 0.0}


def _aliases(outs: list[torch.Tensor], inputs: list[torch.Tensor]) -> list[list[bool]]:
    return [[bool(torch._C._is_alias_of(o, t)) and o.numel() > 0 for t in inputs] for o in outs]


def check_outputs(got: Any, expected: Any, got_in: list, eager_in: list, what: str) -> None:
    """Fail, naming ``what``, where a compiled call differs from eager.

    Per output: dtype, shape, values (exact for integers and bools; 1e-4
    for float32, 2e-2 for float16, 5e-2 for bfloat16) and which inputs it
    aliases; then the inputs' values after the call.
    """
    got, expected = list(got), list(expected)
    assert len(got) == len(expected), f"{what}: {len(got)} outputs, eager {len(expected)}"
    for i, (g, e) in enumerate(zip(got, expected)):
        assert g.dtype == e.dtype, f"{what}: output {i} dtype {g.dtype}, eager {e.dtype}"
        assert g.shape == e.shape, (
            f"{what}: output {i} shape {tuple(g.shape)}, eager {tuple(e.shape)}"
        )
        torch.testing.assert_close(
            g, e, equal_nan=True, **_tolerance(e.dtype), msg=lambda m, i=i: f"{what} {i}: {m}"
        )
    got_alias, eager_alias = _aliases(got, got_in), _aliases(expected, eager_in)
    assert got_alias == eager_alias, (
        f"{what}: output-aliases-input {got_alias}, eager {eager_alias}"
    )
    for j, (g, e) in enumerate(zip(got_in, eager_in)):
        torch.testing.assert_close(
            g, e, equal_nan=True, **_tolerance(e.dtype), msg=lambda m, j=j: f"{what} input {j}: {m}"
        )


def shrink(program: Program, fails: Callable[[Program], bool]) -> Program:
    """The smallest program (dropping statements and returns) for which ``fails`` holds."""
    return view_programs.shrink(program, fails, _valid)


def _valid(program: Program) -> bool:
    try:
        for call in (0, 1):
            program.function()(*program.inputs(call, 0))
    except Exception:
        return False
    return True
