"""mkdocs hook: fill generated sections of the docs from the code itself.

``<!-- airgraph:support-table -->`` becomes the converter registry's own
support table, so nobody keeps a list of supported ops by hand.
"""

from __future__ import annotations

MARKER = "<!-- airgraph:support-table -->"


def on_page_markdown(markdown: str, **kwargs: object) -> str:
    if MARKER not in markdown:
        return markdown
    from airgraph_core import support_table

    return markdown.replace(MARKER, support_table())
