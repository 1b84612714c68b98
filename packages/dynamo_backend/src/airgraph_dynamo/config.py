"""``CompilerConfig``: the typed, validated options of the airgraph backend.

The tree has every option of TorchAir's ``CompilerConfig``, with TorchAir's
names, defaults and allowed values, so TorchAir scripts configure airgraph
unchanged. airgraph acts on these::

    config.inference_config.dynamic_gears_merge_policy   # "zip" | "product"
    config.debug.graph_dump.type                         # None | "txt" | "pbtxt" | "py"
    config.debug.graph_dump.path                         # folder for the dumps
    config.experimental_config.frozen_parameter          # bool
    config.experimental_config.enable_ref_data           # bool

The other TorchAir options (``mode``, ``ge_config``, ``dump_config``,
``aoe_config``, ``fusion_config``, ``export``, ``aclgraph_config``, the rest of
``debug`` and ``experimental_config``, the post-grad passes) are
*accepted-only*: validated and stored, part of :meth:`CompilerConfig.as_dict`
(TorchAir's GE option dicts) and of the fingerprint, without effect on what
runs yet. Their groups are declared in :mod:`airgraph_dynamo.ge_groups`.

Options TorchAir does not have live in their own branch, ``airgraph_config``,
so they can never collide with a TorchAir name::

    config.airgraph_config.target          # "auto" | "npu" | "host"
    config.airgraph_config.host_mode       # "inductor" | "interpret"
    config.airgraph_config.gear_compile    # "eager" | "lazy" | "background"
    config.airgraph_config.out_of_gear     # "error" | "pad" | "fallback"
    config.airgraph_config.unsupported_op  # "error" | "fallback"

Every group rejects unknown attribute names (listing the known ones) and bad
values (listing the allowed ones) at assignment time, so a typo fails where
it is made, not at compile time. The errors are ``ValueError`` as in TorchAir
and also the class airgraph raised before (see :mod:`airgraph_dynamo.options`).
"""

from __future__ import annotations

import copy
from typing import Any, ClassVar

from airgraph_core.targets import target_names
from airgraph_dynamo.ge_groups import (
    TOPO_SORTING_MODES,
    AclGraphConfig,
    AclGraphDebugConfig,
    AclGraphExperimentalConfig,
    AoeConfig,
    DataDumpConfig,
    DumpConfig,
    ExportConfig,
    FusionConfig,
    FxSummaryConfig,
    GeConfig,
    check_callable,
    checked,
    choice,
    flag,
    int_range,
)
from airgraph_dynamo.options import (
    INT64_MAX,
    ConfigNode,
    GeOptionDicts,
    Option,
    OptionPathError,
    OptionTypeError,
    UnknownOptionError,
    check_bool,
    check_dump_path,
    ge_text,
)

__all__ = [
    "AirgraphConfig",
    "CompilerConfig",
    "DebugConfig",
    "ExperimentalConfig",
    "GraphDumpConfig",
    "InferenceConfig",
    "OptionPathError",
    "OptionTypeError",
    "UnknownOptionError",
]

# The names this module used before the machinery moved to ``options``.
_ConfigNode = ConfigNode
_Option = Option
_check_bool = check_bool
_check_dump_path = check_dump_path


class InferenceConfig(_ConfigNode):
    """``inference_config``: options of inference features (TorchAir names)."""

    _options: ClassVar[dict[str, _Option]] = {
        "dynamic_gears_merge_policy": _Option(
            "zip",
            "how per-dim gears combine into shapes: 'zip' pairs the i-th gear of "
            "every dim; 'product' takes every combination",
            choices=("zip", "product"),
        ),
    }


class GraphDumpConfig(_ConfigNode):
    """``debug.graph_dump``: write each compiled GE graph to a file."""

    _options: ClassVar[dict[str, _Option]] = {
        "type": _Option(
            None,
            "None (no dump), 'txt' (readable text), 'pbtxt' (GE protobuf text "
            "format) or 'py' (a Python-like listing)",
            choices=(None, "txt", "pbtxt", "py"),
        ),
        "path": _Option(
            None,
            "folder the dumps are written to (created if missing); None for the "
            "current working directory",
            check=_check_dump_path,
        ),
    }


