"""Entry point of the ``airgraph`` command.

Subcommands import their heavy dependencies (torch, airgraph_core) lazily so
that ``airgraph --version`` and ``airgraph --help`` answer instantly.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import sys
from collections.abc import Sequence

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


def _print_versions() -> int:
    versions = installed_versions()
    width = max(len(name) for name in versions)
    for name, version in versions.items():
        print(f"{name:<{width}}  {version or 'not installed'}")
    return 0


def _print_ops() -> int:
    import airgraph_core  # imports torch: only for the commands that need it

    print(airgraph_core.support_table())
    return 0


def _cache_show(path: str) -> int:
    from airgraph_cache import readable_cache

    if not os.path.exists(path):
        print(f"airgraph cache show: {path!r} does not exist", file=sys.stderr)
        return 1
    readable_cache(path)
    return 0


def _cache_ls(root: str) -> int:
    from airgraph_cache import ArtifactStore

    if not os.path.isdir(root):
        print(f"airgraph cache ls: {root!r} is not a directory", file=sys.stderr)
        return 1
    entries = ArtifactStore(root).entries()
    for entry in entries:
        size = sum(f.stat().st_size for f in entry.iterdir() if f.is_file())
        print(f"{entry.parent.name}/{entry.name}  {size / 1024:.1f} KiB")
    print(f"{len(entries)} entr{'y' if len(entries) == 1 else 'ies'} under {os.path.abspath(root)}")
    return 0


def _graph_dump(path: str) -> int:
    from airgraph_core import deserialize, dump_text

    try:
        with open(path, "rb") as f:
            graph = deserialize(f.read())
    except (OSError, ValueError) as e:
        print(f"airgraph graph: cannot read {path!r}: {e}", file=sys.stderr)
        return 1
    print(dump_text(graph), end="")
    return 0


def _parse_gear_input(spec: Sequence[str]) -> tuple[tuple[int, ...], dict[int, list[int]] | None]:
    """``["2,2", "0=2,4"]`` -> ``((2, 2), {0: [2, 4]})``: one ``--input`` of ``airgraph gears``."""
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


def _print_gears(inputs: Sequence[Sequence[str]], policy: str, names: str | None) -> int:
    from airgraph_gears import GearPlan

    try:
        parsed = [_parse_gear_input(spec) for spec in inputs]
        plan = GearPlan([shape for shape, _ in parsed], [g for _, g in parsed], policy)
        data_names = names.split(",") if names else [f"input{i}" for i in range(len(parsed))]
        options = plan.ge_options(data_names)
    except (TypeError, ValueError) as e:
        print(f"airgraph gears: {e}", file=sys.stderr)
        return 1
    print(plan.describe())
    for name, value in options.items():
        print(f"{name} = {value}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of the ``airgraph`` command."""
    parser = argparse.ArgumentParser(
        prog="airgraph",
        description="airgraph: torch.compile backend lowering FX graphs to Ascend GE graphs.",
    )
    parser.add_argument(
        "--version",
        action="store_true",
        help="print the versions of the installed airgraph packages and exit",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.add_parser("ops", help="print the table of supported ATen operators (markdown)")
    graph = commands.add_parser("graph", help="print a serialized GE graph (.pb) as text")
    graph.add_argument("path", help="a GE ModelDef protobuf file, e.g. a cache entry's graph.pb")
    gears = commands.add_parser(
        "gears",
        help="print the gear combinations and GE options of gear specs, without compiling",
        description=(
            "Print every shape combination that gear specs give under a merge policy, and "
            "the GE options (ge.inputShape, ge.dynamicDims, ge.dynamicNodeType) the NPU "
            "target would pass. Example: airgraph gears --policy product "
            "--input 2,2 0=2,4 --input 2,2 0=2,4"
        ),
    )
    gears.add_argument(
        "--input",
        dest="inputs",
        action="append",
        nargs="+",
        required=True,
        metavar="SHAPE [DIM=GEARS ...]",
        help="one input, in order: its shape (sizes separated by commas; a geared dim's "
        "size is ignored) and its gears as set_dim_gears takes them, e.g. 2,2 0=2,4",
    )
    gears.add_argument(
        "--policy",
        choices=("zip", "product"),
        default="zip",
        help="inference_config.dynamic_gears_merge_policy (default: zip)",
    )
    gears.add_argument(
        "--names", help="the GE Data op names, separated by commas (default: input0,...)"
    )
    cache = commands.add_parser("cache", help="inspect a cache_compile cache")
    cache_commands = cache.add_subparsers(dest="cache_command", metavar="ACTION", required=True)
    show = cache_commands.add_parser("show", help="print a cache entry: key, files, GE graph")
    show.add_argument("path", help="the cache root, an entry folder or a rank folder")
    ls = cache_commands.add_parser("ls", help="list the entries of a cache root")
    ls.add_argument("root", nargs="?", default=".torchair_cache", help="default: .torchair_cache")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``airgraph`` command.

    Args:
        argv: Command-line arguments without the program name; ``None`` reads
            ``sys.argv[1:]``.

    Returns:
        The process exit code.

    Examples:
        >>> main(["--version"])  # doctest: +SKIP
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.version:
        return _print_versions()
    if args.command == "ops":
        return _print_ops()
    if args.command == "graph":
        return _graph_dump(args.path)
    if args.command == "gears":
        return _print_gears(args.inputs, args.policy, args.names)
    if args.command == "cache":
        return _cache_show(args.path) if args.cache_command == "show" else _cache_ls(args.root)
    parser.print_help(sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
