"""The machinery of ``CompilerConfig``: leaf options, value checks, errors, option values.

A config is a tree of :class:`ConfigNode` groups. Each group declares its
leaf options as :class:`Option` entries (default, allowed values or a check,
whether airgraph acts on it) and its child groups by class. This module holds
that machinery and the common checks; the groups themselves
are declared in :mod:`airgraph_dynamo.config` and :mod:`airgraph_dynamo.ge_groups`
(which also holds the checks of TorchAir's value kinds: paths, ranges, patterns).

Errors follow TorchAir, which raises ``ValueError`` for an unknown option or a
bad value, while staying catchable as the class airgraph raised before:

- :class:`UnknownOptionError` is a ``ValueError`` and an ``AttributeError``;
- :class:`OptionTypeError` is a ``ValueError`` and a ``TypeError``;
- :class:`OptionPathError` is a ``FileNotFoundError`` (TorchAir's class for a
  missing file or folder) and a ``ValueError``;
- :class:`OptionNotADirectoryError` is a ``NotADirectoryError`` (what
  TorchAir raises when a dump folder is a file) and a ``ValueError``.

Reading an option gives its value. A ``str`` or ``int`` value comes back as
an :class:`OptionStr` / :class:`OptionInt`: equal to, and usable as, the plain
value, with TorchAir's ``.value`` (a string), ``.default`` and ``.optional``
as well. ``True``, ``False`` and ``None`` come back as themselves: Python's
singletons cannot carry attributes, so ``.value`` is not available on them.
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
    "ConfigNode",
    "Option",
    "OptionInt",
    "OptionNotADirectoryError",
    "OptionPathError",
    "OptionStr",
    "OptionTypeError",
    "UnknownOptionError",
]

#: Bumped when the meaning of an option changes, so fingerprints change too.
_SCHEMA_VERSION = 1

INT64_MAX = 2**63 - 1


class UnknownOptionError(ValueError, AttributeError):
    """An option name the group does not have (TorchAir: ``ValueError``), or a group replaced."""


class OptionTypeError(ValueError, TypeError):
    """A value of the wrong type (TorchAir: ``ValueError``; airgraph raised ``TypeError``)."""


class OptionPathError(FileNotFoundError, ValueError):
    """A file or folder option naming something that does not exist (TorchAir: ``FileNotFoundError``)."""


class OptionNotADirectoryError(NotADirectoryError, ValueError):
    """A folder option naming a file (TorchAir: ``NotADirectoryError``, when it writes there)."""


# -- option values ------------------------------------------------------------------------


class OptionStr(str):
    """A ``str`` option value that also answers TorchAir's ``.value``, ``.default``, ``.optional``."""

    def __new__(cls, text: str, option: Option | None = None) -> OptionStr:
        self = super().__new__(cls, text)
        self._option = option
        return self

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (str(self), self._option))

    @property
    def value(self) -> str:
        """TorchAir's string form of the value: the string itself."""
        return str(self)

    @property
    def default(self) -> Any:
        """The option's default value."""
        return self._option.default if self._option else None

    @property
    def optional(self) -> list[Any] | None:
        """The allowed values, or ``None`` where any value of the right kind is allowed."""
        return _optional(self._option)


class OptionInt(int):
    """An ``int`` option value whose ``.value`` is TorchAir's string form (``"64"``)."""

    def __new__(cls, number: int, option: Option | None = None) -> OptionInt:
        self = super().__new__(cls, number)
        self._option = option
        return self

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (int(self), self._option))

    def __repr__(self) -> str:
        return int.__repr__(self)

    @property
    def value(self) -> str:
        """TorchAir's string form of the value, e.g. ``"0"``."""
        return str(int(self))

    @property
    def default(self) -> Any:
        """The option's default value."""
        return self._option.default if self._option else None

    @property
    def optional(self) -> list[Any] | None:
        """The allowed values, or ``None`` where any value in the range is allowed."""
        return _optional(self._option)


def _optional(option: Option | None) -> list[Any] | None:
    if option is None or option.choices is None:
        return None
    return list(option.choices)


def plain(value: Any) -> Any:
    """The plain ``str`` / ``int`` behind an option value (other values unchanged)."""
    if isinstance(value, OptionStr):
        return str(value)
    if isinstance(value, OptionInt):
        return int(value)
    return value


