"""A seeded generator of small programs of view ops, in-place writes and outputs.

Each :class:`ViewProgram` is Python source for ``f(x0, x1)``: a chain of view
ops (slices with steps, select, narrow, transpose, permute, split, chunk,
unbind, expand, reshape/flatten/unflatten, squeeze/unsqueeze, diagonal,
unfold, as_strided) over the inputs and over fresh intermediates, in-place
writes through some views (``add_``, ``mul_``, ``copy_``, slice assignment,
``index_put_``), and a tuple of returned tensors. Every statement is checked
in eager PyTorch on the inputs of both calls (the first shapes, the second
shapes of the ``dynamic=True`` run and those of the gears run), so every
program is valid for every mode.

:func:`check_outputs` compares a compiled run with eager: values, sizes,
aliasing between outputs and inputs and among outputs, and for outputs
that alias an input also strides and storage offsets; then the inputs'
contents after the call. :func:`shrink` reduces a failing program to a
minimal one, which the tests print as a reproducer.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable
from typing import Any

import torch

__all__ = ["ViewProgram", "check_outputs", "generate", "make_inputs", "shrink"]

N_INPUTS = 2


@dataclasses.dataclass
class _Var:
    name: str
    writable: bool  # no two elements share memory, so in-place writes are legal


@dataclasses.dataclass
class ViewProgram:
    """One generated program: statements, returned names, and the inputs of each call.

    ``layouts`` gives each input's layout: ``"contiguous"``, ``"transposed"``
    (a ``.t()`` of a contiguous buffer) or ``"offset"`` (a slice of a larger
    buffer, so its storage offset is not 0).
    """

    seed: int
    statements: list[str]
    returns: list[str]
    shapes: list[tuple[int, ...]]
    dynamic_shapes: list[tuple[int, ...]]
    gear_shapes: list[tuple[int, ...]]
    layouts: list[str]

    def source(self, name: str = "f", self_arg: bool = False) -> str:
        params = ", ".join((["self"] if self_arg else []) + [f"x{i}" for i in range(N_INPUTS)])
        body = [f"    {s}" for s in self.statements]
        body.append(f"    return ({', '.join(self.returns)},)")
        return f"def {name}({params}):\n" + "\n".join(body) + "\n"

    def function(self) -> Callable[..., Any]:
        namespace: dict[str, Any] = {"torch": torch}
        exec(compile(self.source(), f"<view program {self.seed}>", "exec"), namespace)
        return namespace["f"]

    def reproducer(self, mode: str) -> str:
        """A script-like text that shows the failing program and how it was called."""
        return (
            f"# view program seed {self.seed}, mode {mode!r}\n"
            f"{self.source()}"
            f"# input shapes: first call {self.shapes}, dynamic second call "
            f"{self.dynamic_shapes}, gears second call {self.gear_shapes}; "
            f"layouts {self.layouts}\n"
        )


def make_inputs(program: ViewProgram, shapes: list[tuple[int, ...]], seed: int) -> list:
    """Fresh inputs of ``shapes`` in the program's layouts (the same values for the same seed)."""
    gen = torch.Generator().manual_seed(seed)
    inputs = []
    for shape, layout in zip(shapes, program.layouts):
        if layout == "transposed":
            buf = torch.randn(tuple(reversed(shape)), generator=gen)
            inputs.append(buf.t() if len(shape) == 2 else buf.permute(*reversed(range(len(shape)))))
        elif layout == "offset":
            buf = torch.randn((shape[0] + 1, *shape[1:]), generator=gen)
            inputs.append(buf[1:])
        else:
            inputs.append(torch.randn(shape, generator=gen))
    return inputs


# -- generation ---------------------------------------------------------------


def _dims(rng: random.Random, rank: int, k: int) -> list[int]:
    return rng.sample(range(rank), k)


