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

__all__ = [
    "Policy",
    "EXIT_CODES",
    "EXIT_OK",
    "EXIT_USAGE",
    "EXIT_USER_ERROR",
    "console",
    "exit_codes",
    "fail",
    "print_json",
]

EXIT_OK = 0
EXIT_USER_ERROR = 1
EXIT_USAGE = 2

# What each exit code means for every command; each command's epilog (``exit_codes``) says
# when it exits 1. The generated command reference prints both.
EXIT_CODES = {
    EXIT_OK: "success",
    EXIT_USER_ERROR: "user error: the command's epilog says when (a path that does not exist "
    "or cannot be read, a model that cannot be built, a check that found problems); one line "
    "on stderr, `airgraph <command>: <what was wrong>`",
    EXIT_USAGE: "usage error: no command, an unknown command or option, a missing argument",
}

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


def exit_codes(user_error: str) -> str:
    """The epilog of a command's ``--help``: its exit codes, saying when it exits 1.

    Args:
        user_error: when the command exits with 1, e.g. ``"ROOT is not a directory"``.
    """
    return f"Exit codes: 0 success; 1 when {user_error}; 2 on a usage error."


def fail(command: str, message: str) -> NoReturn:
    """Report a user error as ``airgraph <command>: <message>`` on stderr and exit with 1."""
    print(f"airgraph {command}: {message}", file=sys.stderr)
    raise typer.Exit(EXIT_USER_ERROR)


class Policy(enum.StrEnum):
    """Gear merge policies, as ``inference_config.dynamic_gears_merge_policy`` takes them."""

    zip = "zip"
    product = "product"
