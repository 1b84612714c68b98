"""``CompilerConfig``: the typed, validated options of the airgraph backend.

The tree uses TorchAir's attribute names where TorchAir has the feature, so
TorchAir scripts configure airgraph unchanged::

    config.inference_config.dynamic_gears_merge_policy   # "zip" | "product"
    config.debug.graph_dump.type                         # None | "txt" | "pbtxt" | "py"
    config.debug.graph_dump.path                         # folder for the dumps
    config.experimental_config.frozen_parameter          # bool

Options TorchAir does not have live in their own branch, ``airgraph_config``,
so they can never collide with a TorchAir name::

    config.airgraph_config.target          # "auto" | "npu" | "host"
    config.airgraph_config.host_mode       # "inductor" | "interpret"
    config.airgraph_config.gear_compile    # "eager" | "lazy"
    config.airgraph_config.out_of_gear     # "error" | "pad" | "fallback"
    config.airgraph_config.unsupported_op  # "error" | "fallback"

Every node rejects unknown attribute names (listing the known ones) and bad
values (listing the allowed ones) at assignment time, so a typo fails where
it is made, not at compile time.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import hashlib
import json
import os
from collections.abc import Callable, Iterator
from typing import Any, ClassVar

__all__ = [
    "AirgraphConfig",
    "CompilerConfig",
    "DebugConfig",
    "ExperimentalConfig",
    "GraphDumpConfig",
    "InferenceConfig",
]

#: Bumped when the meaning of an option changes, so fingerprints change too.
_SCHEMA_VERSION = 1


@dataclasses.dataclass(frozen=True)
class _Option:
    """One leaf option: its default, how to check a value, and what it means."""

    default: Any
    doc: str
    choices: tuple[Any, ...] | None = None
    check: Callable[[str, Any], Any] | None = None  # returns the normalized value

    def validate(self, path: str, value: Any) -> Any:
        if self.choices is not None:
            # ``True == 1``: compare types too, so 1 is not accepted for True.
            if not any(type(value) is type(c) and value == c for c in self.choices):
                allowed = ", ".join(repr(c) for c in self.choices)
                raise ValueError(f"{path}: {value!r} is not allowed; expected one of {allowed}")
            return value
        if self.check is not None:
            return self.check(path, value)
        return value


def _check_bool(path: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{path}: expected a bool (True or False), got {value!r}")
    return value


def _check_dump_path(path: str, value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, (str, os.PathLike)):
        raise TypeError(
            f"{path}: expected a folder path (str or os.PathLike) or None, got {value!r}"
        )
    text = os.fspath(value)
    if not text:
        raise ValueError(f"{path}: expected a folder path or None, got an empty string")
    if os.path.exists(text) and not os.path.isdir(text):
        raise ValueError(f"{path}: {text!r} exists and is not a folder; dumps go into a folder")
    return text


class _ConfigNode:
    """A node of the config tree: leaf options plus named child nodes.

    Subclasses declare ``_options`` (name -> :class:`_Option`) and
    ``_children`` (name -> node class). Attribute assignment is validated;
    children cannot be replaced, only their fields set.
    """

    _options: ClassVar[dict[str, _Option]] = {}
    _children: ClassVar[dict[str, type[_ConfigNode]]] = {}

    def __init__(self, _path: str = "") -> None:
        object.__setattr__(self, "_path", _path)
        for name, option in self._options.items():
            object.__setattr__(self, name, option.default)
        for name, cls in self._children.items():
            object.__setattr__(self, name, cls(_join(_path, name)))

    # -- validation -------------------------------------------------------

    def __setattr__(self, name: str, value: Any) -> None:
        path = _join(self._path, name)
        if name in self._options:
            object.__setattr__(self, name, self._options[name].validate(path, value))
        elif name in self._children:
            raise AttributeError(
                f"{path} is a group of options and cannot be replaced; set its fields "
                f"instead (known: {', '.join(self._known(self._children[name]))})"
            )
        else:
            raise AttributeError(self._unknown_message(name))

    def __getattr__(self, name: str) -> Any:
        # Only called when normal lookup fails: an unknown name.
        if name.startswith("__") or name == "_path":
            raise AttributeError(name)
        raise AttributeError(self._unknown_message(name))

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"{_join(self._path, name)}: config options cannot be deleted")

    def _unknown_message(self, name: str) -> str:
        known = self._known(type(self))
        hint = difflib.get_close_matches(name, known, n=1)
        where = self._path or type(self).__name__
        msg = f"{where} has no option {name!r}"
        if hint:
            msg += f" (did you mean {hint[0]!r}?)"
        return msg + f"; known: {', '.join(known)}"

    @staticmethod
    def _known(cls: type[_ConfigNode]) -> list[str]:
        return [*cls._options, *cls._children]

    # -- views ------------------------------------------------------------

    def as_dict(self) -> dict[str, Any]:
        """Every option as a nested dict of plain values (JSON-serializable)."""
        out: dict[str, Any] = {}
        for name in self._options:
            out[name] = getattr(self, name)
        for name in self._children:
            out[name] = getattr(self, name).as_dict()
        return out

    def _leaves(self) -> Iterator[tuple[str, Any, Any]]:
        """``(dotted path, value, default)`` for every leaf option."""
        for name, option in self._options.items():
            yield _join(self._path, name), getattr(self, name), option.default
        for name in self._children:
            yield from getattr(self, name)._leaves()

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self.as_dict() == other.as_dict()

    # Configs are mutable; the hash follows the current values (like the
    # fingerprint). Do not mutate a config while it is a dict key.
    def __hash__(self) -> int:
        return hash(self.fingerprint())

    def fingerprint(self) -> str:
        """A stable sha256 hex digest of every option value.

        Stable across processes and Python versions (it hashes canonical
        JSON, not Python's randomized ``hash``). Equal configs have equal
        fingerprints; the compile cache uses it as one input of its key.
        """
        canonical = json.dumps(
            {"schema": _SCHEMA_VERSION, "type": type(self).__name__, "options": self.as_dict()},
            sort_keys=True,
            separators=(",", ":"),
        )
        return hashlib.sha256(canonical.encode()).hexdigest()

    def copy(self) -> _ConfigNode:
        """An independent deep copy."""
        return copy.deepcopy(self)

    def __repr__(self) -> str:
        changed = [
            f"{path[len(self._path) + 1 if self._path else 0 :]}={value!r}"
            for path, value, default in self._leaves()
            if value != default or type(value) is not type(default)
        ]
        return f"{type(self).__name__}({', '.join(changed)})"

    def describe(self) -> str:
        """Every option and its value, one per line; changed ones are marked."""
        lines = []
        for path, value, default in self._leaves():
            mark = "" if value == default else "   # changed"
            lines.append(f"{path} = {value!r}{mark}")
        return "\n".join(lines)


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


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
    """``debug``: debugging aids (TorchAir names)."""

    _children: ClassVar[dict[str, type[_ConfigNode]]] = {"graph_dump": GraphDumpConfig}


class ExperimentalConfig(_ConfigNode):
    """``experimental_config``: experimental options (TorchAir names)."""

    _options: ClassVar[dict[str, _Option]] = {
        "frozen_parameter": _Option(
            False,
            "embed the module's parameters and buffers in the GE graph as Const "
            "ops instead of feeding them as inputs at every call; their values "
            "must not change after compilation",
            check=_check_bool,
        ),
    }


class AirgraphConfig(_ConfigNode):
    """``airgraph_config``: airgraph's own options (no TorchAir equivalent)."""

    _options: ClassVar[dict[str, _Option]] = {
        "target": _Option(
            "auto",
            "where GE graphs run: 'npu' (GE on an Ascend NPU via torch_npu), 'host' "
            "(the CPU host target) or 'auto' (npu when torch_npu and an NPU are "
            "available, else host)",
            choices=("auto", "npu", "host"),
        ),
        "host_mode": _Option(
            "inductor",
            "how the host target runs a GE graph: 'inductor' (compiled) or "
            "'interpret' (op by op: the reference mode)",
            choices=("inductor", "interpret"),
        ),
        "gear_compile": _Option(
            "eager",
            "when the host target compiles gears: 'eager' (all at the first call) "
            "or 'lazy' (each at its first use)",
            choices=("eager", "lazy"),
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

    Attribute names follow TorchAir's ``CompilerConfig`` where TorchAir has
    the feature; airgraph's own options are under ``airgraph_config``.
    Assignments are validated immediately.

    Examples:
        >>> config = CompilerConfig()
        >>> config.inference_config.dynamic_gears_merge_policy = "product"
        >>> config.airgraph_config.target = "host"
        >>> config
        CompilerConfig(inference_config.dynamic_gears_merge_policy='product', airgraph_config.target='host')
        >>> config.debug.graph_dump.type = "svg"
        Traceback (most recent call last):
        ...
        ValueError: debug.graph_dump.type: 'svg' is not allowed; expected one of None, 'txt', 'pbtxt', 'py'

    Raises:
        AttributeError: on setting or reading an unknown option (the message
            lists the known names), or on replacing a group of options.
        ValueError: on a value outside an option's allowed values (listed).
        TypeError: on a value of the wrong type (e.g. a non-bool flag).
    """

    _children: ClassVar[dict[str, type[_ConfigNode]]] = {
        "inference_config": InferenceConfig,
        "debug": DebugConfig,
        "experimental_config": ExperimentalConfig,
        "airgraph_config": AirgraphConfig,
    }

    def __init__(self) -> None:
        super().__init__("")

    def copy(self) -> CompilerConfig:
        """An independent deep copy (the backend keeps one, so later edits do not leak in)."""
        return copy.deepcopy(self)

    def __deepcopy__(self, memo: dict[int, Any]) -> CompilerConfig:
        new = CompilerConfig()
        for path, value, _default in self._leaves():
            node: Any = new
            *parents, leaf = path.split(".")
            for part in parents:
                node = getattr(node, part)
            object.__setattr__(node, leaf, value)
        return new

    @classmethod
    def from_dict(cls, options: dict[str, Any]) -> CompilerConfig:
        """Rebuild a config from :meth:`as_dict` output (or any subset of it).

        Args:
            options: nested dict of option values; missing ones keep their
                defaults.

        Returns:
            A new, validated config.

        Raises:
            TypeError: ``options`` (or a group in it) is not a dict.
            AttributeError, ValueError: as for attribute assignment.
        """
        config = cls()
        _apply(config, options, "options")
        return config


def _apply(node: _ConfigNode, options: Any, where: str) -> None:
    if not isinstance(options, dict):
        raise TypeError(f"{where}: expected a dict of options, got {type(options).__name__}")
    for name, value in options.items():
        if name in node._children:
            _apply(getattr(node, name), value, _join(node._path, name) or where)
        else:
            setattr(node, name, value)
