"""The rank agreement outside a multi-rank job (two ranks run in ``tests/test_cache_distributed.py``).

A program without collectives, or any program outside ``torch.distributed``
or in a world of one, runs without exchanging anything; the timeout comes
from the environment and a bad value is refused by name.
"""

from __future__ import annotations

import pytest
import torch
import torch.distributed as dist

from airgraph_cache.rank_agreement import (
    RANK_TIMEOUT_ENV,
    RANK_TIMEOUT_SECONDS,
    agree,
    participants,
    rank_timeout,
)
from airgraph_core.testing import check_lowering


def test_the_timeout_comes_from_the_environment(monkeypatch):
    monkeypatch.delenv(RANK_TIMEOUT_ENV, raising=False)
    assert rank_timeout() == RANK_TIMEOUT_SECONDS
    monkeypatch.setenv(RANK_TIMEOUT_ENV, "2.5")
    assert rank_timeout() == 2.5


@pytest.mark.parametrize("value", ["soon", "0", "-3", "nan"])
def test_a_bad_timeout_is_refused_by_name(monkeypatch, value):
    monkeypatch.setenv(RANK_TIMEOUT_ENV, value)
    with pytest.raises(ValueError, match=rf"\$AIRGRAPH_CACHE_RANK_TIMEOUT: .*got '{value}'"):
        rank_timeout()


def test_a_graph_without_collectives_runs_without_agreeing():
    graph = check_lowering(lambda x: x * 2, [torch.randn(3)])
    assert participants(graph) == ()
    assert agree(graph, "hit", where="entry") is True


@pytest.mark.skipif(
    not (dist.is_available() and dist.is_gloo_available()), reason="no gloo backend"
)
def test_a_world_of_one_runs_without_agreeing():
    if dist.is_initialized():
        pytest.skip("another test left torch.distributed initialized")
    dist.init_process_group("gloo", store=dist.HashStore(), rank=0, world_size=1)
    try:
        graph = check_lowering(lambda x: dist.all_reduce(x) or x + 1, [torch.randn(3)])
        assert participants(graph) == (0,)
        assert agree(graph, "compiled", where="entry") is True
    finally:
        dist.destroy_process_group()
