"""The errors a gear spec raises: airgraph's classes that are also TorchAir's.

TorchAir raises ``AssertionError`` for every gear rule it checks
(``set_dim_gears`` and the merge of gears into GE options); airgraph's
convention is ``ValueError`` / ``TypeError``. Each class below is both, so
``except AssertionError`` (TorchAir code) and ``except ValueError`` /
``except TypeError`` (airgraph code) catch the same error.
"""

from __future__ import annotations

__all__ = ["GearSpecError", "GearSpecTypeError"]


class GearSpecError(ValueError, AssertionError):
    """A gear spec breaks a rule on values (a dim out of range, a gear of 0, too many gears...)."""


class GearSpecTypeError(TypeError, AssertionError):
    """A gear spec has a value of the wrong type (a dim or a gear that is not an int...)."""
