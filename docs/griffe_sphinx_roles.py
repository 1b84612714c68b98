"""griffe extension for the docs build: Sphinx cross-reference roles in docstrings become links.

The docstrings use Sphinx roles (``:func:`lower_graph```, ``:class:`~airgraph_cache.ArtifactStore```);
mkdocstrings renders Google-style markdown and would print those roles as text. Before a
docstring is parsed, each role becomes an autorefs reference to the object it names, resolved
from the docstring's own scope as Python would (a bare name through the module's imports,
``Class.member`` through the class). The reference is optional: a target the site does not
document (a private helper, torch) renders as code, without a link and without a warning.
"""

from __future__ import annotations

import html
import re
from typing import Any

import griffe

# :func:`name`, :py:meth:`~pkg.Class.method`, :class:`title <target>`, :mod:`!name`.
ROLE = re.compile(
    r":(?:py:)?(?P<role>func|meth|class|mod|attr|data|const|exc|obj|type)"
    r":`(?P<body>[^`]+)`"
)
_CALLABLE_ROLES = {"func", "meth"}
# Any other role (``:ref:``, ``:obj:`` with a typo) would show as text: the build warns, and
# ``mkdocs build --strict`` fails on it.
LEFTOVER_ROLE = re.compile(r"(?<![\w`]):[a-z]+(?::[a-z]+)?:`")


def _target(obj: Any, name: str) -> str:
    """The full path ``name`` means inside ``obj``'s docstring (``name`` itself if unresolved)."""
    head, _, rest = name.lstrip(".").partition(".")
    try:
        resolved = obj.resolve(head)
    except Exception:  # griffe raises NameResolutionError and, for odd aliases, others
        return name
    return f"{resolved}.{rest}" if rest else resolved


def rewrite_roles(obj: Any, text: str) -> str:
    """``text`` with every Sphinx role replaced by an optional autorefs link to its target.

    Args:
        obj: the griffe object whose docstring ``text`` is (names resolve in its scope).
        text: the docstring.
    """

    def link(match: re.Match[str]) -> str:
        body = match["body"].strip()
        title_and_target = re.fullmatch(r"(?P<title>.+?)\s*<(?P<target>[^<>]+)>", body)
        if title_and_target:
            title, name = title_and_target["title"], title_and_target["target"]
        else:
            name = body.lstrip("!~")
            title = name.rsplit(".", 1)[-1] if body.startswith("~") else name
            if match["role"] in _CALLABLE_ROLES and not title.endswith(")"):
                title += "()"
        code = f"<code>{html.escape(title)}</code>"
        if body.startswith("!"):
            return code
        identifier = html.escape(_target(obj, name.lstrip("~")), quote=True)
        return f'<autoref identifier="{identifier}" optional>{code}</autoref>'

    return ROLE.sub(link, text)


class SphinxRoles(griffe.Extension):
    """Rewrite Sphinx roles in every docstring of a package once it is loaded."""

    def on_package(self, *, pkg: Any, **kwargs: Any) -> None:
        pending = [pkg]
        while pending:
            obj = pending.pop()
            docstring = obj.docstring
            if docstring is not None and ":`" in docstring.value:
                docstring.value = rewrite_roles(obj, docstring.value)
                leftover = LEFTOVER_ROLE.search(docstring.value)
                if leftover:
                    griffe.logger.warning(
                        f"{obj.path}: docstring role {leftover.group(0)!r} is not rendered; "
                        "use :func:, :class:, :meth:, :mod:, :attr:, :data:, :exc: or :obj:"
                    )
            pending += [member for member in obj.members.values() if not member.is_alias]
