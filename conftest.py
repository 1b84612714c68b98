"""Test-session settings shared by every package's tests (loaded for every test path).

Dynamo times each new guard set once after building it
(``torch._dynamo.guards.profile_guard_manager``), flushing the CPU caches
first: about 22 ms of CPU per torch.compile trace with torch 2.13, half of a
converter unit test's capture. The figure only feeds Dynamo's compile
metrics (``guard_latency_us``); no test reads it, so the test processes skip
the measurement. Guards are still built and still checked on the frame that
made them. Processes a test starts run torch unchanged.
"""

from __future__ import annotations

import torch._dynamo.guards


def _no_guard_latency_profile(*args: object) -> float:
    return 0.0


# Checked with torch 2.13: CheckFunctionManager looks the function up in its module per compile.
if hasattr(torch._dynamo.guards, "profile_guard_manager"):
    torch._dynamo.guards.profile_guard_manager = _no_guard_latency_profile
