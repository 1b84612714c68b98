"""The generated command reference: every command documented, the docs page built from it."""

import importlib.util
from pathlib import Path

import typer

from airgraph_cli import cache_manage
from airgraph_cli.main import app, main
from airgraph_cli.reference import CommandDoc, command_docs, command_reference

REPO = Path(__file__).resolve().parents[3]


def _problems(docs: list[CommandDoc]) -> list[str]:
    """What a command's --help lacks: a description, exit codes (commands), help on a parameter."""
    problems = []
    for doc in docs:
        if not doc.summary:
            problems.append(f"{doc.name}: no description")
        if not doc.subcommands and not doc.epilog.startswith("Exit codes: 0 success; 1 when "):
            problems.append(f"{doc.name}: no exit codes (epilog=exit_codes(...))")
        problems += [
            f"{doc.name} {p.name}: no help" for p in doc.arguments + doc.options if not p.help
        ]
    return problems


def _registered(typer_app: typer.Typer, prefix: tuple[str, ...]) -> list[tuple[str, ...]]:
    """Command paths read from typer's registry, independently of the reference's walk."""
    paths = [(*prefix, command.name) for command in typer_app.registered_commands]
    for group in typer_app.registered_groups:
        paths.append((*prefix, group.name))
        paths += _registered(group.typer_instance, (*prefix, group.name))
    return paths


def test_every_command_has_a_description_exit_codes_and_parameter_help():
    assert _problems(command_docs()) == []


def test_the_check_catches_an_undocumented_command():
    bare = typer.Typer()

    @bare.command("documented", epilog="Exit codes: 0 success; 1 when never; 2 on a usage error.")
    def documented() -> None:
        """Do a thing."""

    @bare.command("bare")
    def undocumented(path: str = typer.Argument(".")) -> None:
        pass

    problems = _problems(command_docs(bare))
    assert "airgraph bare: no description" in problems
    assert "airgraph bare: no exit codes (epilog=exit_codes(...))" in problems
    assert "airgraph bare path <str>: no help" in problems
    assert not any("documented" in p for p in problems)


def test_the_page_has_a_section_for_every_registered_command():
    page = command_reference()
    paths = [("airgraph",), *_registered(app, ("airgraph",))]
    assert {doc.path for doc in command_docs()} == set(paths)
    for path in paths:
        assert f"## `{' '.join(path)}`\n" in page, path
    assert page.count("\n## `") + page.startswith("## `") == len(paths)
    for name in ("cache", "ls", "show", "diff", "verify", "clear", "prune", "export", "import"):
        assert ("airgraph", "cache", name) in paths or name == "cache"


def test_sections_show_usage_options_defaults_and_exit_codes():
    docs = {doc.name: doc for doc in command_docs()}
    ls = docs["airgraph cache ls"]
    assert ls.usage.startswith("airgraph cache ls [OPTIONS]")
    assert [p.default for p in ls.arguments] == [cache_manage.DEFAULT_ROOT]
    policy = next(p for p in docs["airgraph check"].options if "--policy" in p.name)
    assert policy.default == "zip"
    assert [p.required for p in docs["airgraph check"].arguments] == [True]
    page = command_reference()
    section = page[
        page.index("## `airgraph cache prune`") : page.index("## `airgraph cache export`")
    ]
    assert "airgraph cache prune [OPTIONS] [ROOT]" in section
    assert "- `--older-than DURATION`: remove entries not used for this long" in section
    assert f"(default `{cache_manage.DEFAULT_ROOT}`)" in section
    assert "Exit codes: 0 success; 1 when ROOT is not a directory, neither limit" in section
    assert "| `2` | usage error" in page


def test_help_shows_the_same_exit_codes(capsys):
    assert main(["cache", "verify", "--help"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    doc = next(d for d in command_docs() if d.name == "airgraph cache verify")
    assert " ".join(doc.epilog.split()) in out.replace("│", " ").replace("  ", " ")


def test_the_docs_hook_fills_the_commands_page():
    spec = importlib.util.spec_from_file_location("airgraph_docs_hooks", REPO / "docs" / "hooks.py")
    hooks = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hooks)
    page = (REPO / "docs" / "reference" / "commands.md").read_text()
    assert hooks.CLI_MARKER in page
    rendered = hooks.on_page_markdown(page)
    assert hooks.CLI_MARKER not in rendered
    assert command_reference() in rendered
    assert "reference/commands.md" in (REPO / "mkdocs.yml").read_text()
