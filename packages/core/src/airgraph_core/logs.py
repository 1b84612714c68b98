"""airgraph's loggers: one ``airgraph`` hierarchy, switched on by ``AIRGRAPH_LOG``.

Every package logs to a child of the ``airgraph`` logger
(``airgraph.core``, ``airgraph.dynamo``, ``airgraph.cache``, ...). Library
code never configures logging on its own; the one exception is the
environment variable ``AIRGRAPH_LOG`` (``debug``, ``info``, ``warning``,
``error``), read once when ``airgraph_core`` is imported, which sets the
hierarchy's level and, if nothing handles it yet, adds one stderr handler
so a user sees the logs without writing code::

    AIRGRAPH_LOG=info python3 my_model.py
"""

from __future__ import annotations

import logging
import os

__all__ = ["LOGGER_NAME", "configure_from_env", "configure_logging", "logger"]

#: The root of airgraph's logger hierarchy.
LOGGER_NAME = "airgraph"
#: The ``airgraph`` logger (TorchAir users know it as ``torchair.logger``).
logger = logging.getLogger(LOGGER_NAME)

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING}
_LEVELS["error"] = logging.ERROR


def configure_logging(level: str | int) -> logging.Logger:
    """Set the ``airgraph`` hierarchy's level; add a stderr handler if it has none.

    Args:
        level: ``"debug"``, ``"info"``, ``"warning"``, ``"error"`` (any case)
            or a ``logging`` level number.

    Returns:
        The ``airgraph`` logger.

    Raises:
        ValueError: ``level`` is not one of those.
    """
    if isinstance(level, str):
        if level.lower() not in _LEVELS:
            raise ValueError(f"level: {level!r} is not one of {sorted(_LEVELS)}")
        level = _LEVELS[level.lower()]
    elif not isinstance(level, int) or isinstance(level, bool):
        raise ValueError(f"level: expected a level name or number, got {level!r}")
    logger.setLevel(level)
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("[%(name)s %(levelname)s] %(message)s"))
        logger.addHandler(handler)
    return logger


def configure_from_env() -> None:
    """Apply ``AIRGRAPH_LOG`` if it is set (``airgraph_core`` calls this on import)."""
    value = os.environ.get("AIRGRAPH_LOG", "").strip()
    if not value:
        return
    try:
        configure_logging(value)
    except ValueError:
        logger.warning(
            "AIRGRAPH_LOG=%r is not one of %s; logging left as configured", value, sorted(_LEVELS)
        )
