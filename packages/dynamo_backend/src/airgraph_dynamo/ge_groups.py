"""TorchAir's option groups for GE and NPU features that airgraph accepts and stores.

``ge_config``, ``dump_config``, ``aoe_config``, ``fusion_config``, ``export``,
``aclgraph_config`` and the ``aclgraph`` / ``data_dump`` / ``fx_summary``
subgroups have TorchAir's names, defaults and allowed values, and produce
TorchAir's GE options in ``CompilerConfig.as_dict()``. airgraph does not act
on them yet (they are *accepted-only*): setting them never changes what a
compiled graph computes. The groups airgraph acts on are in
:mod:`airgraph_dynamo.config`.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Callable
from typing import Any, ClassVar

from airgraph_dynamo.options import (
    INT64_MAX,
    ConfigNode,
    Option,
    OptionPathError,
    OptionTypeError,
    check_bool,
    check_dump_path,
    ge_text,
)

__all__ = [
    "AclGraphConfig",
    "AclGraphDebugConfig",
    "AclGraphExperimentalConfig",
    "AoeConfig",
    "DataDumpConfig",
    "DumpConfig",
    "ExportConfig",
    "ExportExperimentalConfig",
    "FusionConfig",
    "FxSummaryConfig",
    "GeConfig",
]

#: TorchAir's ``experimental_config.topology_sorting_strategy`` -> ``ge.topoSortingMode``.
TOPO_SORTING_MODES = {"BFS": "0", "DFS": "1", "RDFS": "2", "StableRDFS": "3"}


# -- TorchAir's value kinds -----------------------------------------------------------


# The checks below are module-level classes, not closures, so a config (whose
# option values keep their Option) pickles: pickle cannot save a local function.


@dataclasses.dataclass(frozen=True)
class IntRange:
    """A check for an ``int`` in ``[low, high]`` (TorchAir's ``IntRangeValue``)."""

    low: int
    high: int

    def __call__(self, path: str, value: Any) -> int:
        if not isinstance(value, int) or isinstance(value, bool):
            raise OptionTypeError(
                f"{path}: Please set integer type, but got {type(value)} ({value!r})"
            )
        if not self.low <= value <= self.high:
            raise ValueError(
                f"{path}: Please set value in [{self.low}, {self.high}], {value} is out of range."
            )
        return value


def int_range(low: int, high: int) -> Callable[[str, Any], int]:
    """A check for an ``int`` in ``[low, high]`` (TorchAir's ``IntRangeValue``)."""
    return IntRange(low, high)


def _fspath(path: str, value: Any, what: str) -> str:
    if not isinstance(value, (str, os.PathLike)):
        raise OptionTypeError(f"{path}: expected a {what} path (str or os.PathLike), got {value!r}")
    return os.fspath(value)


def existing_dir(path: str, value: Any) -> str:
    """A folder that exists (TorchAir's ``MustExistedPathValue``; ``None`` is refused)."""
    if value is None or not os.path.isdir(_fspath(path, value, "folder")):
        raise OptionPathError(
            f"{path}: Please set legal dir path, {value} is not found or is not a file directory!"
        )
    return os.fspath(value)


def existing_file(path: str, value: Any) -> str | None:
    """A file that exists, or ``None`` (TorchAir's ``FileValue``)."""
    if value is None:
        return None
    if not os.path.isfile(_fspath(path, value, "file")):
        raise OptionPathError(
            f"{path}: Please set legal file path, {value} is not found or is not a file!"
        )
    return os.fspath(value)


def existing_json_file(path: str, value: Any) -> str | None:
    """A ``.json`` file that exists, or ``None`` (TorchAir's ``MustExistedFileAddr``)."""
    if value is None:
        return None
    text = _fspath(path, value, "file")
    if text == "":
        raise ValueError(f"{path}: File path cannot be empty!")
    if not (text.endswith(".json") and os.path.isfile(text)):
        raise OptionPathError(
            f"{path}: Please set legal file path, {text} is not found or is not '.json' file!"
        )
    return text


@dataclasses.dataclass(frozen=True)
class Pattern:
    """A check for a string matching ``pattern`` (TorchAir's ``RegexValue``)."""

    pattern: str
    example: str

    def __call__(self, path: str, value: Any) -> str:
        if not isinstance(value, str):
            raise OptionTypeError(f"{path}: expected a str like {self.example!r}, got {value!r}")
        if not re.match(self.pattern, value):
            raise ValueError(
                f"{path}: Please set legal regex value format match {self.pattern}, "
                f"{value} is Illegal format, correct example:{self.example}."
            )
        return value


def regex(pattern: str, example: str) -> Callable[[str, Any], str]:
    """A check for a string matching ``pattern`` (TorchAir's ``RegexValue``)."""
    return Pattern(pattern, example)


@dataclasses.dataclass(frozen=True)
class OfTypes:
    """A check that a value is ``None`` or an instance of ``types`` (never a ``bool``)."""

    types: tuple[type, ...]
    what: str

    def __call__(self, path: str, value: Any) -> Any:
        if value is not None and (not isinstance(value, self.types) or isinstance(value, bool)):
            raise OptionTypeError(f"{path}: expected {self.what} or None, got {value!r}")
        return value


def of_types(*types: type, what: str) -> Callable[[str, Any], Any]:
    """A check that ``value`` is ``None`` or an instance of ``types``."""
    return OfTypes(types, what)


def check_int_list(path: str, value: Any) -> list[int]:
    """A list of ints; ``None`` becomes ``[]`` (TorchAir's ``IntListValue``)."""
    if value is None:
        return []
    if not isinstance(value, (list, tuple)) or not all(
        isinstance(v, int) and not isinstance(v, bool) for v in value
    ):
        raise OptionTypeError(f"{path}: expected a list of ints or None, got {value!r}")
    return list(value)


def check_callable(path: str, value: Any) -> Any:
    """A callable or ``None``."""
    if value is not None and not callable(value):
        raise OptionTypeError(f"{path}: expected a callable or None, got {value!r}")
    return value


# -- groups -----------------------------------------------------------------------------


def flag(default: bool, doc: str) -> Option:
    """An accepted-only ``True``/``False`` option."""
    return Option(default, doc, check=check_bool, acted=False)


def choice(default: Any, choices: tuple[Any, ...], doc: str) -> Option:
    """An accepted-only option with a fixed set of values."""
    return Option(default, doc, choices=choices, acted=False)


def checked(default: Any, check: Any, doc: str) -> Option:
    """An accepted-only option whose values ``check`` validates."""
    return Option(default, doc, check=check, acted=False)


def _str_or_int(path: str, value: Any) -> Any:
    return of_types(str, int, what="a str or an int")(path, value)


class GeConfig(ConfigNode):
    """``ge_config``: GE compile options (accepted-only)."""

    _options: ClassVar[dict[str, Option]] = {
        "enable_single_stream": flag(False, "GE runs the graph on one stream"),
        "oo_level": choice("O3", ("O1", "O3"), "GE's graph optimization level"),
        "oo_constant_folding": choice(None, (None, True, False), "GE constant folding"),
        "oo_dead_code_elimination": choice(None, (None, True, False), "GE dead code elimination"),
        "export_compile_stat": choice("2", ("0", "1", "2"), "GE's compile statistics file"),
        "aicore_num": checked(None, _str_or_int, "AI cores GE may use (e.g. '24|48')"),
        "optimization_switch": checked(None, _str_or_int, "GE optimization passes on/off"),
    }

    def _ge_options(self, mode: str) -> tuple[dict[str, Any], dict[str, Any]]:
        local: dict[str, Any] = {}
        global_: dict[str, Any] = {}
        if self.aicore_num is not None:
            global_["ge.aicoreNum"] = ge_text(self.aicore_num)
        global_["ge.enableSingleStream"] = "true" if self.enable_single_stream else "false"
        global_["ge.oo.level"] = ge_text(self.oo_level)
        if self.oo_constant_folding is not None:
            global_["ge.oo.constantFolding"] = "true" if self.oo_constant_folding else "false"
        if self.oo_dead_code_elimination is not None:
            global_["ge.oo.deadCodeElimination"] = (
                "true" if self.oo_dead_code_elimination else "false"
            )
        if self.oo_level == "O1":
            local["ge.topoSortingMode"] = TOPO_SORTING_MODES["StableRDFS"]
        global_["ge.exportCompileStat"] = ge_text(self.export_compile_stat)
        if self.optimization_switch is not None:
            global_["ge.optimizationSwitch"] = ge_text(self.optimization_switch)
        return local, global_


def _rank_dump_path(root: str) -> str:
    """TorchAir's per-rank dump folder under ``root`` (created, as TorchAir does)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        sub = f"worldsize{dist.get_world_size()}_global_rank{dist.get_rank()}"
    else:
        sub = "worldsize1_global_rank0"
    path = os.path.join(root, sub)
    os.makedirs(path, exist_ok=True)
    return path


class DumpConfig(ConfigNode):
    """``dump_config``: GE per-op tensor dumps (accepted-only)."""

    _options: ClassVar[dict[str, Option]] = {
        "enable_dump": flag(False, "dump op inputs/outputs while the graph runs"),
        "dump_path": checked("./", existing_dir, "existing folder the dumps go to"),
        "dump_mode": choice("all", ("input", "output", "all"), "which tensors to dump"),
        "quant_dumpable": flag(False, "dump quantized ops before quantization"),
        "dump_step": checked(
            "", regex(r"^(((\d+)|(\d+-{0,1}\d+))\|{0,1})*$", "0|1|2-5|6"), "steps to dump"
        ),
        "dump_layer": checked(
            "", regex(r'^[0-9a-zA-Z_" "/\\.]*$', "Mul_1 Add1 Conv2D_1"), "ops to dump"
        ),
        "dump_data": choice("tensor", ("tensor", "stats"), "full tensors or statistics"),
        "dump_config_path": checked(None, existing_json_file, "an acl dump config .json file"),
        "data_dump_stage": choice("optimized", ("original", "optimized"), "graph stage to dump"),
    }

    def _ge_options(self, mode: str) -> tuple[dict[str, Any], dict[str, Any]]:
        options: dict[str, Any] = {}
        if self.dump_config_path is not None:
            options["ge_dump_with_acl_config"] = ge_text(self.dump_config_path)
        if self.enable_dump and mode == "max-autotune":
            options["ge.exec.enableDump"] = "1"
            options["ge.exec.dumpPath"] = _rank_dump_path(self.dump_path)
            options["ge.exec.dumpMode"] = ge_text(self.dump_mode)
            options["ge.quant_dumpable"] = ge_text(self.quant_dumpable)
            if self.dump_step != "":
                options["ge.exec.dumpStep"] = ge_text(self.dump_step)
            if self.dump_layer != "":
                options["ge.exec.dumpLayer"] = ge_text(self.dump_layer)
            options["ge.exec.dumpData"] = ge_text(self.dump_data)
        if self.enable_dump and mode in ("reduce-overhead", "npugraph_ex"):
            options["aclgraph.enableDump"] = "1"
            options["aclgraph.dumpPath"] = _rank_dump_path(self.dump_path)
            options["aclgraph.dumpStage"] = ge_text(self.data_dump_stage)
        return {}, options


class AoeConfig(ConfigNode):
    """``aoe_config``: AOE auto-tuning (accepted-only)."""

    _options: ClassVar[dict[str, Option]] = {
        "aoe_mode": choice(None, (None, "2"), "'2' tunes operators with AOE"),
        "work_path": checked("./", existing_dir, "existing folder for AOE's results"),
        "aoe_config_file": checked(None, existing_file, "an AOE config file"),
    }

    def _ge_options(self, mode: str) -> tuple[dict[str, Any], dict[str, Any]]:
        if self.aoe_mode is None:
            return {}, {}
        local = {"aoe_mode": ge_text(self.aoe_mode), "work_path": ge_text(self.work_path)}
        if self.aoe_config_file is not None:
            local["aoe_config_file"] = ge_text(self.aoe_config_file)
        return local, {}


class FusionConfig(ConfigNode):
    """``fusion_config``: GE fusion switches (accepted-only)."""

    _options: ClassVar[dict[str, Option]] = {
        "fusion_switch_file": checked(None, existing_file, "a GE fusion switch file"),
    }

    def _ge_options(self, mode: str) -> tuple[dict[str, Any], dict[str, Any]]:
        if self.fusion_switch_file is None:
            return {}, {}
        return {}, {"ge.fusionSwitchFile": ge_text(self.fusion_switch_file)}


class ExportExperimentalConfig(ConfigNode):
    """``export.experimental``: experimental export options (accepted-only)."""

    _options: ClassVar[dict[str, Option]] = {
        "enable_record_nn_module_stack": flag(False, "record nn.Module stacks in the export"),
        "auto_atc_config_generated": flag(False, "write an ATC config next to the export"),
        "enable_lite_export": flag(False, "export for the lite runtime"),
    }


def _names(path: str, value: Any) -> Any:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        return list(value)
    raise OptionTypeError(f"{path}: expected a str, a list of str or None, got {value!r}")


class ExportConfig(ConfigNode):
    """``export``: offline graph export (accepted-only; TorchAir's ``dynamo_export`` sets it)."""

    _options: ClassVar[dict[str, Option]] = {
        "export_mode": flag(False, "export the GE graph instead of running it"),
        "export_path_dir": checked("./", check_dump_path, "folder of the exported graph"),
        "export_name": checked(None, of_types(str, what="a str"), "name of the exported graph"),
        "weight_name": checked(None, of_types(str, what="a str"), "name of the weights file"),
        "inputs_name": checked(None, _names, "names of the graph inputs"),
    }
    _children: ClassVar[dict[str, type[ConfigNode]]] = {"experimental": ExportExperimentalConfig}

    def _ge_options(self, mode: str) -> tuple[dict[str, Any], dict[str, Any]]:
        if not self.export_mode:
            return {}, {}
        return {"export_path_dir": self.export_path_dir, "export_name": self.export_name}, {}


class DataDumpConfig(ConfigNode):
    """``debug.data_dump``: per-op tensor dumps from the FX graph (see :mod:`airgraph_dynamo.data_dump`)."""

    _options: ClassVar[dict[str, Option]] = {
        "type": choice(None, (None, "npy"), "None (off) or 'npy'"),
        "path": checked(None, check_dump_path, "folder of the dumps; None for the cwd"),
        "filter": checked(None, check_callable, "a callable choosing the nodes to dump"),
    }


class FxSummaryConfig(ConfigNode):
    """``debug.fx_summary``: a CSV summary of the FX graph's ops (see :mod:`airgraph_dynamo.fx_summary`)."""

    _options: ClassVar[dict[str, Option]] = {
        "type": choice(None, (None, "csv"), "None (off) or 'csv'"),
        "skip_compile": flag(True, "after writing the summary, run eagerly"),
    }


class AclGraphDebugConfig(ConfigNode):
    """``debug.aclgraph``: debug switches of TorchAir's aclgraph modes (accepted-only)."""

    _options: ClassVar[dict[str, Option]] = {
        "disable_reinplace_inplaceable_ops_pass": flag(False, "skip the reinplace pass"),
        "disable_reinplace_input_mutated_ops_pass": flag(False, "skip input reinplacing"),
        "disable_mempool_reuse_in_same_fx": flag(False, "no memory pool reuse in one graph"),
        "enable_output_clone": flag(False, "clone graph outputs"),
        "static_capture_size_limit": checked(
            64, int_range(1, INT64_MAX), "captures per graph before falling back"
        ),
        "clone_input": flag(True, "clone mutated inputs"),
        "remove_cat_ops": flag(True, "remove cat ops by writing into one buffer"),
    }

    def _ge_options(self, mode: str) -> tuple[dict[str, Any], dict[str, Any]]:
        local = {
            name: ge_text(getattr(self, name))
            for name in (
                "disable_mempool_reuse_in_same_fx",
                "enable_output_clone",
                "static_capture_size_limit",
                "clone_input",
            )
        }
        return local, {}


class AclGraphExperimentalConfig(ConfigNode):
    """``experimental_config.aclgraph``: TorchAir's aclgraph kernel options (accepted-only)."""

    _options: ClassVar[dict[str, Option]] = {
        "_aclnn_static_shape_kernel": flag(False, "compile static-shape kernels"),
        "_aclnn_static_shape_kernel_build_dir": checked(
            None, of_types(str, what="a str"), "build folder of the static kernels"
        ),
        "_aclnn_static_shape_kernel_sym_value_range": checked(
            None, check_int_list, "symbol values that get static kernels"
        ),
        "_aclnn_static_shape_kernel_sym_index": checked(
            0, int_range(0, INT64_MAX), "index of the symbol checked against the range"
        ),
        "_super_kernel_optimize": flag(False, "fuse kernels into super kernels"),
        "_super_kernel_optimize_options": checked(
            None, of_types(dict, what="a dict"), "super kernel options"
        ),
        "_super_kernel_debug_options": checked(
            None, of_types(dict, what="a dict"), "super kernel debug options"
        ),
    }

    def _ge_options(self, mode: str) -> tuple[dict[str, Any], dict[str, Any]]:
        local: dict[str, Any] = {}
        if mode == "max-autotune":
            return local, {}
        if self._aclnn_static_shape_kernel:
            local["_aclnn_static_shape_kernel"] = "1"
            build_dir = self._aclnn_static_shape_kernel_build_dir
            local["_aclnn_static_shape_kernel_build_dir"] = "" if build_dir is None else build_dir
            local["_aclnn_static_shape_kernel_sym_value_range"] = (
                self._aclnn_static_shape_kernel_sym_value_range
            )
            local["_aclnn_static_shape_kernel_sym_index"] = ge_text(
                self._aclnn_static_shape_kernel_sym_index
            )
        if self._super_kernel_optimize:
            local["_super_kernel_optimize"] = "1"
            for name in ("_super_kernel_optimize_options", "_super_kernel_debug_options"):
                if getattr(self, name) is not None:
                    local[name] = getattr(self, name)
        return local, {}


class AclGraphConfig(ConfigNode):
    """``aclgraph_config``: TorchAir's aclgraph memory pool (accepted-only)."""

    _options: ClassVar[dict[str, Option]] = {
        "use_custom_pool": checked(None, None, "a graph memory pool handle to capture into"),
    }
