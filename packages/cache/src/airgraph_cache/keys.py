"""The cache key: everything that can change what a cached compilation computes.

A :class:`CacheKey` is a plain record of the key's inputs; :meth:`CacheKey.digest`
hashes its canonical JSON, and the first 16 hex digits name the entry folder.
Any change of an input gives another digest, so a miss, never a stale hit.
:meth:`CacheKey.diff` names the fields that differ, for the log line on a miss.

What the key covers is listed on :class:`CacheKey`; how sources are
fingerprinted is in :mod:`airgraph_cache.sources`, how inputs and module state
are described in :mod:`airgraph_cache.signature`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.metadata
import os
import platform
import re
import sys
import types
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from airgraph_cache.manifest import canonical_json
from airgraph_cache.signature import describe_inputs, describe_module_state
from airgraph_cache.source_files import SourceReader
from airgraph_cache.sources import (
    class_fingerprints,
    decompositions_fingerprint,
    functions_of,
    helper_fingerprints,
    qualified_name,
    source_fingerprint,
    user_classes,
)

__all__ = [
    "KEY_FORMAT",
    "CacheKey",
    "build_key",
    "variant_key",
    "cann_version",
    "package_versions",
]

#: Version of the key's schema and of the entry format; bumping it misses every old entry.
#: 2: output-view records carry eager's layout of permuted bases (``OutputViews.layouts``);
#: entries of format 1 replayed such views on the target's contiguous result.
KEY_FORMAT = 2

_DISTRIBUTIONS = (
    "airgraph-core",
    "airgraph-gears",
    "airgraph-dynamo",
    "airgraph-cache",
    "torch_npu",
)


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def cann_version() -> str | None:
    """The installed CANN toolkit's version, or None where there is none.

    Looks in ``$ASCEND_TOOLKIT_HOME``, ``$ASCEND_HOME_PATH`` and
    ``/usr/local/Ascend/ascend-toolkit/latest`` for ``version.cfg`` or
    ``*/version.info`` and returns the first ``version=`` value found.
    """
    roots = [os.environ.get("ASCEND_TOOLKIT_HOME"), os.environ.get("ASCEND_HOME_PATH")]
    roots.append("/usr/local/Ascend/ascend-toolkit/latest")
    pattern = re.compile(r"^\s*(?:toolkit_installed_)?version\s*=\s*\[?([^\]\s:]+)", re.I | re.M)
    for root in filter(None, roots):
        for name in ("version.cfg", "compiler/version.info", "runtime/version.info"):
            try:
                with open(os.path.join(root, name), encoding="utf-8", errors="replace") as handle:
                    match = pattern.search(handle.read(65536))
            except OSError:
                continue
            if match:
                return match.group(1)
    return None


def package_versions() -> dict[str, str | None]:
    """Versions that change what a compilation produces: Python, torch, airgraph, CANN.

    Returns:
        ``{"python", "torch", "airgraph-core", "airgraph-gears",
        "airgraph-dynamo", "airgraph-cache", "torch_npu", "cann"}``; None
        for what is not installed.
    """
    import torch

    versions: dict[str, str | None] = {
        "python": ".".join(map(str, sys.version_info[:3])),
        # A plain str: torch's TorchVersion would not compare equal after a JSON round trip.
        "torch": str(torch.__version__),
    }
    for dist in _DISTRIBUTIONS:
        try:
            versions[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            versions[dist] = None
    versions["cann"] = cann_version()
    return versions


# -- the key ------------------------------------------------------------------------------


def _entry_part(text: str) -> str:
    # Folder-safe, and never hidden: "." and "-" cannot survive.
    return re.sub(r"[^A-Za-z0-9_]", "_", text)[:64] or "x"


@dataclasses.dataclass(frozen=True)
class CacheKey:
    """The inputs of a cache key. Equal keys share an entry; any difference is a miss.

    All fields are JSON-able; :meth:`as_dict` is what the manifest records and
    :meth:`from_dict` reads it back. Build one with :func:`build_key`.

    Attributes:
        model_class: the module's class, ``<module>.<qualname>``.
        method: the cached method's name.
        sources: sha256 of the method, its module's user classes, submodule
            classes and one level of helper globals (see the module docstring),
            keyed by qualified name.
        config: the ``CompilerConfig`` fingerprint.
        inputs: :func:`describe_inputs` of the first call.
        module_state: :func:`describe_module_state` of the module.
        decompositions: :func:`decompositions_fingerprint` of the user's table.
        dynamic: traced with dynamic shapes.
        ge_cache: the backend's compiled artifacts are cached too.
        versions: :func:`package_versions`.
        device: the target's device kind (``"cpu"``, ``"npu"``).
        threads: ``torch.get_num_threads()``.
        host: machine architecture and torch's CPU capability (ISA) level.
        distributed: ``torch.distributed``'s world size and backend
            (:func:`airgraph_core.process_groups.distributed_layout`); ``{}``
            outside a distributed run. Another world size is another entry.
        format: :data:`KEY_FORMAT`.
        variant: ``""`` for the key :func:`build_key` makes; for a variant
            (:func:`variant_key`), a digest of the parent key and of the outcomes
            of the parent's guard checks that sent the call elsewhere.
    """

    model_class: str
    method: str
    sources: dict[str, str]
    config: str
    inputs: list[dict[str, Any]]
    module_state: dict[str, Any]
    decompositions: str
    dynamic: bool
    ge_cache: bool
    versions: dict[str, str | None]
    device: str
    threads: int
    host: dict[str, str]
    distributed: dict[str, Any] = dataclasses.field(default_factory=dict)
    format: int = KEY_FORMAT
    variant: str = ""

    def as_dict(self) -> dict[str, Any]:
        """The key's inputs as JSON-able data (a deep copy)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CacheKey:
        """Rebuild a key from :meth:`as_dict` output (e.g. a manifest's ``key``).

        Raises:
            TypeError: ``data`` is not a mapping.
            ValueError: ``data`` lacks fields of the key or has unknown ones.
        """
        if not isinstance(data, Mapping):
            raise TypeError(f"data: expected a mapping, got {type(data).__name__}")
        names = {f.name for f in dataclasses.fields(cls)}
        missing = sorted(names - set(data) - {"format", "variant", "distributed"})
        unknown = sorted(set(data) - names)
        if missing or unknown:
            raise ValueError(f"data: not a cache key (missing {missing}, unknown {unknown})")
        return cls(**data)

    def canonical(self) -> str:
        """The canonical JSON that :meth:`digest` hashes."""
        return canonical_json(self.as_dict())

    def digest(self) -> str:
        """sha256 hex digest of the key's canonical JSON; stable across processes."""
        return _sha256(self.canonical())

    def entry_name(self) -> str:
        """Entry folder name: ``<ModelClass>_<method>_<first 16 hex of the digest>``."""
        cls_name = self.model_class.rpartition(".")[2]
        return f"{_entry_part(cls_name)}_{_entry_part(self.method)}_{self.digest()[:16]}"

    def diff(self, other: CacheKey) -> list[str]:
        """Paths of the key inputs that differ from ``other``, for a log line on a miss.

        Args:
            other: another key (e.g. rebuilt from a neighbouring entry's manifest).

        Returns:
            Dotted paths such as ``"config"``, ``"versions.torch"``,
            ``"inputs[0].dtype"``, ``"sources.mymodel.rotate_half"``; empty when
            the keys are equal.

        Raises:
            TypeError: ``other`` is not a CacheKey.
        """
        if not isinstance(other, CacheKey):
            raise TypeError(f"other: expected a CacheKey, got {type(other).__name__}")
        found: list[str] = []
        _diff(self.as_dict(), other.as_dict(), "", found)
        return found