def _wrap(value: Any, option: Option) -> Any:
    if type(value) is str:
        return OptionStr(value, option)
    if type(value) is int:
        return OptionInt(value, option)
    return value


def ge_text(value: Any) -> str | None:
    """TorchAir's string form of a value: ``"1"``/``"0"`` for bools, ``str()`` otherwise."""
    value = plain(value)
    if value is None:
        return None
    if value is True:
        return "1"
    if value is False:
        return "0"
    return str(value)


# -- leaf options -------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Option:
    """One leaf option: its default, how a value is checked, what it means.

    Attributes:
        default: the value of a new config.
        doc: what the option does, in the user's terms.
        choices: the allowed values (compared by type too: ``1`` is not ``True``),
            or ``None`` when ``check`` decides.
        check: ``check(path, value)`` returns the normalized value or raises.
        acted: ``False`` for options airgraph accepts and stores but does not
            act on yet (TorchAir options for GE/NPU features).
    """

    default: Any
    doc: str
    choices: tuple[Any, ...] | None = None
    check: Callable[[str, Any], Any] | None = None
    acted: bool = True

    def validate(self, path: str, value: Any) -> Any:
        """The value to store for ``value``, or an error naming ``path``."""
        value = plain(value)
        if self.choices is not None:
            if not any(type(value) is type(c) and value == c for c in self.choices):
                allowed = ", ".join(repr(c) for c in self.choices)
                raise ValueError(
                    f"{path}: {value!r} is not allowed; expected one of {allowed} "
                    f"(TorchAir: Value {value!r} (type: {type(value)}) not in optional list "
                    f"{list(self.choices)!r})"
                )
            return value
        if self.check is not None:
            return self.check(path, value)
        return value


def check_bool(path: str, value: Any) -> bool:
    """``value`` if it is ``True`` or ``False``."""
    if not isinstance(value, bool):
        raise OptionTypeError(f"{path}: expected a bool (True or False), got {value!r}")
    return value


def check_dump_path(path: str, value: Any) -> str | None:
    """A folder for dumps (created when needed), or ``None`` for the working directory."""
    if value is None:
        return None
    if not isinstance(value, (str, os.PathLike)):
        raise OptionTypeError(
            f"{path}: expected a folder path (str or os.PathLike) or None, got {value!r}"
        )
    text = os.fspath(value)
    if not text:
        raise ValueError(f"{path}: expected a folder path or None, got an empty string")
    if os.path.exists(text) and not os.path.isdir(text):
        raise OptionNotADirectoryError(
            f"{path}: {text!r} exists and is not a folder; dumps go into a folder"
        )
    return text


# -- groups -------------------------------------------------------------------------------


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


