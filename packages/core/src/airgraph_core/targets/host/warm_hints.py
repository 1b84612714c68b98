"""Warm-start hints: load a host specialization from Inductor's FX graph cache by its key.

A host specialization compiled into a :class:`~airgraph_core.targets.host.inductor.DirectCall`
is one graph in Inductor's FX graph cache. Finding it again the usual way
(``compile_fx``) costs the AOTAutograd trace, Inductor's graph passes and
the key computation, only to end in a cache hit. A :class:`WarmHint`
records, at the compile, the FX graph cache key of that graph and what made
it: a digest of the host FX graph and of its inputs' metadata (constants
first, as the direct call passes them), and a digest of everything else
that enters the trace or the key (torch's version, Inductor's and
functorch's configs, threads, the host target's own source). Another process
that builds the same host graph under the same settings would compute the
same key, so it loads the graph by that key directly.

A hint is checked, never trusted: any digest that differs, an Inductor
entry that is gone (another ``TORCHINDUCTOR_CACHE_DIR``, a cleared cache) or
any error while loading falls back to the full compile, which may then hit
Inductor's cache the usual way. A hint costs speed only, never a result.
"""

from __future__ import annotations

import ctypes
import dataclasses
import enum
import functools
import hashlib
import json
import logging
import os
import threading
import types
from collections.abc import Sequence
from typing import Any

import torch
from torch.fx import GraphModule

from airgraph_core import _torch_compat
from airgraph_core.targets.host.inductor import COMPILE_LOCK, DirectCall, compile_inductor

__all__ = [
    "WarmHint",
    "compile_hinted",
    "OPAQUE",
    "graph_digest",
    "graph_text",
    "settings_digest",
    "start_isa_probe",
    "tensor_text",
    "value_text",
    "vector_isa",
]

log = logging.getLogger("airgraph.core")

#: Counts of what :func:`compile_hinted` did in this process: ``loaded`` (from a
#: hint), ``compiled`` (full compile). Tests read it; nothing else does.
COUNTS = {"loaded": 0, "compiled": 0}


@dataclasses.dataclass(frozen=True)
class WarmHint:
    """Where a specialization's compiled graph is in Inductor's FX graph cache.

    Attributes:
        fx_key: Inductor's FX graph cache key of the compiled graph.
        graph: :func:`graph_digest` of the host graph and its inputs.
        settings: :func:`settings_digest` at the compile.
    """

    fx_key: str
    graph: str
    settings: str

    def to_json(self) -> dict[str, str]:
        """The hint as JSON-able data."""
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: Any) -> WarmHint:
        """Inverse of :meth:`to_json`.

        Raises:
            ValueError: ``data`` is not a hint.
        """
        fields = ("fx_key", "graph", "settings")
        if not isinstance(data, dict) or not all(isinstance(data.get(f), str) for f in fields):
            raise ValueError(f"data: expected a dict of strings {fields}, got {data!r:.200}")
        return cls(*(data[f] for f in fields))


_probe: threading.Thread | None = None
_probe_lock = threading.Lock()


def start_isa_probe(import_first: bool = False) -> None:
    """Start Inductor's check of the CPU's vector ISA in a thread, once per process.

    Loading or compiling a graph starts with that check, which waits on child
    processes (seconds of compiler runs); started when hints are loaded, or
    before a cold trace, it overlaps the first call's tracing, specialization
    and imports. :func:`compile_hinted` waits for it.

    Args:
        import_first: import the modules the check uses in this thread first,
            for a caller that goes on importing Dynamo and Inductor.
    """
    global _probe
    with _probe_lock:
        if _probe is None:
            if import_first:
                _torch_compat.import_vec_isa_check()
            _probe = threading.Thread(target=_run_probe, name="airgraph-isa-probe", daemon=True)
            _probe.start()


def _wait_for_probe() -> None:
    # One check at a time: Inductor's memo of its result is not locked.
    if _probe is not None:
        _probe.join()


