"""Helpers the TorchAir compatibility tests share (their fixtures are in ``conftest.py``).

Import as ``from torchair_compat._support import ...`` (``tests/`` is on ``sys.path``,
see ``tests/conftest.py``).
"""

from __future__ import annotations

import pytest

import airgraph as torchair
from airgraph.configs.compiler_config import CompilerConfig


def interpret_backend(config: CompilerConfig | None = None):
    """TorchAir's NPU backend on the host target's interpret mode (fast; the same GE graph).

    Args:
        config: the compiler config to use; its ``host_mode`` is set to ``"interpret"``.
            None: a default ``CompilerConfig``.

    Returns:
        The backend, for ``torch.compile(..., backend=...)``.
    """
    config = config or CompilerConfig()
    config.airgraph_config.host_mode = "interpret"
    return torchair.get_npu_backend(compiler_config=config)


def upstream_names(text: str) -> list[str]:
    """The test names in ``text``, a whitespace-separated list copied from upstream."""
    return text.split()


def not_ported_cases(upstream: dict[str, dict[str, list[str]]]):
    """``pytest.mark.parametrize`` over upstream cases listed as not ported.

    Args:
        upstream: upstream file -> reason -> its test names.

    Returns:
        The mark, over ``file,name,reason``, one case a test name, with the id
        ``<file without _st.py>:<name>``.
    """
    cases = [
        (file, name, reason)
        for file, groups in upstream.items()
        for reason, names in groups.items()
        for name in names
    ]
    return pytest.mark.parametrize(
        "file,name,reason", cases, ids=[f"{f.removesuffix('_st.py')}:{n}" for f, n, _ in cases]
    )
