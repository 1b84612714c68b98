"""The target registry, and selection of a target by name.

Adding a target is one module with a :class:`~airgraph_core.targets.Target`
subclass plus one line in :data:`TARGETS`. Selection takes plain values (a
name and option values), so any layer can select a target without knowing
the backend's config.
"""

from __future__ import annotations

import importlib
import logging
from typing import Any

from airgraph_core.targets.base import Target

__all__ = [
    "TARGETS",
    "TargetUnavailableError",
    "select_target",
    "target_class",
    "target_names",
]

log = logging.getLogger("airgraph.core")

#: Every target by name: a ``"module:Class"`` path (imported at first use) or the
#: class itself. ``"auto"`` picks the first available one in this order.
TARGETS: dict[str, str | type[Target]] = {
    "npu": "airgraph_core.targets.npu:NpuTarget",
    "host": "airgraph_core.targets.host.target:HostTarget",
}


class TargetUnavailableError(RuntimeError):
    """A target asked for by name cannot run on this machine.

    Attributes:
        name: the target's name.
        hint: what is missing and how to get it (the target's ``unavailable_hint``).
    """

    def __init__(self, name: str, hint: str) -> None:
        super().__init__(f"target {name!r} is not available: {hint}")
        self.name = name
        self.hint = hint


def _load(name: str) -> type[Target]:
    entry = TARGETS[name]
    if isinstance(entry, str):
        module, _, attr = entry.partition(":")
        entry = getattr(importlib.import_module(module), attr)
    if not (isinstance(entry, type) and issubclass(entry, Target)):
        raise TypeError(f"TARGETS[{name!r}]: expected a Target subclass, got {entry!r}")
    return entry


def target_names() -> tuple[str, ...]:
    """The registered target names, in ``"auto"`` order."""
    return tuple(TARGETS)


def target_class(name: str = "auto") -> type[Target]:
    """The class of the target ``name`` selects, without building it.

    ``"auto"`` is the first registered target that is available; a target
    named explicitly is returned whether or not it is available.

    Raises:
        ValueError: ``name`` is neither ``"auto"`` nor a registered target.
        TargetUnavailableError: ``"auto"`` and no registered target is available.
        TypeError: the registry entry is not a :class:`Target` subclass.
    """
    if name == "auto":
        for registered in TARGETS:
            cls = _load(registered)
            if cls.available():
                return cls
        raise TargetUnavailableError("auto", "no registered target is available")
    if not isinstance(name, str) or name not in TARGETS:
        known = ", ".join(repr(n) for n in ("auto", *TARGETS))
        raise ValueError(f"name: {name!r} is not a registered target (one of {known})")
    return _load(name)


def select_target(name: str = "auto", **options: Any) -> Target:
    """Build the target ``name`` names.

    Args:
        name: a registered target name, or ``"auto"`` for the first
            available one (``npu`` where torch_npu and an NPU exist, else
            ``host``).
        options: plain option values passed to the target's
            :meth:`~airgraph_core.targets.Target.from_options` (e.g.
            ``host_mode="interpret"``); each target ignores what it does not know.

    Returns:
        The target.

    Raises:
        ValueError: ``name`` is not a registered target.
        TargetUnavailableError: the named target cannot run on this machine.

    Example:
        >>> from airgraph_core.targets import select_target
        >>> select_target("host", host_mode="interpret")
        HostTarget(mode='interpret')
    """
    cls = target_class(name)
    if name != "auto" and not cls.available():
        raise TargetUnavailableError(name, cls.unavailable_hint)
    if name == "auto":
        log.debug("target auto: using the %s target", cls.name)
    return cls.from_options(**options)
