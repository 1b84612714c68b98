"""The reference of every ``airgraph`` command, generated from the typer command tree itself.

The docs site's command reference is [command_reference][airgraph_cli.reference.command_reference]
rendered at build time (``docs/hooks.py``), so it lists exactly the commands, arguments,
options, defaults and exit codes that ``airgraph ... --help`` shows, and cannot drift from them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import typer
import typer.main

from airgraph_cli._console import EXIT_CODES

__all__ = ["CommandDoc", "Param", "command_docs", "command_reference"]

# The extras typer appends to a parameter's help: "  [default: zip]", "  [required]".
_EXTRAS = re.compile(r"\s*\[([^\[\]]*)\]\s*$")


@dataclass(frozen=True)
class Param:
    """One argument or option as ``--help`` shows it.

    Attributes:
        name: the option's flags and metavar (``-f, --format <txt|pbtxt|dot|svg>``) or the
            argument's metavar.
        help: the help text, without the default.
        default: the default as ``--help`` shows it, or ``None`` when it shows none.
        required: whether the command needs it.
    """

    name: str
    help: str
    default: str | None
    required: bool


@dataclass(frozen=True)
class CommandDoc:
    """One command or command group of the ``airgraph`` command.

    Attributes:
        path: the words that run it, e.g. ``("airgraph", "cache", "ls")``.
        usage: its usage line, e.g. ``airgraph cache ls [OPTIONS] [root]``.
        summary: its one-line description (what ``airgraph --help`` lists).
        help: its full description (the summary first).
        arguments: its positional arguments, in order.
        options: its options, ``--help`` last.
        epilog: its exit codes (a command group has none).
        subcommands: the names of its subcommands (empty for a command).
    """

    path: tuple[str, ...]
    usage: str
    summary: str
    help: str
    arguments: tuple[Param, ...]
    options: tuple[Param, ...]
    epilog: str
    subcommands: tuple[str, ...]

    @property
    def name(self) -> str:
        """The command as typed, e.g. ``airgraph cache ls``."""
        return " ".join(self.path)


def _param(record: tuple[str, str], required: bool) -> Param:
    name, text = record
    default = None
    extras = _EXTRAS.search(text)
    if extras is not None:
        text = text[: extras.start()]
        for extra in extras.group(1).split(";"):
            label, _, value = extra.strip().partition(":")
            if label == "default":
                default = value.strip()
    return Param(name=name, help=text.strip(), default=default, required=required)


def _context(command: Any, name: str, parent: Any) -> Any:
    # As click makes it for a run: the command's context settings (``-h`` for help) apply.
    return typer.Context(command, info_name=name, parent=parent, **command.context_settings)


def _walk(command: Any, ctx: Any) -> Iterator[CommandDoc]:
    arguments: list[Param] = []
    options: list[Param] = []
    for param in command.get_params(ctx):
        record = param.get_help_record(ctx)
        if record is None:  # hidden
            continue
        target = arguments if param.param_type_name == "argument" else options
        target.append(_param(record, bool(param.required)))
    names = tuple(command.list_commands(ctx)) if hasattr(command, "list_commands") else ()
    yield CommandDoc(
        path=tuple(ctx.command_path.split()),
        usage=command.get_usage(ctx).removeprefix("Usage:").strip(),
        summary=command.get_short_help_str(limit=200),
        help=(command.help or "").strip(),
        arguments=tuple(arguments),
        options=tuple(options),
        epilog=(command.epilog or "").strip(),
        subcommands=names,
    )
    for name in names:
        sub = command.get_command(ctx, name)
        yield from _walk(sub, _context(sub, name, ctx))


def command_docs(app: typer.Typer | None = None) -> list[CommandDoc]:
    """Every command and command group of ``app``, depth first in ``--help`` order.

    Args:
        app: a typer app; ``None`` is the ``airgraph`` command itself.

    Returns:
        The root first (``airgraph``), then each command, each group before its subcommands.
    """
    if app is None:
        from airgraph_cli.main import app
    root = typer.main.get_command(app)
    return list(_walk(root, _context(root, "airgraph", None)))


def _param_lines(title: str, params: tuple[Param, ...]) -> list[str]:
    if not params:
        return []
    lines = [f"**{title}**", ""]
    for p in params:
        notes = [note for note in ("required" if p.required else "",) if note]
        if p.default is not None:
            notes.append(f"default `{p.default}`")
        suffix = f" ({', '.join(notes)})" if notes else ""
        lines.append(f"- `{p.name}`: {p.help}{suffix}")
    return [*lines, ""]


def _section(doc: CommandDoc, level: int) -> list[str]:
    lines = [f"{'#' * level} `{doc.name}`", ""]
    lines += [paragraph.replace("\n", " ") + "\n" for paragraph in doc.help.split("\n\n")]
    lines += ["```text", doc.usage, "```", ""]
    lines += _param_lines("Arguments", doc.arguments)
    lines += _param_lines("Options", doc.options)
    if doc.subcommands:
        lines += ["**Commands**", ""]
        lines += [
            f"- [`{doc.name} {name}`](#{_anchor(doc.name, name)})" for name in doc.subcommands
        ]
        lines.append("")
    if doc.epilog:
        lines += [doc.epilog, ""]
    return lines


def _anchor(*words: str) -> str:
    # The toc extension's slug of a heading "`airgraph cache ls`".
    return "-".join(" ".join(words).split())


def command_reference(app: typer.Typer | None = None, *, level: int = 2) -> str:
    """The reference of every command as markdown: usage, arguments, options with defaults,
    description and exit codes, one section per command.

    Args:
        app: a typer app; ``None`` is the ``airgraph`` command itself.
        level: the heading level of each command's section.

    Returns:
        Markdown: an exit code table, then one section per command in ``--help`` order.

    Examples:
        >>> "## `airgraph cache ls`" in command_reference()
        True
    """
    lines = ["| exit code | meaning |", "|---|---|"]
    lines += [f"| `{code}` | {meaning} |" for code, meaning in EXIT_CODES.items()]
    lines.append("")
    for doc in command_docs(app):
        lines += _section(doc, level)
    return "\n".join(lines)
