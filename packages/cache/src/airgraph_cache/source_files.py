"""Source text of functions and classes, read file by file and never parsed per object.

:func:`inspect.getsource` is slow on real models: it re-reads the file for
every object, tokenizes each function's block in Python, and on Python 3.11
parses the *whole file* with :mod:`ast` for every class (50-200 ms for each
class of ``transformers.modeling_utils``). A ``transformers`` GPT-2 touches
~290 objects in ~10 files: 12 s of key building per process. Here:

- A :class:`SourceReader` reads each file once (bytes and their sha256) and
  keeps it for its own lifetime (one key build). Nothing read is reused
  across readers except what is derived from a file's *content digest*, so a
  file changed on disk is always seen: no stale text, whatever its size or
  mtime.
- An object defined in an *installed* file (under site-packages, dist-packages
  or the standard library) is covered by the whole file's digest: library
  files change only with their distribution, and covering the whole file can
  only give more misses, never a stale hit.
- A function elsewhere is covered by its own lines: from ``co_firstlineno``
  (its first decorator) to the last line any instruction of its code or of
  its nested code spans (``co_positions``), as the interpreter compiled it.
- A class elsewhere is covered by its own lines too. A class keeps no code
  object, so the file is compiled once per content digest and process (C
  compiler, no AST objects: ~3 ms for 40 KB): each class body's code object
  carries the class's qualified name, its first decorator's line and the
  lines of every statement, nested functions included. A class not found that
  way (a file changed since import, a name defined twice, a class made by
  ``type()``) is covered by the whole file and its functions' bytecode.

Where no text exists (code made by ``exec``, a module without a file), the
callers fall back to hashing bytecode (:func:`airgraph_cache.sources.object_source`).
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import linecache
import os
import site
import sys
import sysconfig
import types
from typing import Any

__all__ = ["SourceFile", "SourceReader", "code_span", "installed_roots"]

# Class line ranges of a file, by the sha256 of its content: {qualname: (first, last)}.
_CLASS_SPANS: dict[str, dict[str, tuple[int, int]]] = {}
_MAX_MEMO_FILES = 512


@functools.lru_cache(maxsize=1)
def installed_roots() -> tuple[str, ...]:
    """Folders whose files belong to installed distributions or the standard library.

    Computed once per process (the interpreter's layout does not change).
    """
    roots = set()
    paths = sysconfig.get_paths()
    for name in ("stdlib", "platstdlib", "purelib", "platlib"):
        if paths.get(name):
            roots.add(paths[name])
    site_packages = getattr(site, "getsitepackages", None)  # some virtualenvs' site lacks it
    if site_packages is not None:
        roots.update(site_packages())
    if site.ENABLE_USER_SITE and site.getusersitepackages():
        roots.add(site.getusersitepackages())
    return tuple(sorted(os.path.join(os.path.abspath(r), "") for r in roots))


class SourceFile:
    """One file's content as read now: its sha256, its lines, whether it is installed.

    The lines are decoded on first use: an installed file only needs its digest.
    """

    __slots__ = ("path", "digest", "installed", "_data", "_lines")

    def __init__(self, path: str, digest: str, data: bytes | str, installed: bool) -> None:
        self.path = path
        self.digest = digest
        self.installed = installed
        self._data = data
        self._lines: list[str] | None = None

    @property
    def lines(self) -> list[str]:
        if self._lines is None:
            data = self._data
            if isinstance(data, bytes):
                try:
                    data = importlib.util.decode_source(data)  # encoding cookie, newlines
                except (SyntaxError, UnicodeDecodeError, LookupError):
                    data = data.decode("latin-1")
            self._lines = data.split("\n")
            self._data = b""
        return self._lines

    def segment(self, first: int, last: int) -> str:
        """Lines ``first`` to ``last`` (1-based, inclusive)."""
        return "\n".join(self.lines[max(first - 1, 0) : last])

    def text(self) -> str:
        return "\n".join(self.lines)

    def class_span(self, qualname: str) -> tuple[int, int] | None:
        """First and last line of the class ``qualname``; None when not found exactly once."""
        spans = _CLASS_SPANS.get(self.digest)
        if spans is None:
            spans = _class_spans(self.text(), self.path)
            if len(_CLASS_SPANS) >= _MAX_MEMO_FILES:
                _CLASS_SPANS.clear()
            _CLASS_SPANS[self.digest] = spans
        return spans.get(qualname)


def code_span(code: types.CodeType) -> tuple[int, int]:
    """First line of ``code`` (its first decorator) and the last line it or nested code spans."""
    last = code.co_firstlineno
    stack = [code]
    while stack:
        current = stack.pop()
        for _, end, _, _ in current.co_positions():
            if end is not None and end > last:
                last = end
        stack.extend(c for c in current.co_consts if isinstance(c, types.CodeType))
    return code.co_firstlineno, last


def _class_spans(text: str, path: str) -> dict[str, tuple[int, int]]:
    try:
        module_code = compile(text, path, "exec", dont_inherit=True)
    except (SyntaxError, ValueError):
        return {}
    spans: dict[str, tuple[int, int]] = {}
    twice: set[str] = set()
    stack = [module_code]
    while stack:
        code = stack.pop()
        for const in code.co_consts:
            if not isinstance(const, types.CodeType):
                continue
            stack.append(const)
            # A class body runs in a plain namespace: no fast locals, no new locals dict.
            if const.co_flags & (0x1 | 0x2) == 0:
                name = const.co_qualname
                if name in spans:
                    twice.add(name)
                spans[name] = code_span(const)
    for name in twice:  # defined twice (if/else): ambiguous, the caller covers the file
        del spans[name]
    return spans


class SourceReader:
    """Reads each source file once; lives for one key build (see the module docstring)."""

    def __init__(self) -> None:
        self._files: dict[str, SourceFile | None] = {}
        self._roots = installed_roots()

    def file(self, path: str | None, module_globals: Any = None) -> SourceFile | None:
        """The file at ``path`` (a code object's ``co_filename`` or a module's ``__file__``).

        Falls back to :mod:`linecache` (which knows IPython cells and zip imports)
        when the path cannot be read; None when there is no text at all.
        """
        if not path:
            return None
        if path in self._files:
            return self._files[path]
        found = self._read(path, module_globals)
        self._files[path] = found
        return found

    def _read(self, path: str, module_globals: Any) -> SourceFile | None:
        if path.endswith((".pyc", ".pyo")):
            path = importlib.util.source_from_cache(path) if "__pycache__" in path else path[:-1]
        try:
            with open(path, "rb") as handle:
                data = handle.read()
        except (OSError, ValueError):
            lines = linecache.getlines(path, module_globals) if module_globals else []
            if not lines and path in linecache.cache:
                lines = linecache.getlines(path)
            if not lines:
                return None
            text = "".join(lines)
            digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
            return SourceFile(path, digest, text, installed=False)
        digest = hashlib.sha256(data).hexdigest()
        absolute = os.path.abspath(path)
        installed = any(absolute.startswith(root) for root in self._roots)
        return SourceFile(path, digest, data, installed)

    def function_text(self, fn: types.FunctionType) -> str | None:
        """The text that stands for ``fn``: the file's digest if installed, else its lines."""
        code = fn.__code__
        # The module's loader may serve its source (zip imports) only for the module's own
        # file: code made by exec() in its namespace under another name must not get it.
        same_file = fn.__globals__.get("__file__") == code.co_filename
        found = self.file(code.co_filename, fn.__globals__ if same_file else None)
        if found is None:
            return None
        if found.installed:
            return "file:" + found.digest
        first, last = code_span(code)
        if first > len(found.lines):
            return None
        return found.segment(first, last)

    def class_file(self, cls: type) -> SourceFile | None:
        """The file of ``cls``'s module (where :func:`inspect.getfile` looks), if readable."""
        module = sys.modules.get(cls.__module__)
        return self.file(getattr(module, "__file__", None), getattr(module, "__dict__", None))

    def class_text(self, cls: type) -> str | None:
        """The text that stands for ``cls``: the file's digest if installed, else its lines.

        None when there is no file, or the class is not found in it exactly once.
        """
        found = self.class_file(cls)
        if found is None:
            return None
        if found.installed:
            return "file:" + found.digest
        span = found.class_span(cls.__qualname__)
        return None if span is None else found.segment(*span)
