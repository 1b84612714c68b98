"""Self-contained host artifacts: a specialization as an AOTInductor package.

A package holds the compiled kernels of one specialization (one input
signature) as a shared library plus its weights-free metadata. Loading one
goes through torch's C++ loader only: no Dynamo, no Inductor import, no C++
compile and no probing of the CPU's vector ISA, so a warm start in a fresh
cache folder compiles nothing.

Inside :func:`compile_as_packages` (a cold ``cache_compile`` with ``ge_cache``)
a new specialization is compiled *as* its package: the package is loaded and
serves the calls, and :func:`export_package` hands out the same bytes, so
Inductor compiles the graph once instead of once in-process and again ahead
of time.
"""

from __future__ import annotations

import contextlib
import contextvars
import io
import json
import logging
import os
import tempfile
import zipfile
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import torch

from airgraph_core import _torch_compat
from airgraph_core.targets.host import package_builds
from airgraph_core.targets.host.inductor import COMPILE_LOCK
from airgraph_core.targets.host.layout import dense_inputs
from airgraph_core.targets.host.program import HostProgram

__all__ = [
    "PACKAGE_META",
    "compile_as_packages",
    "compile_package",
    "export_package",
    "load_package",
    "packaging_active",
    "signature_to_json",
    "signature_from_json",
]

log = logging.getLogger("airgraph.host")

#: How many times :func:`export_package` compiles a package that comes out torn.
EXPORT_ATTEMPTS = 3

#: Where a specialization compiled as a package keeps its bytes (``GraphModule.meta``).
PACKAGE_META = "airgraph_aoti_package"

#: Whether a package compile first builds AOTInductor's precompiled headers. Off:
#: torch keeps them under the temporary folder, so a first compile on a machine (or
#: in a container, or with a fresh ``TMPDIR``) builds two of them, ~17 CPU-s, on the
#: critical path of a cold ``ge_cache`` start, and with torch's O1 wrapper they
#: save ~2.5 CPU-s per later compile (GPT-2, 4 layers, torch 2.13, measured side by side).
PRECOMPILE_HEADERS = False

_packaging: contextvars.ContextVar[bool] = contextvars.ContextVar("airgraph_host_packaging")


@contextlib.contextmanager
def compile_as_packages() -> Iterator[None]:
    """Within: host specializations (inductor mode) compile as AOTInductor packages.

    The package serves the calls in this process and is the artifact
    :meth:`~airgraph_core.targets.host.HostExecutable.export_artifacts`
    returns, so one compile serves both. It is a context variable: a thread
    started inside inherits it only when run in a copy of this context (as
    ``airgraph_dynamo``'s background gear compiles are).
    """
    token = _packaging.set(True)
    try:
        yield
    finally:
        _packaging.reset(token)


def packaging_active() -> bool:
    """Whether :func:`compile_as_packages` is active in this context."""
    return _packaging.get(False)


def signature_to_json(signature: tuple) -> list[Any]:
    """A :meth:`HostProgram.signature` as JSON-able data."""
    return [item if isinstance(item, int) else list(item) for item in signature]


def signature_from_json(data: Sequence[Any]) -> tuple:
    """Inverse of :func:`signature_to_json`.

    Raises:
        ValueError: ``data`` is not a signature.
    """
    out: list[Any] = []
    for item in data:
        if isinstance(item, bool):
            raise ValueError(f"data: {item!r} is not a signature entry")
        if isinstance(item, int):
            out.append(item)
        elif isinstance(item, list) and all(
            isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in item
        ):
            out.append(tuple(item))
        else:
            raise ValueError(f"data: {item!r} is not a signature entry")
    return tuple(out)


def export_package(program: HostProgram, signature: tuple) -> bytes:
    """Compile one specialization of ``program`` ahead of time; return the package bytes.

    A package that comes out torn (see :func:`package_problem`) is compiled
    again, up to :data:`EXPORT_ATTEMPTS` times.

    Raises:
        KeyError: ``program`` has no specialization for ``signature``.
        RuntimeError: every attempt gave a torn package.
    """
    gm = program.specialized_module(signature)
    data = gm.meta.get(PACKAGE_META)
    if data is not None:  # compiled as this package (see compile_as_packages)
        return data
    return _package_module(gm, program.example_inputs(signature))


