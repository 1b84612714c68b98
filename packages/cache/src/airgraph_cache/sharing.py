"""Many instances of one model in a process: share compiled programs, never hit Dynamo's limit.

Two things go wrong without this when a process builds many instances of a
model (or one cached method compiles several times):

- Dynamo keeps one cache per code object and raises
  ``FailOnRecompileLimitHit`` (with ``fullgraph=True``) on the 9th compile of
  the same method: each instance's ``self`` fails the previous guards.
  :func:`fresh_method` gives every compile its own code object, so every
  compile is a first compile for Dynamo.
- Every instance would load (or, with the cache unusable, compile) the same
  program again. :func:`remember` / :func:`recall` keep, per entry and key
  digest, the verified files and the executable, so other instances with the
  same key bind their own ``self`` to the same compiled program: no disk, no
  Dynamo, no second compilation of the same kernels.
"""

from __future__ import annotations

import threading
import types
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["SharedProgram", "forget", "fresh_method", "recall", "remember"]


@dataclass(frozen=True)
class SharedProgram:
    """What instances of one key share: the entry's verified files and the executable."""

    files: dict[str, bytes]
    executable: Callable[[list[Any]], list[Any]]


_SHARED: dict[tuple[str, str], SharedProgram] = {}
_LOCK = threading.Lock()


def remember(
    entry_dir: Path, key_digest: str, files: dict[str, bytes], executable: Callable
) -> None:
    """Offer the program of ``entry_dir`` / ``key_digest`` to later instances in this process."""
    with _LOCK:
        _SHARED[(str(entry_dir), key_digest)] = SharedProgram(dict(files), executable)


def recall(entry_dir: Path, key_digest: str) -> SharedProgram | None:
    """The program another instance loaded or compiled for this entry and key, if any."""
    with _LOCK:
        return _SHARED.get((str(entry_dir), key_digest))


def forget(entry_dir: Path, key_digest: str) -> None:
    """Drop a program that proved unusable, so that no instance picks it up again."""
    with _LOCK:
        _SHARED.pop((str(entry_dir), key_digest), None)


def fresh_method(method: types.MethodType) -> types.MethodType:
    """``method`` with a copy of its code object, so Dynamo gives it a cache of its own.

    The copy has the same globals, defaults, closure, name and signature;
    only its identity differs, which is what Dynamo's per-code cache (and its
    recompile limit) is keyed on.
    """
    func = method.__func__
    copy = types.FunctionType(
        func.__code__.replace(),
        func.__globals__,
        func.__name__,
        func.__defaults__,
        func.__closure__,
    )
    copy.__kwdefaults__ = func.__kwdefaults__
    copy.__qualname__ = func.__qualname__
    copy.__module__ = func.__module__
    copy.__dict__.update(func.__dict__)
    return types.MethodType(copy, method.__self__)