class DebugConfig(_ConfigNode):
    """``debug``: debugging aids (TorchAir names); ``deadlock_check`` and ``aclgraph`` are accepted-only."""

    _children: ClassVar[dict[str, type[_ConfigNode]]] = {
        "graph_dump": GraphDumpConfig,
        "data_dump": DataDumpConfig,
        "fx_summary": FxSummaryConfig,
        "aclgraph": AclGraphDebugConfig,
    }
    _options: ClassVar[dict[str, _Option]] = {
        "run_eagerly": flag(False, "run the FX graph eagerly instead of through GE"),
        "deadlock_check": flag(False, "check for deadlocks between graph runs"),
    }

    def _ge_options(self, mode: str) -> tuple[dict[str, Any], dict[str, Any]]:
        local, _ = self.aclgraph._ge_options(mode)
        local["run_eagerly"] = ge_text(self.run_eagerly)
        local["deadlock_check"] = ge_text(self.deadlock_check)
        return local, {}


class ExperimentalConfig(_ConfigNode):
    """``experimental_config``: experimental options (TorchAir names).

    airgraph acts on ``frozen_parameter`` and ``enable_ref_data``; the others
    are accepted-only.
    """

    _options: ClassVar[dict[str, _Option]] = {
        "cc_parallel_enable": flag(False, "run communication and computation in parallel"),
        "keep_inference_input_mutations": flag(True, "keep input mutations inside the graph"),
        "memory_efficiency": flag(False, "GE refreshable feature memory"),
        "frozen_parameter": _Option(
            False,
            "embed the module's parameters and buffers in the GE graph as Const "
            "ops instead of feeding them as inputs at every call; their values "
            "must not change after compilation",
            check=_check_bool,
        ),
        "static_model_ops_lower_limit": checked(
            None, int_range(-1, INT64_MAX), "op count below which GE runs a static graph"
        ),
        "jit_compile": choice("auto", ("auto",), "GE's jit_compile mode"),
        "npu_fx_pass": flag(False, "TorchAir's NPU FX passes"),
        "aot_config_enable_joint_graph": flag(False, "compile forward and backward jointly"),
        "aot_config_output_loss_index": checked(0, None, "index of the loss output"),
        "topology_sorting_strategy": choice(
            "DFS", tuple(TOPO_SORTING_MODES), "GE's topological sort of the ops"
        ),
        # Acted on, but listed (to_dict, fingerprint) only when set, as it
        # was while accepted-only: existing configs keep their fingerprints.
        "enable_ref_data": flag(
            False, "graph inputs written in place become GE RefData ops (not Data), as in TorchAir"
        ),
        "enable_view_optimize": flag(True, "TorchAir's view-op optimization"),
        "remove_noop_ops": flag(True, "remove no-op ops before lowering"),
        "tiling_schedule_optimize": flag(False, "GE tiling schedule optimization"),
        "pattern_fusion_pass": flag(True, "TorchAir's pattern fusion passes"),
    }
    _children: ClassVar[dict[str, type[_ConfigNode]]] = {"aclgraph": AclGraphExperimentalConfig}

    def _ge_options(self, mode: str) -> tuple[dict[str, Any], dict[str, Any]]:
        local = {
            name: ge_text(getattr(self, name))
            for name in ("remove_noop_ops", "pattern_fusion_pass", "frozen_parameter")
        }
        global_: dict[str, Any] = {}
        if mode != "max-autotune":
            acl_local, acl_global = self.aclgraph._ge_options(mode)
            return {**local, **acl_local}, acl_global
        global_["ge.exec.enableEngineParallel"] = ge_text(self.cc_parallel_enable)
        local["ge.tiling_schedule_optimize"] = ge_text(self.tiling_schedule_optimize)
        local["ge.featureBaseRefreshable"] = ge_text(self.memory_efficiency)
        local["ge.topoSortingMode"] = TOPO_SORTING_MODES[self.topology_sorting_strategy]
        if self.jit_compile == "auto":
            local["ge.jit_compile"] = "2"
        if self.static_model_ops_lower_limit is not None:
            local["ge.exec.static_model_ops_lower_limit"] = ge_text(
                self.static_model_ops_lower_limit
            )
        return local, global_


