"""The interface every target implements: :class:`Target` and :class:`Executable`.

A caller (the backend, gear dispatch, the compile cache) uses only what is
declared here; it never asks which concrete target it holds. What differs
between targets is data (:class:`TargetCapabilities`) or an overridden
method with a working default, so a new target implements ``compile`` and
``Executable.__call__`` and overrides the rest only where it can do better.
"""

from __future__ import annotations

import abc
import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

from airgraph_core.ir.graph import GeGraph

__all__ = ["Artifact", "Executable", "Target", "TargetCapabilities"]


@dataclasses.dataclass(frozen=True)
class TargetCapabilities:
    """What a target does, as data callers branch on (never on the target's type or name).

    Attributes:
        device: the torch device type its tensor inputs live on (``"cpu"``,
            ``"npu"``); part of the compile cache's key.
        compiles_per_shape: it compiles one specialization per input
            signature (see :meth:`Executable.specialize`), so gears are
            compiled one by one; ``False``: one compile serves every shape.
        gear_options: it consumes GE's gear options (``ge.inputShape``,
            ``ge.dynamicDims``, ``ge.dynamicNodeType``): one compiled graph
            serves every gear, so the backend passes them to ``compile``.
    """

    device: str = "cpu"
    compiles_per_shape: bool = False
    gear_options: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.device, str) or not self.device:
            raise ValueError(
                f"device: expected a torch device type such as 'cpu', got {self.device!r}"
            )


@dataclasses.dataclass(frozen=True)
class Artifact:
    """One self-contained file of compiled code, for the compile cache (``ge_cache``).

    Attributes:
        name: a file name (no folders), unique within one executable's artifacts.
        data: the file's bytes.
        meta: JSON-able data the target needs to load it back (e.g. the input
            signature it was compiled for).
    """

    name: str
    data: bytes
    meta: Any = None


class Executable(abc.ABC):
    """A GE graph made runnable by a target.

    Attributes:
        graph: the GE graph it runs.
    """

    graph: GeGraph

    @abc.abstractmethod
    def __call__(self, inputs: Sequence[Any]) -> list[Any]:
        """Run once.

        Args:
            inputs: one value per ``Data`` op in ``index`` order: a tensor,
                or a Python ``int`` for a host scalar (symbolic size) input.

        Returns:
            The ``NetOutput`` values, in order.
        """

    def specialize(self, inputs: Sequence[Any]) -> Callable[..., Any]:
        """Prepare for calls shaped like ``inputs``; return a runner for such calls.

        A target that compiles per shape (``compiles_per_shape``) compiles
        here, which may run the graph once on ``inputs`` (pass inputs whose
        in-place updates may happen). The default is a runner that calls the
        executable: one compile serves every shape.

        Args:
            inputs: as for :meth:`__call__`.

        Returns:
            ``run(*inputs)``: takes one value per ``Data`` op positionally
            (for inputs of exactly these shapes and host-scalar values) and
            returns the ``NetOutput`` values as a sequence.
        """

        def run(*args: Any) -> list[Any]:
            return self(args)

        return run

    def specialize_from_args(
        self, inputs: Sequence[Any], positions: Sequence[int]
    ) -> Callable[[Sequence[Any]], Sequence[Any]]:
        """:meth:`specialize`, as a runner that reads its inputs from the caller's arguments.

        A caller that holds one sequence of all its arguments (gear dispatch:
        a graph's ATen inputs) passes it whole: the runner picks the inputs,
        so no per-call list or unpacking stands between them (a target may
        fuse the picking into its own call).

        Args:
            inputs: as for :meth:`specialize`.
            positions: for each ``Data`` op, in ``index`` order, where its
                value sits in the caller's argument sequence.

        Returns:
            ``run(args)``: the ``NetOutput`` values of the call with
            ``[args[p] for p in positions]``, as a sequence.
        """
        fn = self.specialize(inputs)
        positions = tuple(positions)

        def run(args: Sequence[Any]) -> Sequence[Any]:
            return fn(*[args[p] for p in positions])

        return run

    def uncompiled(self) -> Executable | None:
        """An executable of the same graph that runs any shape without compiling, or None.

        A target that compiles per shape (``compiles_per_shape``) may offer
        one: gear dispatch (``gear_compile="background"``) serves every gear
        from it at once, slower per call but with the same results, while the
        specializations compile in a background thread. None (the default):
        the target has none, and ``"background"`` compiles as ``"eager"`` does.
        """
        return None

    def warm_up(self, inputs: Sequence[Any]) -> None:
        """:meth:`specialize` for ``inputs``, keeping no runner."""
        self.specialize(inputs)

    def export_artifacts(self) -> list[Artifact]:
        """The compiled code so far, as self-contained files (default: none).

        Loading them with :meth:`load_artifacts` into an executable compiled
        from the same graph in another process spares it the compiles they
        hold. A target whose own runtime caches compiled graphs returns none.
        """
        return []

    def export_hints(self) -> list[Any]:
        """JSON-able notes on where the compiled code so far sits in the compiler's own
        cache (default: none). Unlike artifacts they hold no code: :meth:`load_hints` in
        another process uses them to find that code faster, and checks them first."""
        return []

    def load_hints(self, hints: Sequence[Any]) -> None:
        """Use hints :meth:`export_hints` made, where they still hold (default: ignored).

        A hint that is malformed or no longer holds is dropped: it costs a
        full compile, never an error.
        """
        del hints  # this target compiles nothing that a hint could find

    def load_artifacts(self, artifacts: Sequence[Artifact]) -> None:
        """Install artifacts :meth:`export_artifacts` made (default: accepts none).

        The caller has verified the bytes (the compile cache checks a signed
        sha256).

        Raises:
            ValueError: an artifact is not one this executable can load.
        """
        if artifacts:
            raise ValueError(
                f"artifacts: {type(self).__name__} loads no artifacts, got "
                f"{[a.name for a in artifacts]}"
            )


class Target(abc.ABC):
    """Turns GE graphs into :class:`Executable` objects.

    A target class is registered by name in
    :data:`airgraph_core.targets.registry.TARGETS`.

    Attributes:
        name: its registry name (``"host"``, ``"npu"``).
        capabilities: what it does, as data (class attribute).
        unavailable_hint: why :meth:`available` may be false and what to do,
            for the error when it is asked for by name.
    """

    name: str
    capabilities: ClassVar[TargetCapabilities] = TargetCapabilities()
    unavailable_hint: ClassVar[str] = "it is not available on this machine"

    @classmethod
    def available(cls) -> bool:
        """Whether this machine can run the target (``"auto"`` skips it otherwise)."""
        return True

    @classmethod
    def from_options(cls, **options: Any) -> Target:
        """The target built from plain option values (selection passes them all).

        Each target reads the options it knows and ignores the rest; the
        default takes none.
        """
        return cls()

    @abc.abstractmethod
    def compile(self, graph: GeGraph, options: Mapping[str, str] | None = None) -> Executable:
        """Make ``graph`` runnable.

        Args:
            graph: a lowered GE graph.
            options: GE compile options (e.g. the gear options
                ``ge.inputShape``/``ge.dynamicDims``); a target that has no
                use for an option ignores it.

        Returns:
            The executable.

        Raises:
            NotImplementedError: the target cannot run some op of the graph
                (the backend then follows ``unsupported_op``).
        """