def vector_isa() -> str:
    """The CPU's vector ISA as Inductor picks it, once the early check (if started) is done:
    two checks at once would each run the compiler probes."""
    _wait_for_probe()
    return _torch_compat.probe_cpu_vec_isa()


def _run_probe() -> None:
    try:
        _torch_compat.probe_cpu_vec_isa()
    except Exception as e:  # Inductor runs the check itself when it loads the graph
        log.debug("host: early vector ISA check failed: %s: %s", type(e).__name__, e)


def compile_hinted(
    hints: dict[tuple, WarmHint], signature: tuple, gm: GraphModule, tensors: Sequence[torch.Tensor]
) -> Any:
    """:func:`compile_inductor` for ``gm``, loaded by ``hints[signature]`` when it holds.

    ``hints[signature]`` is then replaced by the hint of what was compiled
    or loaded, or removed when there is none (the graph keeps AOTAutograd's
    wrapper, or Inductor did not cache it).
    """
    hint = hints.pop(signature, None)
    try:
        graph = graph_digest(gm, tensors)  # before compile_fx, which may rewrite gm
        settings = settings_digest()
    except Exception as e:  # a hint costs speed only: no digests, no hint
        log.debug("host: no warm hint for %s: %s: %s", gm.__class__.__name__, type(e).__name__, e)
        graph = settings = ""
    usable = hint is not None and graph != ""
    compiled = _load(hint, graph, settings, gm, tensors) if usable else None
    if compiled is None:
        _wait_for_probe()
        compiled = compile_inductor(gm, tensors)
        COUNTS["compiled"] += 1
    if isinstance(compiled, DirectCall) and graph:
        key = _torch_compat.fx_graph_cache_key(compiled.graph)
        if key is not None:
            hints[signature] = WarmHint(key, graph, settings)
    return compiled


def _load(
    hint: WarmHint, graph: str, settings: str, gm: GraphModule, tensors: Sequence[torch.Tensor]
) -> DirectCall | None:
    """The direct call of the graph ``hint`` names, or None (logged) where it does not hold."""
    name = gm.__class__.__name__
    if hint.graph != graph:
        log.debug("host: warm hint of %s not used: the host graph differs", name)
        return None
    if _torch_compat.autocast_enabled():  # compiled under autocast, it keeps the wrapper
        log.debug("host: warm hint of %s not used: autocast is on", name)
        return None
    if hint.settings != settings:
        differing = ", ".join(_differing(hint.settings, settings))
        log.debug("host: warm hint of %s not used: settings differ (%s)", name, differing)
        return None
    constants = [t for _, t in gm.named_parameters(remove_duplicate=False)]
    constants += [t for _, t in gm.named_buffers(remove_duplicate=False)]
    try:
        with COMPILE_LOCK:  # its imports run while the ISA check waits on its children
            compiled = _torch_compat.load_fx_graph(
                hint.fx_key, [*constants, *tensors], before=_wait_for_probe
            )
    except Exception as e:  # a torch that loads otherwise, a torn entry: compile instead
        log.debug("host: warm hint of %s not used: %s: %s", name, type(e).__name__, e)
        return None
    if compiled is None:
        log.debug("host: warm hint of %s not used: Inductor has no entry %s", name, hint.fx_key)
        return None
    COUNTS["loaded"] += 1
    log.debug("host: %s loaded from Inductor's FX graph cache (%s)", name, hint.fx_key)
    return DirectCall(compiled, constants)


def graph_digest(gm: GraphModule, tensors: Sequence[torch.Tensor]) -> str:
    """A digest of :func:`graph_text`; one of this process only (matching no hint of
    another) when that text holds a value it cannot show (:data:`OPAQUE`)."""
    text = graph_text(gm, tensors)
    if OPAQUE in text:
        text += f"\nprocess {_PROCESS_NONCE}"
    return _sha256(text)


#: Makes the digest of a graph with values it cannot show unique to this process.
_PROCESS_NONCE = os.urandom(16).hex()


