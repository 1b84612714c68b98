"""Output helpers shared by the commands: one rich console, JSON, errors and exit codes.

Exit codes of every command: ``0`` success, ``1`` user error (a path that
does not exist, a model that cannot be built, a check that found problems),
``2`` usage error (unknown command or option, missing argument).
"""

from __future__ import annotations

import enum
import json
import os
import sys
from typing import Any, NoReturn

import typer

__all__ = ["Policy", "EXIT_OK", "EXIT_USAGE", "EXIT_USER_ERROR", "console", "fail", "print_json"]

EXIT_OK = 0
EXIT_USER_ERROR = 1
EXIT_USAGE = 2

# Wide enough that tables piped to a file or a test are not cut at 80 columns.
_PIPE_WIDTH = 160


def console(*, stderr: bool = False) -> Any:
    """A rich console on stdout (or stderr); colours only on a terminal."""
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    terminal = stream.isatty()
    width = None if terminal or "COLUMNS" in os.environ else _PIPE_WIDTH
    return Console(file=stream, width=width, soft_wrap=not terminal, highlight=False)


def print_json(value: Any) -> None:
    """Print ``value`` as indented JSON on stdout (what every ``--json`` flag gives)."""
    print(json.dumps(value, indent=2, sort_keys=False, default=str))


def fail(command: str, message: str) -> NoReturn:
    """Report a user error as ``airgraph <command>: <message>`` on stderr and exit with 1."""
    print(f"airgraph {command}: {message}", file=sys.stderr)
    raise typer.Exit(EXIT_USER_ERROR)


class Policy(enum.StrEnum):
    """Gear merge policies, as ``inference_config.dynamic_gears_merge_policy`` takes them."""

    zip = "zip"
    product = "product"