class AirgraphConfig(_ConfigNode):
    """``airgraph_config``: airgraph's own options (no TorchAir equivalent)."""

    _options: ClassVar[dict[str, _Option]] = {
        "target": _Option(
            "auto",
            "where GE graphs run: 'npu' (GE on an Ascend NPU via torch_npu), 'host' "
            "(the CPU host target) or 'auto' (npu when torch_npu and an NPU are "
            "available, else host)",
            choices=("auto", *target_names()),  # every registered target (airgraph_core.targets)
        ),
        "host_mode": _Option(
            "inductor",
            "how the host target runs a GE graph: 'inductor' (compiled) or "
            "'interpret' (op by op: the reference mode)",
            choices=("inductor", "interpret"),
        ),
        "gear_compile": _Option(
            "eager",
            "when the host target compiles gears: 'eager' (all at the first call), "
            "'lazy' (each at its first use) or 'background' (a thread compiles them "
            "while every gear is served at once, uncompiled, until its compiled code "
            "is swapped in; see airgraph_dynamo.wait_for_gears)",
            choices=("eager", "lazy", "background"),
        ),
        "out_of_gear": _Option(
            "error",
            "a call whose shapes match no gear: 'error' (list the gears), 'pad' "
            "(pad to the next larger gear and slice the outputs back) or "
            "'fallback' (run an uncached dynamic graph, with a warning)",
            choices=("error", "pad", "fallback"),
        ),
        "unsupported_op": _Option(
            "error",
            "a graph with ops airgraph cannot lower: 'error' (list them) or "
            "'fallback' (run the graph eagerly in PyTorch, with a warning)",
            choices=("error", "fallback"),
        ),
    }


