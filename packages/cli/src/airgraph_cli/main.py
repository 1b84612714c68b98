"""Entry point of the ``airgraph`` command: one typer app, one module per command group.

Subcommands import their heavy dependencies (torch, airgraph_core) lazily so
that ``airgraph --version`` and ``airgraph --help`` answer instantly.

Exit codes: ``0`` success, ``1`` user error (a missing path, a model that
cannot be built, a check that found problems), ``2`` usage error.
"""

from __future__ import annotations

import importlib.metadata
import sys
from collections.abc import Sequence
from typing import Annotated

import typer

from airgraph_cli import cache, check, doctor, gears, graphs, ops
from airgraph_cli._console import EXIT_USAGE, exit_codes

__all__ = ["DISTRIBUTIONS", "app", "installed_versions", "main"]

# Distributions reported by ``airgraph --version``, lowest layer first.
DISTRIBUTIONS = (
    "airgraph",
    "airgraph-core",
    "airgraph-gears",
    "airgraph-dynamo",
    "airgraph-cache",
    "airgraph-cli",
    "torch",
    "torch_npu",
)


def installed_versions() -> dict[str, str | None]:
    """Return the installed version of each airgraph distribution and of torch.

    Returns:
        A dict from distribution name to its version, or ``None`` where the
        distribution is not installed.
    """
    versions: dict[str, str | None] = {}
    for dist in DISTRIBUTIONS:
        try:
            versions[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            versions[dist] = None
    return versions


def _print_versions(value: bool) -> None:
    if not value:
        return
    versions = installed_versions()
    width = max(len(name) for name in versions)
    for name, version in versions.items():
        print(f"{name:<{width}}  {version or 'not installed'}")
    raise typer.Exit(0)


app = typer.Typer(
    name="airgraph",
    help="airgraph: torch.compile backend lowering FX graphs to Ascend GE graphs.",
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    pretty_exceptions_enable=False,
    epilog="Exit codes: 0 success; 1 on a user error (each command's --help says when); 2 on a "
    "usage error.",
)


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_print_versions,
            is_eager=True,
            help="print the versions of the installed airgraph packages and exit",
        ),
    ] = False,
) -> None:
    """airgraph: torch.compile backend lowering FX graphs to Ascend GE graphs."""


app.command("doctor", epilog=exit_codes("something airgraph needs on this machine is missing"))(
    doctor.doctor_command
)
app.command(
    "check",
    epilog=exit_codes(
        "the model cannot be imported or built, an --input or --gears value is malformed, or "
        "the model does not lower cleanly (unsupported ops, graph breaks, prototype problems)"
    ),
)(check.check_command)
app.command(
    "dump",
    epilog=exit_codes(
        "the graph file cannot be read, the model does not give one GE graph, --format svg "
        "lacks graphviz, or the output cannot be written"
    ),
)(graphs.dump_command)
app.command(
    "ops",
    epilog=exit_codes("a filter matches nothing (without --json), or --markdown gets a filter"),
)(ops.ops_command)
app.command(
    "gears",
    help=gears.HELP,
    short_help="Show the gear combinations and GE options of gear specs, without compiling.",
    options_metavar="--input SHAPE [DIM=GEARS ...] ... [OPTIONS]",
    epilog=exit_codes("a shape or gear spec is malformed or breaks a rule of set_dim_gears"),
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
)(gears.gears_command)
app.command("graph", epilog=exit_codes("PATH is not a readable GE graph"))(graphs.graph_command)
app.add_typer(cache.app, name="cache")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``airgraph`` command.

    Args:
        argv: Command-line arguments without the program name; ``None`` reads
            ``sys.argv[1:]``.

    Returns:
        The process exit code. A usage error (unknown command or option)
        prints the usage and raises ``SystemExit(2)``, as argparse did.

    Examples:
        >>> main(["--version"])  # doctest: +SKIP
    """
    args = list(sys.argv[1:] if argv is None else argv)
    if not args:
        names = ", ".join(command.name for command in app.registered_commands)
        groups = ", ".join(group.name for group in app.registered_groups)
        print(
            "usage: airgraph [OPTIONS] COMMAND [ARGS]...\n"
            f"commands: {names}, {groups}\nRun 'airgraph --help' for what each does.",
            file=sys.stderr,
        )
        return EXIT_USAGE
    try:
        app(args=args, prog_name="airgraph", standalone_mode=True)
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        if code == EXIT_USAGE:
            raise
        return code
    return 0


if __name__ == "__main__":
    sys.exit(main())
