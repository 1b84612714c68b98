"""Entry point of the ``airgraph`` command.

Subcommands import their heavy dependencies (torch, airgraph_core) lazily so
that ``airgraph --version`` and ``airgraph --help`` answer instantly.
"""

from __future__ import annotations

import argparse
import importlib.metadata
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
    parser.print_help(sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