class CompilerConfig(_ConfigNode):
    """The options of the airgraph ``torch.compile`` backend.

    Every option of TorchAir's ``CompilerConfig`` exists here with TorchAir's
    name, default and allowed values; airgraph's own options are under
    ``airgraph_config``. Assignments are validated immediately. airgraph acts
    on ``inference_config.dynamic_gears_merge_policy``,
    ``debug.graph_dump.*``, ``experimental_config.frozen_parameter``,
    ``experimental_config.enable_ref_data`` and ``airgraph_config.*``; every
    other option is *accepted-only*: stored, counted in :meth:`fingerprint`
    and in :meth:`as_dict`'s GE options, but without effect on what runs
    (never on the results).

    Examples:
        >>> config = CompilerConfig()
        >>> config.inference_config.dynamic_gears_merge_policy = "product"
        >>> config.airgraph_config.target = "host"
        >>> config
        CompilerConfig(inference_config.dynamic_gears_merge_policy='product', airgraph_config.target='host')
        >>> config.mode.value
        'max-autotune'
        >>> local_options, global_options = config.as_dict()
        >>> global_options["ge.oo.level"]
        'O3'
        >>> config.debug.graph_dump.type = "svg"  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: debug.graph_dump.type: 'svg' is not allowed; expected one of None, 'txt', 'pbtxt', 'py' ...

    Raises:
        UnknownOptionError: (a ``ValueError`` and an ``AttributeError``) on
            setting or reading an unknown option (the message lists the
            known names), or on replacing a group of options.
        ValueError: on a value outside an option's allowed values (listed).
        OptionTypeError: (a ``ValueError`` and a ``TypeError``) on a value of
            the wrong type (e.g. a non-bool flag).
        OptionPathError: (a ``FileNotFoundError`` and a ``ValueError``) on a
            file or folder option naming something that does not exist.
    """

    _children: ClassVar[dict[str, type[_ConfigNode]]] = {
        "inference_config": InferenceConfig,
        "debug": DebugConfig,
        "experimental_config": ExperimentalConfig,
        "airgraph_config": AirgraphConfig,
        "ge_config": GeConfig,
        "dump_config": DumpConfig,
        "aoe_config": AoeConfig,
        "fusion_config": FusionConfig,
        "export": ExportConfig,
        "aclgraph_config": AclGraphConfig,
    }
    _options: ClassVar[dict[str, _Option]] = {
        "mode": choice(
            "max-autotune",
            ("max-autotune", "reduce-overhead", "npugraph_ex"),
            "TorchAir's execution mode; airgraph always builds GE graphs",
        ),
        "post_grad_custom_pre_pass": checked(
            None, check_callable, "a pass over the ATen graph before airgraph's passes"
        ),
        "post_grad_custom_post_pass": checked(
            None, check_callable, "a pass over the ATen graph after airgraph's passes"
        ),
    }

    # TorchAir merges its groups' GE options in this order (later keys win).
    _GE_ORDER = (
        "debug",
        "aoe_config",
        "export",
        "dump_config",
        "fusion_config",
        "experimental_config",
        "inference_config",
        "ge_config",
    )

    def __init__(self) -> None:
        super().__init__("")

    def as_dict(self) -> GeOptionDicts:
        """TorchAir's GE options: ``(local_options, global_options)``, as TorchAir builds them.

        Values are strings (``"1"``/``"0"`` for flags); which keys appear
        depends on ``mode`` as in TorchAir. For airgraph's earlier nested
        form, index the result by a group name (``as_dict()["debug"]``) or
        use :meth:`to_dict`.

        Returns:
            A tuple ``(local, global)`` of dicts that also indexes by name.
        """
        local: dict[str, Any] = {}
        global_: dict[str, Any] = {}
        for name in self._GE_ORDER:
            group_local, group_global = getattr(self, name)._ge_options(self.mode)
            local.update(group_local)
            global_.update(group_global)
        local["mode"] = ge_text(self.mode)
        return GeOptionDicts(local, global_, self.to_dict())

    def copy(self) -> CompilerConfig:
        """An independent deep copy (the backend keeps one, so later edits do not leak in)."""
        return copy.deepcopy(self)

    # A copy and a pickled config carry every option's value and nothing else
    # (the declarations are the classes'). Stored values were validated when
    # set: a dump folder deleted since must not fail a copy or a load.
    def __deepcopy__(self, memo: dict[int, Any]) -> CompilerConfig:
        return _from_values(
            type(self),
            {
                path: copy.deepcopy(value, memo) if isinstance(value, (list, dict)) else value
                for path, value, _default in self._leaves()
            },
        )

    def __reduce__(self) -> tuple[Any, ...]:
        # Callables set as options (custom passes) are pickled by reference, as
        # pickle does: a lambda or a local function cannot be pickled.
        return (_from_values, (type(self), {path: v for path, v, _ in self._leaves()}))

    @classmethod
    def from_dict(cls, options: dict[str, Any]) -> CompilerConfig:
        """Rebuild a config from :meth:`to_dict` output (or any subset of it).

        Args:
            options: nested dict of option values (or an :meth:`as_dict`
                result); missing ones keep their defaults.

        Returns:
            A new, validated config.

        Raises:
            TypeError: ``options`` (or a group in it) is not a dict.
            AttributeError, ValueError: as for attribute assignment.
        """
        config = cls()
        if isinstance(options, GeOptionDicts):
            options = options.tree
        _apply(config, options, "options")
        return config


def _from_values(cls: type[CompilerConfig], values: dict[str, Any]) -> CompilerConfig:
    """A new ``cls`` with ``values`` (dotted option path -> value) stored unchecked."""
    new = cls()
    for path, value in values.items():
        node: Any = new
        *parents, leaf = path.split(".")
        for part in parents:
            node = getattr(node, part)
        node._store(leaf, value)
    return new


def _apply(node: _ConfigNode, options: Any, where: str) -> None:
    if not isinstance(options, dict):
        raise TypeError(f"{where}: expected a dict of options, got {type(options).__name__}")
    for name, value in options.items():
        if name in node._children:
            _apply(getattr(node, name), value, f"{node._path}.{name}" if node._path else name)
        else:
            setattr(node, name, value)