def _view_candidates(rng: random.Random, v: str, rank: int) -> list[tuple[str, bool]]:
    """Candidate view expressions of ``v`` (rank ``rank``) and whether each stays writable."""
    c: list[tuple[str, bool]] = []
    if rank >= 1:
        d = rng.randrange(rank)
        pre = ":, " * d
        start, end, step = rng.choice([0, 1]), rng.choice(["", "-1"]), rng.choice([1, 2])
        c.append((f"{v}[{pre}{start}:{end}:{step}]", True))
        c.append((f"{v}.select({d}, {rng.choice([0, 1, -1])})", True))
        c.append((f"{v}.narrow({d}, 1, {v}.shape[{d}] - 1)", True))
        c.append((f"{v}.narrow({d}, 0, 1)", True))
        c.append((f"{v}.narrow({d}, 0, 1).squeeze({d})", True))
        c.append((f"{v}.split({rng.choice([1, 2])}, {d})[{rng.choice([0, -1])}]", True))
        c.append((f"{v}.split([1, {v}.shape[{d}] - 1], {d})[{rng.choice([0, 1])}]", True))
        c.append((f"{v}.chunk(2, {d})[{rng.choice([0, -1])}]", True))
        c.append((f"{v}.unbind({d})[{rng.choice([0, -1])}]", True))
        c.append((f"{v}.unsqueeze({rng.randrange(rank + 1)})", True))
        c.append((f"{v}.unsqueeze(0).expand(2, *{v}.shape)", False))
        c.append((f"{v}.reshape(-1)", True))
        c.append((f"{v}.flatten()", True))
        c.append((f"{v}.unfold({d}, 2, 1)", False))
        c.append((f"{v}.view({v}.shape)", True))
        c.append((f"{v}.unflatten({d}, ({v}.shape[{d}] // 2, 2))", True))
    if rank >= 2:
        a, b = _dims(rng, rank, 2)
        c.append((f"{v}.transpose({a}, {b})", True))
        perm = list(range(rank))
        rng.shuffle(perm)
        c.append((f"{v}.permute({', '.join(map(str, perm))})", True))
        c.append((f"{v}.diagonal({rng.choice([0, 1])}, {a}, {b})", True))
        c.append((f"{v}.flatten(0, 1)", True))
        c.append((f"{v}.unsqueeze(1).squeeze(1)", True))
    if rank == 2:
        c.append((f"{v}.t()", True))
        c.append((f"{v}.as_strided((2, 2), (1, 2), 1)", False))
    return c


def _write_candidates(rng: random.Random, v: str, rank: int) -> list[str]:
    c = [f"{v}.add_(1.5)", f"{v}.mul_(-2.0)", f"{v}.copy_({v} * 3 - 1)"]
    if rank >= 1:
        c.append(f"{v}[0] = 7.0")
        c.append(f"{v}.index_put_((torch.tensor([0]),), torch.tensor(-4.0))")
    return c


def generate(seed: int) -> ViewProgram:
    """The program of ``seed``: 3 to 8 statements and 1 to 4 returned tensors."""
    rng = random.Random(seed)
    ranks = [rng.choice([2, 2, 3]) for _ in range(N_INPUTS)]
    shapes = [tuple(rng.choice([4, 6]) for _ in range(r)) for r in ranks]
    dynamic_shapes = [tuple(n + rng.choice([0, 2]) for n in s) for s in shapes]
    # Gears: the first dim of every input takes a second value, other dims stay.
    gear = rng.choice([2, 8])
    gear_shapes = [(gear, *s[1:]) for s in shapes]
    layouts = [rng.choice(["contiguous", "contiguous", "transposed", "offset"]) for _ in ranks]
    program = ViewProgram(seed, [], [], shapes, dynamic_shapes, gear_shapes, layouts)
    pool = [_Var(f"x{i}", True) for i in range(N_INPUTS)]
    runs = [
        make_inputs(program, s, 0) for s in (shapes, dynamic_shapes, gear_shapes)
    ]  # eager witnesses: every statement must run on all three
    envs: list[dict[str, Any]] = [{f"x{i}": t for i, t in enumerate(inputs)} for inputs in runs]
    n_statements = rng.randint(3, 8)
    tries = 0
    while len(program.statements) < n_statements and tries < 200:
        tries += 1
        var = rng.choice(pool)
        rank = envs[0][var.name].dim()
        kind = rng.random()
        if kind < 0.15:
            name = f"v{len(pool)}"
            op = rng.choice(["* 2", "+ 1", "- 0.5"])
            statement, new = f"{name} = {var.name} {op}", _Var(name, True)
        elif kind < 0.35 and var.writable:
            statement, new = rng.choice(_write_candidates(rng, var.name, rank)), None
        else:
            name = f"v{len(pool)}"
            candidates = _view_candidates(rng, var.name, rank)
            if not candidates:  # a 0-d tensor has no views to take
                continue
            expr, writable = rng.choice(candidates)
            statement, new = f"{name} = {expr}", _Var(name, var.writable and writable)
        if not _runs_everywhere(statement, envs):
            continue
        program.statements.append(statement)
        if new is not None:
            pool.append(new)
    candidates = [v.name for v in pool]
    count = min(len(candidates), rng.randint(1, 4))
    program.returns = rng.sample(candidates, count)
    return program