def _diff(a: Any, b: Any, path: str, found: list[str]) -> None:
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b), key=str):
            sub = f"{path}.{k}" if path else str(k)
            if k not in a or k not in b:
                found.append(sub)
            else:
                _diff(a[k], b[k], sub, found)
    elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b)):
            _diff(x, y, f"{path}[{i}]", found)
    elif a != b or type(a) is not type(b):
        found.append(path)


def build_key(
    method: Callable[..., Any],
    args: Sequence[Any],
    kwargs: Mapping[str, Any] | None = None,
    *,
    config_fingerprint: str,
    dynamic: bool = True,
    ge_cache: bool = False,
    decompositions: Mapping[Any, Callable[..., Any]] | None = None,
    device: str = "cpu",
) -> CacheKey:
    """The cache key of calling a bound module method with these inputs.

    Args:
        method: a bound method of an ``nn.Module`` instance, e.g. ``model._forward``.
        args: the first call's positional arguments.
        kwargs: its keyword arguments.
        config_fingerprint: ``CompilerConfig.fingerprint()``.
        dynamic: traced with dynamic shapes.
        ge_cache: the backend's compiled artifacts are cached too.
        decompositions: the user's ``custom_decompositions``.
        device: the target's device kind.

    Returns:
        The :class:`CacheKey`.

    Raises:
        TypeError: ``method`` is not a bound method of a module, or another
            argument has the wrong type (see :func:`describe_inputs`).

    Examples:
        >>> key = build_key(model._forward, (x, y), config_fingerprint="")  # doctest: +SKIP
        >>> key.entry_name()                                                 # doctest: +SKIP
        'Model__forward_3f2a9c...'
    """
    import torch

    from airgraph_core.process_groups import distributed_layout

    owner = getattr(method, "__self__", None)
    if not isinstance(method, types.MethodType) or not isinstance(owner, torch.nn.Module):
        raise TypeError(
            f"method: expected a bound method of an nn.Module instance (e.g. model._forward), "
            f"got {method!r}"
        )
    if not isinstance(config_fingerprint, str):
        raise TypeError(
            f"config_fingerprint: expected a str, got {type(config_fingerprint).__name__}"
        )
    if not isinstance(ge_cache, bool):
        raise TypeError(f"ge_cache: expected a bool, got {type(ge_cache).__name__}")
    if not isinstance(device, str) or not device:
        raise TypeError(f"device: expected a device kind such as 'cpu', got {device!r}")

    classes: list[type] = []
    for sub in owner.modules():
        for cls in user_classes(type(sub)):
            if cls not in classes:
                classes.append(cls)
    functions = [method.__func__] + [fn for cls in classes for fn in functions_of(cls)]
    reader = SourceReader()  # each source file read and hashed once for this key
    sources = source_fingerprint(method, reader)
    sources.update(class_fingerprints(classes, reader))
    sources.update(helper_fingerprints(functions, reader))

    return CacheKey(
        model_class=qualified_name(type(owner)),
        method=method.__name__,
        sources=dict(sorted(sources.items())),
        config=config_fingerprint,
        inputs=describe_inputs(args, kwargs, dynamic=dynamic),
        module_state=describe_module_state(owner),
        decompositions=decompositions_fingerprint(decompositions),
        dynamic=dynamic,
        ge_cache=ge_cache,
        versions=package_versions(),
        device=device,
        threads=torch.get_num_threads(),
        host={
            "machine": platform.machine(),
            "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        },
        distributed=distributed_layout(),
    )


def variant_key(parent: CacheKey, facts: Sequence[Any]) -> CacheKey:
    """The key of the entry serving a situation ``parent``'s guard checks rejected.

    Every process that sees the same outcomes of the parent's checks derives
    the same variant, so a variant compiled once is loaded by later starts.

    Args:
        parent: the key of the program whose checks failed.
        facts: the outcome of each of its checks (True, False, or None when a
            check could not be evaluated).

    Returns:
        ``parent`` with :attr:`CacheKey.variant` set.
    """
    text = parent.digest() + canonical_json([f if f is None else bool(f) for f in facts])
    return dataclasses.replace(parent, variant=_sha256(text)[:32])
