"""Fixtures of the TorchAir compatibility tests (helper functions: ``_support.py``)."""

from __future__ import annotations

import pytest
import torch._dynamo


@pytest.fixture
def fresh_dynamo():
    """Dynamo reset before and after the test, so no compile of another test is reused.

    A file turns it on for all its tests with
    ``pytestmark = pytest.mark.usefixtures("fresh_dynamo")``.
    """
    torch._dynamo.reset()
    yield
    torch._dynamo.reset()
