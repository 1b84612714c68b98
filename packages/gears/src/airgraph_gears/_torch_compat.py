"""Every private torch API the gears package uses, in one place.

Upgrading torch means reading this file: each function says why it reaches
into Dynamo and which torch version it was checked with.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from typing import Any

__all__ = ["install_oblivious_tracing", "mark_geared", "mark_unbacked"]


def mark_unbacked(tensor: Any, dim: int) -> None:
    """Mark ``tensor``'s ``dim`` unbacked for Dynamo: one trace covers every size, 0 and 1 too.

    Why: ``torch._dynamo.decorators.mark_unbacked`` is the only mark Dynamo
    does not specialize to 0 or 1 on its own (``mark_dynamic`` does); not
    ``strict=True``, which in torch 2.13 makes the dim an ordinary backed one.
    Imported here, not at module level: importing Dynamo costs ~1 s.
    Checked with torch 2.13.
    """
    from torch._dynamo.decorators import mark_unbacked as torch_mark_unbacked

    torch_mark_unbacked(tensor, dim)


def mark_geared(tensor: Any, dim: int) -> None:
    """Mark ``tensor``'s ``dim`` dynamic (backed) for Dynamo, without a hard constraint.

    Why ``maybe_mark_dynamic`` (public) and not ``mark_dynamic``: the latter
    makes Dynamo raise its own ``ConstraintViolationError`` when the model
    pins the dim, before the backend can name the input and dim in a
    ``GearSetupError``; and it adds ``min``/``max`` range constraints the
    gear plan checks itself. Not ``mark_unbacked``: an unbacked size fails
    every branch library code takes on it (transformers' mask and sdpa
    code). Imported here, not at module level: importing Dynamo costs ~1 s.
    Checked with torch 2.13.
    """
    import torch._dynamo

    torch._dynamo.maybe_mark_dynamic(tensor, dim)


_install_lock = threading.Lock()
_installed: list[Callable[[Any], bool]] = []
_saved: list[bool] = []


def install_oblivious_tracing(is_geared: Callable[[Any], bool]) -> None:
    """Trace every Dynamo frame that takes a geared tensor with size-oblivious backed sizes.

    Registers (once, and again after ``torch._dynamo.reset()``, which drops
    callbacks) a Dynamo compile-start callback that looks
    at the locals of the frame being compiled (and one or two levels into
    the dicts, lists and tuples among them, e.g. ``**kwargs``); when
    ``is_geared`` holds for one of them, it turns on
    ``torch.fx.experimental._config.backed_size_oblivious`` for that
    compile, and the compile-end callback restores it. Other frames compile
    as before.

    Why: ``backed_size_oblivious`` is the only switch that keeps a backed
    (hinted) size from being specialized to 0 or 1 (gear 1 shares the trace)
    while branches on it still trace (they become Dynamo guards, which the
    gear plan checks per gear). It is a global config read at trace time, so
    it is scoped to the compile of geared frames. The frame is
    ``torch._dynamo.convert_frame._compile``'s ``frame`` argument, found by
    walking the Python stack from the callback; if torch renames it, no frame
    is found and tracing falls back to plain backed sizes (gear 1 then gets
    its own trace, which the backend reports). Checked with torch 2.13.
    """
    from torch._dynamo.callback import callback_handler

    with _install_lock:
        _installed[:] = [is_geared]
        # ``torch._dynamo.reset()`` clears the callbacks: register again when gone.
        if _on_compile_start not in callback_handler.start_callbacks:
            callback_handler.register_start_callback(_on_compile_start)
        if _on_compile_end not in callback_handler.end_callbacks:
            callback_handler.register_end_callback(_on_compile_end)


def _on_compile_start(args: Any) -> None:
    import torch.fx.experimental._config as fx_config

    _saved.append(fx_config.backed_size_oblivious)
    try:
        frame_locals = _compiling_frame_locals()
        geared = frame_locals is not None and _any_geared(frame_locals.values(), depth=2)
    except Exception:  # looking must never break a compile; the frame then traces as usual
        geared = False
    if geared:
        fx_config.backed_size_oblivious = True


def _on_compile_end(args: Any) -> None:
    import torch.fx.experimental._config as fx_config

    if _saved:
        fx_config.backed_size_oblivious = _saved.pop()


def _compiling_frame_locals() -> dict[str, Any] | None:
    """The locals of the user frame Dynamo is compiling, or None when not found."""
    f = sys._getframe(1)
    while f is not None:
        if f.f_code.co_name == "_compile" and (
            f.f_globals.get("__name__") == "torch._dynamo.convert_frame"
        ):
            frame = f.f_locals.get("frame")
            frame_locals = getattr(frame, "f_locals", None)
            return frame_locals if isinstance(frame_locals, dict) else None
        f = f.f_back
    return None


def _any_geared(values: Any, depth: int) -> bool:
    is_geared = _installed[0]
    for value in values:
        if isinstance(value, (dict, list, tuple)):
            inner = value.values() if isinstance(value, dict) else value
            if depth and _any_geared(inner, depth - 1):
                return True
        elif is_geared(value):
            return True
    return False
