"""Shared helpers for airgraph-dynamo's tests."""

from __future__ import annotations

import pytest
import torch
import torch._dynamo

from airgraph_dynamo import CompilerConfig


@pytest.fixture(autouse=True)
def _fresh_dynamo():
    """Every test traces afresh: Dynamo's caches would hide compiles."""
    torch._dynamo.reset()
    yield
    torch._dynamo.reset()


def host_config(mode: str = "interpret", **airgraph_options) -> CompilerConfig:
    """A config for the host target (interpret mode: the fast reference mode)."""
    config = CompilerConfig()
    config.airgraph_config.target = "host"
    config.airgraph_config.host_mode = mode
    for name, value in airgraph_options.items():
        setattr(config.airgraph_config, name, value)
    return config


@pytest.fixture
def make_config():
    return host_config


def _missing_converters(error: BaseException) -> list[str] | None:
    """The ATen ops of an UnsupportedOpError in ``error``'s chain, if all lack a converter."""
    from airgraph_core import UnsupportedOpError

    seen = set()
    e: BaseException | None = error
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if isinstance(e, UnsupportedOpError):
            if all(op.reason == "no converter registered" for op in e.ops):
                return sorted({op.target for op in e.ops})
            return None
        # Dynamo keeps the backend's error as BackendCompilerFailed.inner_exception.
        e = getattr(e, "inner_exception", None) or e.__cause__ or e.__context__
    return None


@pytest.fixture
def skip_if_missing_converters():
    """Run ``fn(*args)``; skip the test (naming the ops) if core lacks converters for it.

    Only a missing converter skips: a converter that exists but rejects the
    node (dtype, rank, a failure) still fails the test.
    """

    def run(fn, *args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except Exception as e:
            missing = _missing_converters(e)
            if missing:
                pytest.skip(f"waits on core converters for: {', '.join(missing)}")
            raise

    return run