def graph_text(gm: GraphModule, tensors: Sequence[torch.Tensor]) -> str:
    """What the host graph ``gm`` hands AOTAutograd, as text: its code, the values its calls
    close over (folded shapes, attributes), and the metadata of its constants and
    ``tensors`` (the compiled graph's inputs, in order)."""
    parts: list[Any] = [gm.code]
    for node in gm.graph.nodes:
        if node.op == "call_function":
            parts.append([node.name, _closure_text(node.target)])
    inputs = [t for _, t in gm.named_parameters(remove_duplicate=False)]
    inputs += [t for _, t in gm.named_buffers(remove_duplicate=False)]
    for t in [*inputs, *tensors]:
        parts.append([str(t.dtype), list(t.shape), list(t.stride()), t.storage_offset()])
        parts.append(t.device.type)
    return repr(parts)


def _closure_text(fn: Any) -> str:
    """The values ``fn`` closes over (see :func:`value_text`)."""
    values = _cell_texts(fn, 0)
    return f"{getattr(fn, '__qualname__', type(fn).__qualname__)}{values}"


#: In :func:`value_text`: a value whose text does not show all of it (an object, a tensor
#: without readable data); a digest over it must not be trusted to tell graphs apart.
OPAQUE = "without stable text"


def value_text(value: Any, depth: int = 0) -> str:
    """``value`` as text for a digest: plain values by ``repr``, an enum member by name, a
    tensor by its metadata and the sha256 of its bytes (``repr`` elides the middle of a
    large one), sequences, sets, dicts and dataclasses item by item, a function by its
    name and what it closes over. Anything else (or nested too deep) is its class name
    with :data:`OPAQUE`."""
    if depth > 8:
        return f"<nested {OPAQUE}>"
    if isinstance(value, torch.Tensor):
        return tensor_text(value)
    if isinstance(value, enum.Enum):
        return f"{type(value).__qualname__}.{value.name}"
    if isinstance(value, (int, float, bool, str, bytes, type(None), torch.dtype)):
        return repr(value)
    if isinstance(value, (torch.device, torch.layout, torch.memory_format)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return f"{type(value).__name__}[{','.join(value_text(v, depth + 1) for v in value)}]"
    if isinstance(value, (set, frozenset)):
        return (
            f"{type(value).__name__}[{','.join(sorted(value_text(v, depth + 1) for v in value))}]"
        )
    if isinstance(value, dict):
        items = [f"{value_text(k, depth + 1)}:{value_text(v, depth + 1)}" for k, v in value.items()]
        return f"{{{','.join(items)}}}"
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = [value_text(getattr(value, f.name), depth + 1) for f in dataclasses.fields(value)]
        return f"{type(value).__qualname__}({','.join(fields)})"
    if isinstance(value, types.FunctionType):
        return f"{value.__module__}.{value.__qualname__}{_cell_texts(value, depth + 1)}"
    if isinstance(value, types.BuiltinFunctionType):
        return f"{value.__module__}.{value.__qualname__}"
    return f"<{type(value).__qualname__} {OPAQUE}>"


def _cell_texts(fn: Any, depth: int) -> list[str]:
    texts = []
    for cell in getattr(fn, "__closure__", None) or ():
        try:
            texts.append(value_text(cell.cell_contents, depth))
        except ValueError:  # a cell not yet assigned
            texts.append("<empty cell>")
    return texts


def tensor_text(tensor: torch.Tensor) -> str:
    """A tensor's dtype, shape, strides, offset, device and the sha256 of its values (with
    a quantized tensor's parameters); :data:`OPAQUE` for one whose bytes are not plainly
    readable (meta, fake, sparse, nested, a subclass), never an error."""
    try:
        t = tensor.detach()
        meta = f"{t.dtype}{list(t.shape)}{list(t.stride())}+{t.storage_offset()}@{t.device}"
    except Exception:  # no strides (sparse, nested), no sizes
        return f"tensor {type(tensor).__qualname__} {OPAQUE}"
    try:
        if type(t) not in (torch.Tensor, torch.nn.Parameter) or t.layout != torch.strided:
            return f"tensor {meta} {OPAQUE}"
        quantized = ""
        if t.is_quantized:
            quantized = _quantizer_text(t)
            t = t.int_repr()
        dense = t.cpu().resolve_conj().resolve_neg().contiguous()
        size = dense.numel() * dense.element_size()
        held = dense.untyped_storage().nbytes() - dense.storage_offset() * dense.element_size()
        if size and (not dense.data_ptr() or held < size):  # no data, or storage freed
            return f"tensor {meta} {OPAQUE}"
        data = (ctypes.c_char * size).from_address(dense.data_ptr()) if size else b""
        digest = hashlib.sha256(data).hexdigest()  # no numpy: it is not a dependency
    except Exception:  # no data (meta), a layout or dtype without bytes to read
        return f"tensor {meta} {OPAQUE}"
    return f"tensor {meta}{quantized} {digest}"


def _quantizer_text(t: torch.Tensor) -> str:
    scheme = t.qscheme()
    if scheme in (torch.per_tensor_affine, torch.per_tensor_symmetric):
        return f" {scheme} {t.q_scale()!r} {t.q_zero_point()}"
    scales, zeros = t.q_per_channel_scales(), t.q_per_channel_zero_points()
    return f" {scheme} axis {t.q_per_channel_axis()} {tensor_text(scales)} {tensor_text(zeros)}"


def settings_digest() -> str:
    """A digest of what else enters the trace or Inductor's key (see :mod:`warm_hints`):
    ``"<group>:<16 hex>,..."`` per group of settings, so a mismatch can name its groups."""
    settings: dict[str, Any] = _torch_compat.inductor_settings()
    mm, determinism = torch.backends.cuda.matmul, torch.utils.deterministic
    state = [str(torch.__version__), torch.get_num_threads(), torch.get_default_dtype()]
    state += [torch.are_deterministic_algorithms_enabled(), determinism.fill_uninitialized_memory]
    state += [torch.is_deterministic_algorithms_warn_only_enabled(), mm.fp32_precision]
    state += [mm.allow_fp16_reduced_precision_reduction, mm.allow_bf16_reduced_precision_reduction]
    settings["state"] = repr(state)  # as Inductor's key has them
    settings["airgraph_core"] = _source_digest()
    return ",".join(f"{k}:{_sha256(json.dumps(settings[k]))[:16]}" for k in sorted(settings))


def _differing(recorded: str, current: str) -> list[str]:
    """The groups of settings whose digests differ (see :func:`settings_digest`)."""
    old, new = (dict(p.partition(":")[::2] for p in d.split(",")) for d in (recorded, current))
    return sorted(k for k in old.keys() | new.keys() if old.get(k) != new.get(k))


#: The parts of airgraph_core (relative to its folder) that make a host graph and its
#: trace: the host target and what it imports from the rest of the package.
HOST_SOURCES = (
    "targets/host",
    "ir",
    "_torch_compat.py",
    "input_updates.py",
    "process_groups.py",
    "targets/base.py",
)


@functools.cache
def _source_digest() -> str:
    """A digest of :data:`HOST_SOURCES`: the host semantics and the graph they emit."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    paths: list[str] = []
    for part in HOST_SOURCES:
        top = os.path.join(root, part)
        if os.path.isfile(top):
            paths.append(top)
        for folder, dirs, files in os.walk(top):
            dirs[:] = [d for d in dirs if d != "__pycache__"]
            paths += [os.path.join(folder, f) for f in files if f.endswith(".py")]
    h = hashlib.sha256()
    for path in sorted(paths):
        h.update(os.path.relpath(path, root).encode())
        with open(path, "rb") as handle:
            h.update(handle.read())
    return h.hexdigest()


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
