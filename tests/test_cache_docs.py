"""The examples of docs/concepts/cache.md, run as written (``import airgraph as torchair``).

Each example runs in a fresh process, twice in the same working folder: the
first start compiles into ``./.torchair_cache``, the second is a warm start
that must hit without importing Dynamo. A preamble switches the host
target's default to ``interpret`` (no C++ compile) without touching the
example; one ``slow`` test runs the first example with Inductor and
``ge_cache=True``.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

# Slow: the docs examples run cold and warm in fresh processes.
pytestmark = pytest.mark.slow

PAGE = Path(__file__).resolve().parents[1] / "docs" / "concepts" / "cache.md"

INTERPRET_BY_DEFAULT = """
import dataclasses
from airgraph_dynamo.config import AirgraphConfig
AirgraphConfig._options = {
    **AirgraphConfig._options,
    "host_mode": dataclasses.replace(AirgraphConfig._options["host_mode"], default="interpret"),
}
"""

REPORT_AT_EXIT = """
import atexit, json, sys
atexit.register(lambda: print("REPORT " + json.dumps({
    "dynamo": "torch._dynamo" in sys.modules,
    "inductor_compiler": "torch._inductor.compile_fx" in sys.modules,
}), flush=True))
"""


def _examples() -> list[str]:
    if not PAGE.exists():
        pytest.skip(f"docs page not found at {PAGE} (not running from a checkout)")
    blocks = re.findall(r"```python\n(.*?)```", PAGE.read_text(), flags=re.S)
    assert len(blocks) == 4, "expected four examples: simple, prefill/decode, readable, storage"
    return blocks


def _run(code: str, cwd: Path, env_extra: dict[str, str] | None = None) -> tuple[list[str], dict]:
    env = dict(os.environ)
    env.pop("AIRGRAPH_CACHE_DIR", None)
    env.setdefault("OMP_NUM_THREADS", "1")
    env.update(env_extra or {})
    # A real process (a fresh interpreter is what the docs promise). Forked from
    # tests/support/fresh_python.py's server, code run by exec once came out 'uncached':
    # fixed in the recorder, tested by packages/cache/tests/test_cache_compile_exec_code.py.
    proc = subprocess.run(
        [sys.executable, "-c", code],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert "WARNING" not in proc.stderr, proc.stderr[-4000:]
    lines = proc.stdout.splitlines()
    report = json.loads(lines[-1].removeprefix("REPORT "))
    return lines[:-1], report


def test_examples_cold_then_warm(tmp_path):
    simple, decoder, readable, storage = _examples()
    prefix = INTERPRET_BY_DEFAULT + REPORT_AT_EXIT

    def both(_round):
        with ThreadPoolExecutor(2) as pool:
            return list(pool.map(lambda block: _run(prefix + block, tmp_path), [simple, decoder]))

    (simple_cold, simple_cold_report), (decoder_cold, decoder_cold_report) = both("cold")
    assert simple_cold[-1] == "compiled"
    assert "tensor([[2., 2.]," in "\n".join(simple_cold)
    assert decoder_cold[-1] == "compiled compiled"
    assert simple_cold_report["dynamo"] and decoder_cold_report["dynamo"]

    (simple_warm, simple_report), (decoder_warm, decoder_report) = both("warm")
    assert simple_warm[-1] == "hit"
    assert simple_warm[:-1] == simple_cold[:-1]
    assert decoder_warm[-1] == "hit hit"
    assert decoder_warm[0] == decoder_cold[0]  # the same generated tokens
    assert len(json.loads(decoder_warm[0])[0]) == 9  # prefill's token and 8 decodes
    assert not simple_report["dynamo"] and not decoder_report["dynamo"]

    listing, _ = _run(prefix + readable, tmp_path)
    assert "(3 entries)" in listing[0]
    assert sum(" ok " in line for line in listing) == 3
    for name in ("Model__forward_", "Decoder_prefill_", "Decoder_decode_"):
        assert any(name in line for line in listing), listing

    _run(prefix + storage, tmp_path)


def test_decoder_example_matches_eager(tmp_path):
    _, decoder, _, _ = _examples()
    # The same generation with the cached functions bypassed: eager PyTorch.
    eager = decoder.replace("self.cached_prefill(", "self.prefill(").replace(
        "self.cached_decode(", "self.decode("
    )
    eager_lines, _ = _run(REPORT_AT_EXIT + eager, tmp_path)
    cached_lines, _ = _run(INTERPRET_BY_DEFAULT + REPORT_AT_EXIT + decoder, tmp_path)
    assert cached_lines[0] == eager_lines[0]


@pytest.mark.slow
def test_simple_example_with_inductor_and_ge_cache_warm_start_compiles_nothing(tmp_path):
    simple = _examples()[0]
    code = REPORT_AT_EXIT + simple.replace(
        "cache_compile(self._forward)", "cache_compile(self._forward, ge_cache=True)"
    )
    assert "ge_cache=True" in code
    # The cold start uses the run's shared Inductor folder (a fresh one costs ~11 s of vector
    # ISA probing); the warm start's folder is fresh: the entry must be self-contained.
    cold, cold_report = _run(code, tmp_path)
    assert cold[-1] == "compiled" and cold_report["inductor_compiler"]
    fresh = tmp_path / "ind2"  # a fresh Inductor cache: the entry must be self-contained
    warm, warm_report = _run(code, tmp_path, {"TORCHINDUCTOR_CACHE_DIR": str(fresh)})
    assert warm[-1] == "hit" and warm[:-1] == cold[:-1]
    assert not warm_report["dynamo"] and not warm_report["inductor_compiler"]
    assert not fresh.exists()
    entries = list((tmp_path / ".torchair_cache").glob("Model__forward_*/rank_0"))
    assert len(entries) == 1 and (entries[0] / "host_0.pt2").is_file()
