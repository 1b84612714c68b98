"""The host target: :class:`HostProgram` behind the :class:`~airgraph_core.targets.Target` interface."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

from airgraph_core import _torch_compat
from airgraph_core.ir.graph import GeGraph
from airgraph_core.targets.base import Artifact, Executable, Target, TargetCapabilities
from airgraph_core.targets.host.layout import DenseInputs
from airgraph_core.targets.host.program import HOST_MODES, HostProgram
from airgraph_core.targets.host.semantics import lookup_host_op

__all__ = ["HostExecutable", "HostTarget"]

log = logging.getLogger("airgraph.core")

_dispatch_modes_active = _torch_compat.dispatch_modes_active

# Handled by HostProgram itself, not by the semantics table.
_PLUMBING = frozenset({"Data", "RefData", "Const", "NetOutput"})


class HostExecutable(Executable):
    """A :class:`HostProgram` (one specialization per input signature).

    Attributes:
        program: the host program.
    """

    def __init__(self, graph: GeGraph, mode: str) -> None:
        self.graph = graph
        self.program = HostProgram(graph, mode)
        self._run = self.program.run
        datas = graph.data_ops
        # A specialization folds host scalars in: it takes the tensor inputs only.
        self._tensor_pos = tuple(
            i for i, op in enumerate(datas) if op.output_descs[0].placement != "CPU"
        )
        self._all_tensors = len(self._tensor_pos) == len(datas)
        self._uncompiled: HostExecutable | None = None

    def __call__(self, inputs: Sequence[Any]) -> list[Any]:
        # AOTAutograd runs the first call under a dispatch mode that checks
        # custom-op aliasing; a new specialization (which runs the graph
        # once and, in inductor mode, compiles it) must not trace through it.
        if _dispatch_modes_active():
            with _torch_compat.no_dispatch_modes():
                return self._run(inputs)
        return self._run(inputs)

    def specialize(self, inputs: Sequence[Any]) -> Callable[..., Any]:
        """Specialize (and, in inductor mode, compile) for the signature of ``inputs``."""
        with _torch_compat.no_dispatch_modes():
            fn = self.program.compile_for(inputs)
        if self._all_tensors:
            return fn
        positions = self._tensor_pos

        def run(*args: Any) -> Any:
            return fn(*[args[i] for i in positions])

        return run

    def specialize_from_args(
        self, inputs: Sequence[Any], positions: Sequence[int]
    ) -> Callable[[Sequence[Any]], Sequence[Any]]:
        """:meth:`specialize`, reading the tensor inputs from the caller's arguments
        (host scalars are folded in); in inductor mode one
        :class:`~airgraph_core.targets.host.layout.ArgsCall` from the arguments to
        Inductor's compiled graph."""
        self.specialize(inputs)  # compiles (tests hold the background compiles here)
        compiled = self.program.compile_for(inputs)  # that specialization: a lookup
        tensor_positions = tuple(positions[i] for i in self._tensor_pos)
        if isinstance(compiled, DenseInputs):
            return compiled.from_args(tensor_positions)

        def run(args: Sequence[Any]) -> Any:
            return compiled(*[args[p] for p in tensor_positions])

        return run

    def uncompiled(self) -> HostExecutable:
        """The same graph in interpret mode (op by op, exact GE semantics, no Inductor
        compile; a new shape costs one folding pass): a second program, made once."""
        if self._uncompiled is None:
            self._uncompiled = HostExecutable(self.graph, "interpret")
        return self._uncompiled

    def export_artifacts(self) -> list[Artifact]:
        """An AOTInductor package per specialization so far (``host_<i>.pt2``).

        A specialization that ``torch.export`` or AOTInductor cannot package
        is left out with a warning: the process that loads the others
        compiles it again when it meets that signature.
        """
        from airgraph_core.targets.host.package import export_package, signature_to_json

        artifacts = []
        for i, signature in enumerate(self.program.signatures):
            try:
                data = export_package(self.program, signature)
            except Exception as e:  # export limits: the loading process compiles this one
                log.warning("host: specialization %d of %s not packaged: %s", i, self.graph.name, e)
                continue
            artifacts.append(Artifact(f"host_{i}.pt2", data, signature_to_json(signature)))
        return artifacts

    def export_hints(self) -> list[Any]:
        """Per specialization compiled into Inductor's FX graph cache, where it is there
        (see :mod:`~airgraph_core.targets.host.warm_hints`): ``{"signature", "hint"}``."""
        from airgraph_core.targets.host.package import signature_to_json

        hints = self.program.hints
        return [
            {"signature": signature_to_json(signature), "hint": hints[signature].to_json()}
            for signature in self.program.signatures
            if signature in hints
        ]

    def load_hints(self, hints: Sequence[Any]) -> None:
        """Specializations made later load their compiled graph from Inductor's FX graph
        cache by these hints, where the hints still hold; malformed ones are dropped."""
        from airgraph_core.targets.host.package import signature_from_json
        from airgraph_core.targets.host.warm_hints import WarmHint, start_isa_probe

        for item in hints:
            try:
                signature = signature_from_json(item["signature"])
                self.program.hints[signature] = WarmHint.from_json(item["hint"])
            except (KeyError, TypeError, ValueError) as e:
                log.debug("host: a warm hint of %s dropped: %s", self.graph.name, e)
        if self.program.hints and self.program.mode == "inductor":
            start_isa_probe()

    def load_artifacts(self, artifacts: Sequence[Artifact]) -> None:
        """Install packages made by :meth:`export_artifacts`; nothing is compiled.

        Raises:
            ValueError: an artifact's ``meta`` is not a host input signature.
        """
        from airgraph_core.targets.host.package import load_package, signature_from_json

        for artifact in artifacts:
            load_package(self.program, signature_from_json(artifact.meta), artifact.data)


class HostTarget(Target):
    """Runs GE graphs on the CPU.

    Args:
        mode: ``"inductor"`` or ``"interpret"`` (see :class:`HostProgram`).
    """

    name = "host"
    capabilities: ClassVar[TargetCapabilities] = TargetCapabilities(
        device="cpu", compiles_per_shape=True, gear_options=False
    )

    def __init__(self, mode: str = "inductor") -> None:
        if mode not in HOST_MODES:
            raise ValueError(f"mode: {mode!r} is not one of 'inductor', 'interpret'")
        self.mode = mode

    @classmethod
    def from_options(cls, *, host_mode: str = "inductor", **options: Any) -> HostTarget:
        """A host target in ``host_mode`` (``"inductor"`` or ``"interpret"``)."""
        return cls(host_mode)

    def compile(self, graph: GeGraph, options: Mapping[str, str] | None = None) -> HostExecutable:
        """Wrap ``graph`` in a host program; GE options have no meaning here and are ignored.

        Raises:
            NotImplementedError: the graph has GE op types without host
                semantics (all of them are listed).
        """
        missing = []
        for op_type in graph.op_types():
            if op_type in _PLUMBING:
                continue
            try:
                lookup_host_op(op_type)
            except NotImplementedError:
                missing.append(op_type)
        if missing:
            raise NotImplementedError(
                f"the host target has no semantics for GE op type(s) {', '.join(missing)} "
                f"in graph {graph.name!r}"
            )
        return HostExecutable(graph, self.mode)

    def __repr__(self) -> str:
        return f"HostTarget(mode={self.mode!r})"
