"""``airgraph gears``: the gear combinations and GE options of gear specs, without compiling."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

import typer

from airgraph_cli._console import Policy, fail, print_json

__all__ = ["gears_command", "parse_gear_input", "split_inputs"]

HELP = (
    "Print every shape combination that gear specs give under a merge policy, and the GE "
    "options (ge.inputShape, ge.dynamicDims, ge.dynamicNodeType) the NPU target would pass.\n\n"
    "Give one --input per input, in order: its shape (sizes separated by commas; a geared "
    "dim's size is ignored) and its gears as set_dim_gears takes them.\n\n"
    "Example: airgraph gears --policy product --input 2,2 0=2,4 --input 2,2 0=2,4"
)


def parse_gear_input(spec: Sequence[str]) -> tuple[tuple[int, ...], dict[int, list[int]] | None]:
    """``["2,2", "0=2,4"]`` -> ``((2, 2), {0: [2, 4]})``: one ``--input`` of ``airgraph gears``.

    Raises:
        ValueError: the shape or a gear spec is malformed; the message quotes the input.
    """
    shape_text, *gear_texts = spec
    where = f"--input {' '.join(spec)}"
    try:
        shape = tuple(int(n) for n in shape_text.split(",")) if shape_text != "()" else ()
    except ValueError:
        raise ValueError(
            f"{where}: the shape must be sizes separated by commas (e.g. 2,2; () for a "
            f"scalar), got {shape_text!r}"
        ) from None
    gears: dict[int, list[int]] = {}
    for text in gear_texts:
        dim, sep, values = text.partition("=")
        try:
            if not sep:
                raise ValueError
            gears[int(dim)] = [int(n) for n in values.split(",")]
        except ValueError:
            raise ValueError(
                f"{where}: after the shape, expected DIM=GEAR,GEAR,... (e.g. 0=1,2,4), got {text!r}"
            ) from None
    return shape, gears or None


def split_inputs(args: Sequence[str]) -> list[list[str]]:
    """``["--input", "2,2", "0=2,4", "--input", "3"]`` -> ``[["2,2", "0=2,4"], ["3"]]``.

    Raises:
        typer.BadParameter: no ``--input``, an ``--input`` without a shape, or a
            stray argument or option.
    """
    groups: list[list[str]] = []
    for arg in args:
        if arg == "--input":
            groups.append([])
        elif arg.startswith("--") or not groups:
            raise typer.BadParameter(
                f"unexpected argument {arg!r}; expected --input SHAPE [DIM=GEARS ...]"
            )
        else:
            groups[-1].append(arg)
    if not groups:
        raise typer.BadParameter("give at least one --input SHAPE [DIM=GEARS ...]")
    if any(not group for group in groups):
        raise typer.BadParameter("--input needs a shape, e.g. --input 2,2 0=2,4")
    return groups


def gears_command(
    ctx: typer.Context,
    policy: Annotated[
        Policy, typer.Option(help="inference_config.dynamic_gears_merge_policy")
    ] = Policy.zip,
    names: Annotated[
        str | None,
        typer.Option(help="the GE Data op names, separated by commas (default: input0,...)"),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON instead of text")] = False,
) -> None:
    """Show the gear combinations and GE options of gear specs, without compiling."""
    from airgraph_gears import GearPlan

    inputs = split_inputs(ctx.args)
    try:
        parsed = [parse_gear_input(spec) for spec in inputs]
        plan = GearPlan([shape for shape, _ in parsed], [g for _, g in parsed], policy.value)
        data_names = names.split(",") if names else [f"input{i}" for i in range(len(parsed))]
        options = plan.ge_options(data_names)
    except (TypeError, ValueError) as e:
        fail("gears", str(e))
    if as_json:
        print_json(
            {
                "policy": plan.policy,
                "geared": [list(d) for d in plan.dims],
                "combinations": [[list(s) for s in combo] for combo in plan.combinations],
                "ge_options": options,
            }
        )
        return
    print(plan.describe())
    for name, value in options.items():
        print(f"{name} = {value}")
