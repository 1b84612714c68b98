"""Every private torch API the gears package uses, in one place.

Upgrading torch means reading this file: each function says why it reaches
into Dynamo and which torch version it was checked with.
"""

from __future__ import annotations

from typing import Any

__all__ = ["mark_unbacked"]


def mark_unbacked(tensor: Any, dim: int) -> None:
    """Mark ``tensor``'s ``dim`` unbacked for Dynamo: one trace covers every size, 0 and 1 too.

    Why: ``torch._dynamo.decorators.mark_unbacked`` is the only mark Dynamo
    does not specialize to 0 or 1 (``mark_dynamic`` does); not ``strict=True``,
    which in torch 2.13 makes the dim an ordinary backed one. Imported here,
    not at module level: importing Dynamo costs ~1 s. Checked with torch 2.13.
    """
    from torch._dynamo.decorators import mark_unbacked as torch_mark_unbacked

    torch_mark_unbacked(tensor, dim)