def compile_package(gm: torch.fx.GraphModule, tensors: Sequence[torch.Tensor]) -> Callable:
    """Compile a specialization as an AOTInductor package and load it; keep its bytes.

    Returns:
        A callable taking the tensor inputs positionally, returning the
        outputs as a list (as :func:`~airgraph_core.targets.host.inductor.compile_inductor`).

    Raises:
        Exception: whatever ``torch.export`` or AOTInductor raise (the caller
            compiles in-process instead).
    """
    data, key = _package(gm, tensors, reuse=True)
    try:
        run_list = _loaded_runner(data)
    except Exception as e:
        if key is None:  # compiled just now: the caller compiles in-process instead
            raise
        # Kept in the build cache but not loadable here: drop it, build it anew.
        log.info("host: a package from the build cache did not load (%s); compiling it", e)
        package_builds.discard(key)
        data, _ = _package(gm, tensors, reuse=False)
        run_list = _loaded_runner(data)
    gm.meta[PACKAGE_META] = data  # only a package that loads is exported
    return lambda *tensors: run_list(list(tensors))


def _package_module(gm: torch.fx.GraphModule, tensors: Sequence[torch.Tensor]) -> bytes:
    return _package(gm, tensors, reuse=True)[0]


def _package(
    gm: torch.fx.GraphModule, tensors: Sequence[torch.Tensor], reuse: bool
) -> tuple[bytes, str | None]:
    """The package of ``gm`` and, when it came from the build cache, its key there."""
    options = {"precompile_headers": PRECOMPILE_HEADERS}
    key = package_builds.build_key(gm, tensors, options)
    data = package_builds.lookup(key, package_problem) if reuse else None
    if data is not None:
        return data, key
    # One host Inductor compile (or trace) at a time: see inductor.py. The graph's dtypes
    # are explicit: a caller's autocast would recast them (and the key does not name it).
    with COMPILE_LOCK, _torch_compat.no_leafspec_deprecation(), _no_cpu_autocast():
        exported = torch.export.export(gm, tuple(tensors), strict=False)
    problem = ""
    for attempt in range(1, EXPORT_ATTEMPTS + 1):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "program.pt2")
            with COMPILE_LOCK, _torch_compat.no_leafspec_deprecation(), _no_cpu_autocast():
                _torch_compat.save_aoti_package(exported, path, **options)
            with open(path, "rb") as f:
                data = f.read()
        problem = package_problem(data)
        if not problem:
            package_builds.store(key, data)
            return data, None
        log.info("host: package attempt %d is torn (%s); compiling it again", attempt, problem)
    raise RuntimeError(
        f"the AOTInductor package is torn after {EXPORT_ATTEMPTS} attempts: {problem}"
    )


def _no_cpu_autocast() -> Any:
    return torch.autocast("cpu", enabled=False)


def package_problem(data: bytes) -> str:
    """Why the package ``data`` cannot load, or ``""`` when its archive is whole.

    AOTInductor writes the metadata JSON of a compile into the shared
    Inductor cache folder in place (``open(..., "w")``, not atomically), so a
    second process compiling the same graph at the same moment can have this
    package pick up an empty or half-written file; the C++ loader then fails
    on the next start. Checked here: the zip's CRCs and that every ``.json``
    member parses.
    """
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            bad = archive.testzip()
            if bad is not None:
                return f"{bad}: CRC mismatch"
            for name in archive.namelist():
                if name.endswith(".json"):
                    try:
                        json.loads(archive.read(name))
                    except ValueError as error:
                        return f"{name}: {error}"
    except zipfile.BadZipFile as error:
        return f"not a zip archive: {error}"
    return ""


def load_package(program: HostProgram, signature: tuple, data: bytes) -> None:
    """Install a package made by :func:`export_package` for ``signature``.

    The bytes are written to a private temporary file (0600) that the C++
    loader maps; the caller has verified them (the cache checks sha256).
    """
    run_list = _dense_inputs(program, _loaded_runner(data))

    def run(*tensors: torch.Tensor) -> list[torch.Tensor]:
        return run_list(list(tensors))

    program.install(signature, run, run_list)


def _loaded_runner(data: bytes) -> Callable[[list[torch.Tensor]], list[torch.Tensor]]:
    """The loaded package's ``run`` (one list of tensor inputs in, a list out)."""
    fd, path = tempfile.mkstemp(suffix=".pt2")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        loader = _torch_compat.load_aoti_package(path)
    finally:
        os.unlink(path)
    return loader.run


def _dense_inputs(program: HostProgram, run: Any) -> Any:
    """``run`` (a package's, over the list of tensor inputs) for inputs of any memory layout.

    The package was compiled for contiguous inputs (see
    :meth:`HostProgram.example_inputs`), and AOTInductor reads an input by
    those strides without checking them: a transposed or strided input of the
    same shape gave wrong values (see :mod:`airgraph_core.targets.host.layout`).
    """
    return dense_inputs(program.graph, run)
