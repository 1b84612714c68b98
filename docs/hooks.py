"""mkdocs hook: fill generated sections of the docs from the code itself.

``<!-- airgraph:support-table -->`` becomes the converter registry's own
support table, so nobody keeps a list of supported ops by hand;
``<!-- airgraph:core-aten-coverage -->`` becomes the coverage of PyTorch's
forward core ATen opset, computed from the same registry.
"""

from __future__ import annotations

MARKER = "<!-- airgraph:support-table -->"
COVERAGE_MARKER = "<!-- airgraph:core-aten-coverage -->"


def on_page_markdown(markdown: str, **kwargs: object) -> str:
    if MARKER in markdown:
        from airgraph_core import support_table

        markdown = markdown.replace(MARKER, support_table())
    if COVERAGE_MARKER in markdown:
        from airgraph_core.coverage import core_aten_coverage

        markdown = markdown.replace(COVERAGE_MARKER, core_aten_coverage().markdown())
    return markdown
