"""Test-session settings shared by every package's tests (loaded for every test path).

Three things, all about test time only:

- Dynamo times each new guard set once after building it
(``torch._dynamo.guards.profile_guard_manager``), flushing the CPU caches
  first: about 22 ms of CPU per torch.compile trace with torch 2.13, half of a
  converter unit test's capture. The figure only feeds Dynamo's compile
  metrics (``guard_latency_us``); no test reads it, so the test processes skip
  the measurement. Guards are still built and still checked on the frame that
  made them. Processes a test starts run torch unchanged.
- Under pytest-xdist, test files are handed to the workers longest first
  (:data:`FILE_CPU_SECONDS`).
- ``tests/support`` is importable from every test: ``fresh_python`` starts the
  fresh Python processes of restart tests from a server that already imported
  torch (see its docstring).
"""

from __future__ import annotations

import os
import sys

import torch._dynamo.guards

_SUPPORT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "tests", "support")
if _SUPPORT not in sys.path:
    sys.path.insert(0, _SUPPORT)


def _no_guard_latency_profile(*args: object) -> float:
    return 0.0


# Checked with torch 2.13: CheckFunctionManager looks the function up in its module per compile.
if hasattr(torch._dynamo.guards, "profile_guard_manager"):
    torch._dynamo.guards.profile_guard_manager = _no_guard_latency_profile


#: CPU seconds of the test files that dominate the full run, measured 2026-11-30 (two
#: pytest-xdist workers, one thread each, a fresh Inductor cache; per-test CPU summed per
#: file, fresh processes included).
#: Under ``--dist loadfile`` a file runs on one worker from start to end, so the full run
#: ends no earlier than its longest file; handing the long files out first keeps one of
#: them from starting last while the other worker idles. A stale figure costs wall time
#: only, never a result. Files not listed follow, largest first (~0.1 s per test).
FILE_CPU_SECONDS: dict[str, float] = {
    # Re-measured 2026-12-01 (session 8): per-test CPU incl. children, a partial full-suite run
    # on a machine shared with other work (the files below 59 are older figures).
    "tests/test_view_outputs.py": 285,
    "packages/cache/tests/test_cache_compile_forged.py": 178,
    "packages/core/tests/test_models.py": 128,
    "tests/test_cache_compile_transformers_models.py": 117,
    "tests/test_tensor_parallel.py": 115,
    "tests/test_cache_distributed.py": 115,
    "tests/test_generated_programs.py": 112,
    "tests/test_cache_docs.py": 80,
    "packages/cache/tests/test_cache_compile_stale.py": 79,
    "packages/cache/tests/test_cache_compile.py": 75,
    "packages/dynamo_backend/tests/test_vision_models.py": 73,
    "packages/cache/tests/test_cache_compile_warm_hints.py": 72,
    "packages/cache/tests/test_cache_compile_safety.py": 59,
    "tests/test_cache_compile_view_outputs.py": 40,
    "packages/core/tests/test_opinfo_conformance.py": 34,
    "packages/cache/tests/test_cache_compile_globals.py": 26,
    "packages/core/tests/test_converters_elementwise.py": 26,
    "packages/cache/tests/test_store.py": 22,
    "tests/test_generated_data_sizes.py": 19,
    "packages/dynamo_backend/tests/test_docs.py": 18,
    "packages/core/tests/test_converters_shape.py": 17,
    "packages/cache/tests/test_cache_compile_storage.py": 17,
    "tests/test_gears_transformers.py": 17,
    "packages/core/tests/test_target_conformance.py": 16,
    "packages/cli/tests/test_commands_subprocess.py": 16,
    "packages/core/tests/test_converters_index.py": 14,
    "tests/torchair_compat/test_cache_compat.py": 14,
    "packages/core/tests/test_generated_package_layouts.py": 14,
    "tests/test_out_of_gear_paths.py": 13,
    "packages/cli/tests/test_cache_commands.py": 13,
    "tests/test_cache_compile_transformers.py": 13,
    "packages/cache/tests/test_cache_compile_decoder.py": 12,
    "packages/core/tests/test_converters_nn.py": 12,
    "packages/dynamo_backend/tests/test_backend_copy.py": 12,
    "tests/test_gear_background_cache.py": 11,
    "packages/dynamo_backend/tests/test_gear_background.py": 11,
    "packages/core/tests/test_converters_pooling.py": 10,
}


def _file_cost(path: str, count: int) -> float:
    return FILE_CPU_SECONDS.get(path, 0.1 * count)


def pytest_collection_modifyitems(session, config, items):
    """Under pytest-xdist, order the test files by expected cost, longest first.

    Only the order files are handed to the workers changes (with
    ``--no-loadscope-reorder``, see noxfile.py); tests keep their order within a file.
    """
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        return
    by_file: dict[str, list] = {}
    for item in items:
        by_file.setdefault(item.nodeid.split("::", 1)[0], []).append(item)
    order = sorted(by_file, key=lambda path: -_file_cost(path, len(by_file[path])))
    items[:] = [item for path in order for item in by_file[path]]
