"""Small value checks shared by the gears modules (not part of the public API)."""

from __future__ import annotations

import numbers
from typing import Any

__all__ = ["describe", "is_int"]


def is_int(value: Any) -> bool:
    """Whether ``value`` is an integer (bool is an int subclass, but True is not a size or a dim)."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def describe(value: Any) -> str:
    """``value`` as error messages show it: its repr and its type name."""
    return f"{value!r} ({type(value).__name__})"
