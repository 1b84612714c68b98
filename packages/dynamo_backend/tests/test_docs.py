"""The runnable example of docs/concepts/static-marks.md, run as written (``import airgraph as torchair``)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import airgraph_dynamo

PAGE = Path(__file__).resolve().parents[3] / "docs" / "concepts" / "static-marks.md"


def _example() -> str:
    if not PAGE.exists():
        pytest.skip(f"docs page not found at {PAGE} (not running from a checkout)")
    blocks = re.findall(r"```python\n(.*?)```", PAGE.read_text(), flags=re.S)
    assert blocks, "the page has no python example"
    return "\n".join(blocks)


@pytest.fixture
def torchair(monkeypatch):
    """``airgraph``, with airgraph_dynamo's names filled in if the meta-package lacks them."""
    airgraph = pytest.importorskip("airgraph")
    for name in airgraph_dynamo.__all__:
        if not hasattr(airgraph, name):
            monkeypatch.setattr(airgraph, name, getattr(airgraph_dynamo, name), raising=False)
    return airgraph


def _run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the example dumps graphs into the working directory
    namespace: dict = {"__name__": "static_marks_example"}
    exec(compile(_example(), str(PAGE), "exec"), namespace)
    assert namespace["report"].graph_is_static
    assert namespace["report"].shape_of("L['kv_cache']['self_k']") == (2, 12, 32)
    assert len(namespace["backend"].compiled) == 1
    assert list(tmp_path.glob("dynamo_optimized_graph_*.txt"))
    return namespace


def test_static_marks_example_interpret(
    torchair, tmp_path, monkeypatch, skip_if_missing_converters
):
    real_config = airgraph_dynamo.CompilerConfig

    def interpret_config():
        config = real_config()
        config.airgraph_config.host_mode = "interpret"
        return config

    monkeypatch.setattr(torchair, "CompilerConfig", interpret_config)
    skip_if_missing_converters(_run, tmp_path, monkeypatch)


@pytest.mark.slow
def test_static_marks_example_as_written(
    torchair, tmp_path, monkeypatch, skip_if_missing_converters
):
    namespace = skip_if_missing_converters(_run, tmp_path, monkeypatch)
    assert namespace["backend"].compiler.target.name in ("host", "npu")