class ConfigNode:
    """A group of the config tree: leaf options plus named child groups.

    Subclasses declare ``_options`` (name -> :class:`Option`) and
    ``_children`` (name -> group class). Assignments are validated; groups
    cannot be replaced, only their fields set. Subclasses add TorchAir's
    GE options by overriding :meth:`_ge_options`.
    """

    _options: ClassVar[dict[str, Option]] = {}
    _children: ClassVar[dict[str, type[ConfigNode]]] = {}

    def __init__(self, _path: str = "") -> None:
        object.__setattr__(self, "_path", _path)
        for name, option in self._options.items():
            object.__setattr__(self, name, _wrap(option.default, option))
        for name, cls in self._children.items():
            object.__setattr__(self, name, cls(_join(_path, name)))

    def _store(self, name: str, value: Any) -> None:
        """Set an already validated value (copies), wrapped as a read returns it."""
        object.__setattr__(self, name, _wrap(value, self._options[name]))

    # -- validation -----------------------------------------------------------------------

    def __setattr__(self, name: str, value: Any) -> None:
        path = _join(self._path, name)
        if name in self._options:
            option = self._options[name]
            object.__setattr__(self, name, _wrap(option.validate(path, value), option))
        elif name in self._children:
            raise UnknownOptionError(
                f"{path} is a group of options and cannot be replaced; set its fields "
                f"instead (known: {', '.join(self._known(self._children[name]))})"
            )
        else:
            raise UnknownOptionError(self._unknown_message(name))

    def __getattr__(self, name: str) -> Any:
        # Only called when normal lookup fails: an unknown name.
        if name.startswith("__") or name == "_path":
            raise AttributeError(name)
        raise UnknownOptionError(self._unknown_message(name))

    def __delattr__(self, name: str) -> None:
        raise UnknownOptionError(f"{_join(self._path, name)}: config options cannot be deleted")

    def _unknown_message(self, name: str) -> str:
        known = self._known(type(self))
        hint = difflib.get_close_matches(name, known, n=1)
        where = self._path or type(self).__name__
        msg = f"{where} has no option {name!r}"
        if hint:
            msg += f" (did you mean {hint[0]!r}?)"
        return msg + f"; known: {', '.join(known)}"

    @staticmethod
    def _known(cls: type[ConfigNode]) -> list[str]:
        return [*cls._children, *cls._options]

    # -- views ----------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """The options as a nested dict of plain values.

        Options airgraph acts on are always listed; accepted-only options only
        where they differ from their default (so adding TorchAir options left
        the dict, and the fingerprint, of existing configs unchanged).

        Returns:
            ``{option: value, group: {...}}``; groups with nothing to list are
            left out unless they hold acted-on options.
        """
        out: dict[str, Any] = {}
        for name, option in self._options.items():
            value = plain(getattr(self, name))
            if option.acted or value != option.default or type(value) is not type(option.default):
                out[name] = value
        for name in self._children:
            child = getattr(self, name).to_dict()
            if child or getattr(self, name)._has_acted():
                out[name] = child
        return out

    @classmethod
    def _has_acted(cls) -> bool:
        return any(o.acted for o in cls._options.values()) or any(
            c._has_acted() for c in cls._children.values()
        )

    def as_dict(self) -> GeOptionDicts:
        """TorchAir's GE options of this group: ``(local_options, global_options)``.

        The result also indexes by group or option name like :meth:`to_dict`
        (``config.as_dict()["debug"]``), the form airgraph returned before.
        """
        local, global_ = self._ge_options("max-autotune")
        return GeOptionDicts(local, global_, self.to_dict())

    def _ge_options(self, mode: str) -> tuple[dict[str, Any], dict[str, Any]]:
        """This group's ``(local, global)`` GE options for TorchAir's ``mode``."""
        local: dict[str, Any] = {}
        global_: dict[str, Any] = {}
        for name in self._children:
            child_local, child_global = getattr(self, name)._ge_options(mode)
            local.update(child_local)
            global_.update(child_global)
        return local, global_

    def _leaves(self) -> Iterator[tuple[str, Any, Any]]:
        """``(dotted path, plain value, default)`` for every leaf option."""
        for name, option in self._options.items():
            yield _join(self._path, name), plain(getattr(self, name)), option.default
        for name in self._children:
            yield from getattr(self, name)._leaves()

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    # Configs are mutable; the hash follows the current values (like the
    # fingerprint). Do not mutate a config while it is a dict key.
    def __hash__(self) -> int:
        return hash(self.fingerprint())

    def fingerprint(self) -> str:
        """A stable sha256 hex digest of every option value.

        Stable across processes and Python versions (it hashes canonical
        JSON, not Python's randomized ``hash``). Equal configs have equal
        fingerprints; the compile cache uses it as one input of its key.
        Callables (custom passes) count by their module and qualified name.
        """
        canonical = json.dumps(
            {"schema": _SCHEMA_VERSION, "type": type(self).__name__, "options": self.to_dict()},
            sort_keys=True,
            separators=(",", ":"),
            default=_describe_object,
        )
        return hashlib.sha256(canonical.encode()).hexdigest()

    def copy(self) -> ConfigNode:
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


def _describe_object(value: Any) -> str:
    name = getattr(value, "__qualname__", type(value).__qualname__)
    return f"<{getattr(value, '__module__', '?')}.{name}>"


class GeOptionDicts(tuple):
    """``(local_options, global_options)`` as TorchAir's ``as_dict()`` returns them.

    Unpacks and indexes by position like TorchAir's tuple; indexing by a
    group or option name reads the nested :meth:`ConfigNode.to_dict` view.
    """

    def __new__(
        cls, local: dict[str, Any], global_: dict[str, Any], tree: dict[str, Any]
    ) -> GeOptionDicts:
        self = super().__new__(cls, (local, global_))
        self.tree = tree
        return self

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            return self.tree[key]
        return super().__getitem__(key)