def _runs_everywhere(statement: str, envs: list[dict[str, Any]]) -> bool:
    trial = [dict(env) for env in envs]
    try:
        for env in trial:
            exec(statement, {"torch": torch}, env)
            if any(isinstance(v, torch.Tensor) and v.numel() == 0 for v in env.values()):
                return False  # empty tensors share no memory: aliasing says nothing
    except (RuntimeError, IndexError, ValueError, TypeError):
        return False
    for env, new in zip(envs, trial):
        env.update(new)
    return True


# -- checking -------------------------------------------------------------------


def _alias_matrix(outs: list[torch.Tensor], others: list[torch.Tensor]) -> list[list[bool]]:
    return [[bool(torch._C._is_alias_of(o, t)) for t in others] for o in outs]


def check_outputs(
    got: Any,
    expected: Any,
    got_inputs: list[torch.Tensor],
    eager_inputs: list[torch.Tensor],
    what: str,
) -> None:
    """Fail with a message naming ``what`` if a compiled call differs from eager's.

    Checks, per output: shape, dtype, values; aliasing of each output with
    each input and with each other output; strides and storage offset of
    outputs that alias an input. Then the inputs' values after the call.
    """
    got, expected = list(got), list(expected)
    assert len(got) == len(expected), f"{what}: {len(got)} outputs, eager {len(expected)}"
    for i, (g, e) in enumerate(zip(got, expected)):
        assert g.shape == e.shape, f"{what}: output {i} shape {tuple(g.shape)} != {tuple(e.shape)}"
        assert g.dtype == e.dtype, f"{what}: output {i} dtype {g.dtype} != {e.dtype}"
        torch.testing.assert_close(
            g, e, atol=1e-5, rtol=1e-5, msg=lambda m, i=i: f"{what} {i}: {m}"
        )
    got_in = _alias_matrix(got, got_inputs)
    exp_in = _alias_matrix(expected, eager_inputs)
    assert got_in == exp_in, f"{what}: output-aliases-input {got_in} != eager {exp_in}"
    got_out = _alias_matrix(got, got)
    exp_out = _alias_matrix(expected, expected)
    assert got_out == exp_out, f"{what}: output-aliases-output {got_out} != eager {exp_out}"
    for i, (g, e) in enumerate(zip(got, expected)):
        if any(exp_in[i]):
            assert (g.stride(), g.storage_offset()) == (e.stride(), e.storage_offset()), (
                f"{what}: output {i} (a view of an input) has stride {g.stride()} offset "
                f"{g.storage_offset()}, eager {e.stride()} offset {e.storage_offset()}"
            )
    for j, (g, e) in enumerate(zip(got_inputs, eager_inputs)):
        torch.testing.assert_close(
            g, e, atol=1e-5, rtol=1e-5, msg=lambda m, j=j: f"{what}: input {j} after the call: {m}"
        )


def shrink(program, fails: Callable, valid: Callable | None = None):
    """The smallest program (by dropping statements and returns) for which ``fails`` holds.

    Works on any dataclass program with ``statements`` and ``returns``
    (also ``generated_programs.Program``). Candidates for which ``valid`` is
    false (default: they no longer run in eager) count as not failing.
    """
    valid = valid or _valid
    current = program
    changed = True
    while changed:
        changed = False
        for field in ("statements", "returns"):
            items = getattr(current, field)
            for k in range(len(items)):
                if field == "returns" and len(items) == 1:
                    break
                candidate = dataclasses.replace(current, **{field: items[:k] + items[k + 1 :]})
                if valid(candidate) and fails(candidate):
                    current, changed = candidate, True
                    break
            if changed:
                break
    return current


def _valid(program: ViewProgram) -> bool:
    fn = program.function()
    try:
        for shapes in (program.shapes, program.dynamic_shapes, program.gear_shapes):
            fn(*make_inputs(program, shapes, 0))
    except Exception:
        return False
    return True
