"""mkdocs hook: fill generated sections of the docs from the code itself.

``<!-- airgraph:support-table -->`` becomes the converter registry's own
support table, so nobody keeps a list of supported ops by hand;
``<!-- airgraph:core-aten-coverage -->`` becomes the coverage of PyTorch's
forward core ATen opset, computed from the same registry;
``<!-- airgraph:cli-reference -->`` becomes the reference of every
``airgraph`` command, walked from the typer command tree (what ``--help``
shows), so it cannot drift from the commands.
"""

from __future__ import annotations

MARKER = "<!-- airgraph:support-table -->"
COVERAGE_MARKER = "<!-- airgraph:core-aten-coverage -->"
CLI_MARKER = "<!-- airgraph:cli-reference -->"


def on_page_markdown(markdown: str, **kwargs: object) -> str:
    if MARKER in markdown:
        from airgraph_core import support_table

        markdown = markdown.replace(MARKER, support_table())
    if COVERAGE_MARKER in markdown:
        from airgraph_core.coverage import core_aten_coverage

        markdown = markdown.replace(COVERAGE_MARKER, core_aten_coverage().markdown())
    if CLI_MARKER in markdown:
        from airgraph_cli.reference import command_reference

        markdown = markdown.replace(CLI_MARKER, command_reference())
    return markdown
