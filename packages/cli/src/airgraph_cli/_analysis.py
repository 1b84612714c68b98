"""Trace and lower a workload the way the backend does, without running Inductor or a target.

``airgraph check`` reports what :func:`analyze` finds and ``airgraph dump``
prints the GE graph it lowers. The steps are the backend's: Dynamo and
AOTAutograd through :func:`airgraph_core.capture.capture_aten_graph` (our
decompositions, inference mode), the gears step's removal of size asserts
when inputs carry gears, then :func:`airgraph_core.lower_graph` and
:func:`airgraph_core.validate_graph`. The model runs once, eagerly.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from airgraph_cli._model import Workload

__all__ = ["Analysis", "GraphBreak", "analyze"]


@dataclass
class GraphBreak:
    """Where Dynamo had to split the graph, and why (the first line of its reason)."""

    reason: str
    where: str


@dataclass
class Analysis:
    """What tracing and lowering one workload found.

    Attributes:
        aten_ops: call counts per ATen overload in the captured graph.
        ge_graph: the lowered GE graph, or ``None`` when lowering stopped.
        unsupported: the ATen nodes no converter supports (with source lines).
        graph_breaks: Dynamo's graph breaks (``fullgraph=True`` is required).
        problems: what GE's op prototypes reject in the lowered graph.
        error: why tracing or lowering stopped, when not for the reasons above.
        gear_plan: the :class:`airgraph_gears.GearPlan` of geared inputs.
        seconds: wall time per step (``trace``, ``lower``, ``validate``).
    """

    workload: Workload
    dynamic: bool
    aten_ops: Counter[str] = field(default_factory=Counter)
    ge_graph: Any = None
    unsupported: list[Any] = field(default_factory=list)
    graph_breaks: list[GraphBreak] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    error: str | None = None
    gear_plan: Any = None
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when the graph lowers in one piece and GE's prototypes accept it."""
        return self.ge_graph is not None and not (
            self.unsupported or self.graph_breaks or self.problems or self.error
        )

    def ge_op_counts(self) -> Counter[str]:
        """Op counts by GE op type, most frequent first."""
        if self.ge_graph is None:
            return Counter()
        return Counter(op.type for op in self.ge_graph.ops)


def _graph_breaks(workload: Workload) -> list[GraphBreak]:
    import torch

    from airgraph_cli import _torch_compat

    _torch_compat.reset_dynamo()
    try:
        with torch.no_grad():
            explained = _torch_compat.explain(workload.model, workload.inputs)
    finally:
        _torch_compat.reset_dynamo()
    breaks = []
    for reason in explained.break_reasons:
        frame = reason.user_stack[-1] if reason.user_stack else None
        where = f"{frame.filename}:{frame.lineno}" if frame is not None else ""
        if frame is not None and frame.line:
            where += f" `{frame.line.strip()}`"
        text = str(reason.reason).strip()
        breaks.append(GraphBreak(_first_line(text), where))
    return breaks


def _first_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        return "(no reason given)"
    if len(lines) > 1 and lines[1].startswith("Explanation:"):
        return f"{lines[0]}: {lines[1].removeprefix('Explanation:').strip()}"
    return lines[0]


def analyze(workload: Workload, *, dynamic: bool = False, policy: str = "zip") -> Analysis:
    """Trace, lower and validate ``workload``; never raises for a model's problems.

    Args:
        workload: from :func:`airgraph_cli._model.build_workload`.
        dynamic: trace with ``dynamic=True`` (symbolic sizes).
        policy: the gear merge policy, for the gear plan.

    Returns:
        The :class:`Analysis`; ``error`` holds what stopped the work, if anything.
    """

    from airgraph_cli import _torch_compat
    from airgraph_core import UnsupportedOpError, lower_graph, validate_graph
    from airgraph_core.capture import CaptureError, capture_aten_graph
    from airgraph_core.converters.registry import target_name

    result = Analysis(workload, dynamic)
    if workload.has_gears:
        from airgraph_gears import GearPlan

        try:
            result.gear_plan = GearPlan.from_tensors(workload.inputs, policy)
        except (TypeError, ValueError) as e:
            result.error = f"gears: {e}"
            return result

    start = time.perf_counter()
    try:
        gm, inputs = capture_aten_graph(workload.model, workload.inputs, dynamic=dynamic)
    except (CaptureError, _torch_compat.unsupported_error()) as e:
        result.seconds["trace"] = time.perf_counter() - start
        result.graph_breaks = _graph_breaks(workload)
        if not result.graph_breaks:
            result.error = f"tracing failed: {_first_line(str(e))}"
        return result
    except Exception as e:  # the model's own error, or Dynamo's
        result.seconds["trace"] = time.perf_counter() - start
        result.error = f"tracing failed: {type(e).__name__}: {_first_line(str(e))}"
        return result
    result.seconds["trace"] = time.perf_counter() - start
    if workload.has_gears:
        from airgraph_dynamo.gears import split_size_asserts

        split_size_asserts(gm)  # the backend checks these once per gear, not in the graph
    result.aten_ops = Counter(
        target_name(node.target) for node in gm.graph.nodes if node.op == "call_function"
    )

    start = time.perf_counter()
    try:
        result.ge_graph = lower_graph(gm, inputs, name=f"{workload.name}_check")
    except UnsupportedOpError as e:
        result.unsupported = list(e.ops)
    except Exception as e:
        result.error = f"lowering failed: {type(e).__name__}: {_first_line(str(e))}"
    result.seconds["lower"] = time.perf_counter() - start
    if result.ge_graph is not None:
        start = time.perf_counter()
        result.problems = validate_graph(result.ge_graph)
        result.seconds["validate"] = time.perf_counter() - start
    return result
