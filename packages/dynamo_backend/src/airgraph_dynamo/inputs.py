"""Where each input of the ATen graph comes from.

AOTAutograd hands the forward compiler a graph whose placeholders are the
flat arguments of the Dynamo graph, possibly preceded by parameters and
buffers it lifted itself, and possibly with duplicated arguments removed.
Each placeholder records its origin in ``node.meta["desc"]``
(``PlainAOTInput(idx)`` = Dynamo argument ``idx``; ``ParamAOTInput`` /
``BufferAOTInput`` = a lifted parameter or buffer by fully qualified name).
From that and the Dynamo graph we learn, per ATen placeholder, the real
example value (for frozen parameters and host warm-up), whether it is module
state (a parameter or buffer) and its static marks.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import torch
from torch.fx import GraphModule

from airgraph_dynamo import _dynamo_compat

__all__ = ["InputOrigin", "aten_input_origins", "dynamo_module_state_positions"]


@dataclasses.dataclass(frozen=True)
class InputOrigin:
    """The origin of one ATen placeholder.

    Attributes:
        kind: ``"arg"`` (a user input of the compiled function), ``"param"``
            or ``"buffer"`` (module state), or ``"unknown"``.
        name: the Dynamo source (e.g. ``L['x']``) or the parameter's FQN.
        value: the real value the first call passed, when known (a tensor
            or an int), else ``None``.
        static_dims: dims marked with ``torch._dynamo.mark_static``.
    """

    kind: str
    name: str
    value: Any = None
    static_dims: frozenset[int] = frozenset()

    @property
    def is_module_state(self) -> bool:
        return self.kind in ("param", "buffer")


def dynamo_module_state_positions(
    gm: GraphModule, example_inputs: Sequence[Any]
) -> dict[int, tuple[str, str]]:
    """Dynamo graph inputs that are a module's parameters or buffers.

    With ``inline_inbuilt_nn_modules`` (PyTorch's default), Dynamo lifts
    parameters and buffers to graph inputs; their sources read
    ``<module>._parameters[...]`` / ``._buffers[...]``.

    Returns:
        Dynamo input position -> ``(kind, source name)``.
    """
    found: dict[int, tuple[str, str]] = {}
    for pos, node in enumerate(gm.graph.find_nodes(op="placeholder")):
        source = _dynamo_compat.placeholder_source(node)
        kind = _dynamo_compat.module_state_kind(source)
        example = example_inputs[pos] if pos < len(example_inputs) else None
        if kind is None and isinstance(example, torch.nn.Parameter):
            kind = "param"
        if kind is not None:
            found[pos] = (kind, source.name if source is not None else node.name)
    return found


def _dynamo_names(gm: GraphModule) -> list[str]:
    names = []
    for node in gm.graph.find_nodes(op="placeholder"):
        source = _dynamo_compat.placeholder_source(node)
        names.append(source.name if source is not None else node.name)
    return names


def aten_input_origins(
    aten_gm: GraphModule,
    dynamo_gm: GraphModule | None,
    dynamo_inputs: Sequence[Any],
) -> list[InputOrigin]:
    """The origin of every placeholder of ``aten_gm``, in placeholder order.

    Args:
        aten_gm: the graph AOTAutograd passes to the forward compiler.
        dynamo_gm: the Dynamo graph it came from (``None`` when the compiler
            is used without our backend: only descs are used then).
        dynamo_inputs: the real example inputs of the Dynamo graph.
    """
    state = dynamo_module_state_positions(dynamo_gm, dynamo_inputs) if dynamo_gm else {}
    names = _dynamo_names(dynamo_gm) if dynamo_gm else []
    origins: list[InputOrigin] = []
    for node in aten_gm.graph.find_nodes(op="placeholder"):
        origin = _dynamo_compat.aot_input_origin(node)
        kind, where = origin if origin is not None else ("unknown", None)
        if kind == "arg" and 0 <= where < len(dynamo_inputs):
            value = dynamo_inputs[where]
            kind, name = state.get(where, ("arg", ""))
            if not name:
                name = names[where] if where < len(names) else node.name
            origins.append(InputOrigin(kind, name, value, _dynamo_compat.static_dims(value)))
        elif kind in ("param", "buffer"):
            value = None
            if dynamo_gm is not None:
                getter = dynamo_gm.get_parameter if kind == "param" else dynamo_gm.get_buffer
                try:
                    value = getter(where)
                except AttributeError:
                    value = None
            origins.append(InputOrigin(kind, where, value))
        else:
            origins.append(InputOrigin("unknown", node.name))
    return origins
