"""Shared fixtures of airgraph-core's tests."""

import pytest
import torch


@pytest.fixture(autouse=True)
def _seed():
    """Every test starts from the same random state (CPU generator, seed 0).

    The CPU generator alone: ``torch.manual_seed`` also queues a seed, with a
    formatted stack, for each device type that is not initialized, a
    millisecond per test that no CPU test needs.
    """
    torch.default_generator.manual_seed(0)
