"""OpInfo conformance: PyTorch's own sample inputs through lowering + the host target vs eager.

For every OpInfo (``torch.testing._internal.common_methods_invocations.op_db``)
whose ATen op has a converter here (matched by ATen name, plus
:data:`ALIASES`), sample inputs are traced to ATen, lowered to GE, validated
against the op prototypes, run on the host target and compared with eager
PyTorch at :data:`TOLERANCES` (a half-precision result may instead match
eager run in float32 and rounded once: GE ops that compute half inputs in
float32 are more exact than torch's CPU half kernels). Each sample ends as

- ``passed``: the values match;
- ``refused``: lowering raised :class:`UnsupportedOpError` (the converter
  declares the sample unsupported: a clear error, never a wrong value);
- ``known gap``: a failure listed in :data:`KNOWN_GAPS` (with why);
- ``not traced``: eager or the tracer itself rejects the sample (not ours);

anything else (a mismatch, a crash while lowering or running) fails the test.

CI runs a seeded subset (``test_opinfo_sample``: two float32 samples and one
sample of one other declared dtype per OpInfo, traced with ``make_fx`` and
the backend's decompositions, interpret mode, about a minute on two cores);
the full run (``test_opinfo_full``: up to :data:`FULL_SAMPLES` samples of
every declared dtype, traced by Dynamo + AOTAutograd as the backend does,
interpret and Inductor modes) is marked slow.
``python packages/core/tests/test_opinfo_conformance.py [N]`` prints the
counts per OpInfo for up to N samples per dtype (``make_fx``, interpret mode)
as the markdown table on docs/reference/ops.md."""

from __future__ import annotations

import os
import random
import warnings
import zlib
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import torch
from torch.fx.experimental.proxy_tensor import make_fx

# PyTorch's OpInfo database is a private test API (torch 2.13); only tests use it.
pytest.importorskip("expecttest", reason="torch's OpInfo database needs expecttest")
with warnings.catch_warnings():
    # torch's test utilities warn on import when some optional test package is missing.
    warnings.simplefilter("ignore", ImportWarning)
    from torch.testing._internal.common_methods_invocations import op_db
    from torch.testing._internal.common_utils import SEED as OPINFO_SEED

import numpy  # noqa: E402 - the OpInfo database imports it too

from airgraph_core._torch_compat import OpOverload  # noqa: E402
from airgraph_core.capture import capture_aten_graph  # noqa: E402
from airgraph_core.converters.registry import registered  # noqa: E402
from airgraph_core.decompositions import merge_decompositions  # noqa: E402
from airgraph_core.lowering import UnsupportedOpError, lower_graph  # noqa: E402
from airgraph_core.testing import assert_valid_ge_graph, run_lowered  # noqa: E402

#: (atol, rtol) per dtype; integer and bool results must be equal. float64 (rank-0 scalar
#: math, ``full(dtype=float64)``) at torch.testing's float64 defaults.
TOLERANCES: dict[torch.dtype, tuple[float, float]] = {
    torch.float32: (1e-5, 1e-4),
    torch.float16: (1e-2, 1e-2),
    torch.bfloat16: (5e-2, 5e-2),
    torch.float64: (1e-7, 1e-7),
    torch.complex64: (1e-5, 1e-4),
}
DTYPES = (torch.float32, torch.float16, torch.bfloat16, torch.int32, torch.int64, torch.bool)

#: OpInfos whose ATen op has another name than the OpInfo: ATen packet -> OpInfo names.
ALIASES: dict[str, tuple[str, ...]] = {
    "convolution": (
        "nn.functional.conv1d",
        "nn.functional.conv2d",
        "nn.functional.conv3d",
        "nn.functional.conv_transpose1d",
        "nn.functional.conv_transpose2d",
        "nn.functional.conv_transpose3d",
    ),
    "col2im": ("nn.functional.fold",),
    "max_pool2d_with_indices": ("nn.functional.max_pool2d",),
    "max_pool3d_with_indices": ("nn.functional.max_pool3d",),
    "reflection_pad1d": ("nn.functional.pad",),
    "replication_pad2d": ("nn.functional.pad",),
    "index": ("__getitem__",),
    "_weight_norm_interface": ("_weight_norm_interface",),
    "grid_sampler_2d": ("nn.functional.grid_sample",),
    # Variants are named as in the test ids: ``<OpInfo name>.<variant>``.
    "upsample_nearest2d": ("nn.functional.interpolate.nearest", "nn.functional.upsample_nearest"),
    "upsample_bilinear2d": (
        "nn.functional.interpolate.bilinear",
        "nn.functional.upsample_bilinear",
    ),
    "_cdist_forward": ("cdist",),
    "_pdist_forward": ("nn.functional.pdist",),
    "_fft_r2c": ("fft.rfft", "fft.rfft2", "fft.rfftn", "fft.fft", "fft.fft2", "fft.fftn"),
    "_fft_c2c": ("fft.ifft", "fft.ifft2", "fft.ifftn"),
    "_fft_c2r": ("fft.irfft", "fft.irfft2", "fft.irfftn"),
}

#: Packets whose converters take complex64 only, run with the OpInfo's float32 samples
#: (the ops turn a real input complex first; complex dtypes are not in :data:`DTYPES`).
SAMPLE_DTYPES: dict[str, tuple[torch.dtype, ...]] = {
    "_fft_c2c": (torch.float32,),
    "_fft_c2r": (torch.float32,),
}

#: OpInfo results with no defined values: only shape and dtype are compared.
UNDEFINED_VALUES = frozenset({"empty", "empty_like", "new_empty", "empty_strided"})

#: Samples drawn in CI per OpInfo: float32, and one other declared dtype (seeded choice).
CI_FLOAT32_SAMPLES = 2
CI_OTHER_SAMPLES = 1


def _empty(sample: Any) -> bool:
    return isinstance(sample.input, torch.Tensor) and sample.input.numel() == 0


#: Known gaps of existing converters, found by this module: OpInfo -> (why, which samples).
#: Such a sample may fail without failing the test (counted as ``known gap``); every
#: other sample of the OpInfo is still checked. Fixing a gap means deleting its entry.
KNOWN_GAPS: dict[str, tuple[str, Any]] = {
    "nn.functional.pixel_unshuffle": (
        "zero-size input: eager returns it unchanged (ATen's early return) while the traced "
        "shape is the unshuffled one; the converter follows the traced graph",
        _empty,
    ),
}
#: Upper bound on samples per dtype in the full run (some OpInfos yield hundreds).
FULL_SAMPLES = 24


def _case_id(op: Any) -> str:
    return op.name + (f".{op.variant_test_name}" if op.variant_test_name else "")


def _converters_by_packet() -> dict[str, list[Any]]:
    packets: dict[str, list[Any]] = {}
    for target, conv in registered().items():
        if isinstance(target, OpOverload) and target.namespace == "aten":
            packets.setdefault(target.__name__.split(".")[0], []).append(conv)
    return packets


def claimed_opinfos() -> list[tuple[Any, tuple[torch.dtype, ...]]]:
    """Every OpInfo whose ATen op has a converter, with the dtypes to run it in."""
    packets = _converters_by_packet()
    by_alias = {name: packet for packet, names in ALIASES.items() for name in names}
    found = []
    for op in op_db:
        short = op.name.removeprefix("nn.functional.")
        candidates = {op.aten_name, short, "_" + short}
        alias = by_alias.get(_case_id(op), by_alias.get(op.name))
        packet = next((p for p in candidates if p in packets), alias)
        if packet is None or packet not in packets or ("." in short and alias is None):
            continue
        declared: set[torch.dtype] = set(SAMPLE_DTYPES.get(packet, ()))
        for conv in packets[packet]:
            declared |= set(DTYPES) if conv.dtypes is None else set(conv.dtypes)
        supported = op.supported_dtypes("cpu")
        dtypes = tuple(d for d in DTYPES if d in declared and d in supported)
        if dtypes:
            found.append((op, dtypes))
    return found


CLAIMED = claimed_opinfos()


# --- one sample ------------------------------------------------------------------


def _tensors(x: Any) -> Iterator[torch.Tensor]:
    if isinstance(x, torch.Tensor):
        yield x
    elif isinstance(x, (list, tuple)):
        for item in x:
            yield from _tensors(item)
    elif isinstance(x, dict):
        for item in x.values():
            yield from _tensors(item)


def _replace(x: Any, new: Iterator[torch.Tensor]) -> Any:
    if isinstance(x, torch.Tensor):
        return next(new)
    if isinstance(x, (list, tuple)):
        items = [_replace(item, new) for item in x]
        return type(x)(items) if isinstance(x, list) else tuple(items)
    if isinstance(x, dict):
        return {k: _replace(v, new) for k, v in x.items()}
    return x


def _compare(op: Any, expected: Any, got: Any) -> None:
    exp, act = list(_tensors(expected)), list(_tensors(got))
    if not isinstance(expected, (torch.Tensor, list, tuple)):
        assert expected == got, f"scalar result {got} != eager {expected}"
        return
    assert len(exp) == len(act), f"{len(act)} results, eager gave {len(exp)}"
    for i, (e, a) in enumerate(zip(exp, act)):
        assert a.shape == e.shape, f"result {i}: shape {tuple(a.shape)} != eager {tuple(e.shape)}"
        assert a.dtype == e.dtype, f"result {i}: dtype {a.dtype} != eager {e.dtype}"
        if op.name in UNDEFINED_VALUES:
            continue
        atol, rtol = TOLERANCES.get(e.dtype, (0.0, 0.0))
        torch.testing.assert_close(a, e, atol=atol, rtol=rtol, equal_nan=True)


def run_sample(op: Any, sample: Any, modes: tuple[str, ...], dynamo: bool) -> str:
    """Run one OpInfo sample; returns ``passed``, ``refused`` or ``not traced`` (or raises)."""
    structure = (sample.input, sample.args, sample.kwargs)
    tensors = [t.detach() for t in _tensors(structure)]

    def call(*ts: torch.Tensor) -> Any:
        x, args, kwargs = _replace(structure, iter(ts))
        return op.op(x, *args, **kwargs)

    try:
        with warnings.catch_warnings():
            # torch's own deprecation warnings for some samples (e.g. scatter's reduce=).
            warnings.simplefilter("ignore")
            expected = call(*[t.clone() for t in tensors])
            gm, aten_inputs = _trace(call, [t.clone() for t in tensors], dynamo)
    except Exception:  # noqa: BLE001 - eager or the tracer rejects the sample: not ours to judge
        return "not traced"
    try:
        graph = lower_graph(gm, aten_inputs)
    except UnsupportedOpError:
        return "refused"
    assert_valid_ge_graph(graph)
    user = {id(t): i for i, t in enumerate(aten_inputs) if isinstance(t, torch.Tensor)}
    for mode in modes:
        run_inputs = [a.clone() if id(a) in user else a for a in aten_inputs]
        with warnings.catch_warnings():
            # Inductor warns that it falls back to eager kernels for complex ops (torch 2.13).
            warnings.filterwarnings("ignore", "Torchinductor does not support code generation")
            got = run_lowered(graph, run_inputs, mode)
        got = got if isinstance(expected, (list, tuple)) else got[0]
        try:
            _compare(op, expected, got)
        except AssertionError:
            if not any(t.dtype in HALF for t in tensors):
                raise
            # GE graphs may compute half inputs in float32 (e.g. GridSampler2D) where
            # torch's CPU kernel stays in the half type: then the float32 result,
            # rounded once, is the reference.
            _compare(op, _upcast_reference(call, tensors, expected), got)
    return "passed"


HALF = (torch.float16, torch.bfloat16)


def _upcast_reference(call: Any, tensors: list[torch.Tensor], expected: Any) -> Any:
    wide = call(*[t.float() if t.dtype in HALF else t.clone() for t in tensors])
    if isinstance(wide, torch.Tensor):
        return wide.to(expected.dtype)
    return type(wide)(w.to(e.dtype) for w, e in zip(wide, expected))


def _trace(call: Any, tensors: list[torch.Tensor], dynamo: bool) -> tuple[Any, list[Any]]:
    """The ATen graph of ``call``: Dynamo + AOTAutograd (the backend's path), or
    ``make_fx`` with the same decompositions (~20x faster, for the CI subset)."""
    if dynamo:
        return capture_aten_graph(call, tensors)
    gm = make_fx(call, decomposition_table=merge_decompositions(None), tracing_mode="fake")(
        *tensors
    )
    return gm, tensors


def _all_samples(op: Any, dtype: torch.dtype) -> list[Any]:
    """``list(op.sample_inputs("cpu", dtype))``: the same samples, a tenth of the CPU time.

    ``sample_inputs`` wraps the generator in torch's ``TrackedInputIter``, which
    walks the stack with ``inspect.stack()`` (to find a unittest method; there
    is none under pytest) and reseeds with ``torch.manual_seed``, which queues
    a formatted stack per device type that is not initialized. Here the CPU
    generator, ``random`` and NumPy are reseeded with the same seed before each
    sample, as ``set_rng_seed`` does for a test outside unittest.
    """
    raw = iter(op.sample_inputs_func(op, "cpu", dtype, False))
    samples = []
    while True:
        torch.default_generator.manual_seed(OPINFO_SEED)
        random.seed(OPINFO_SEED)
        numpy.random.seed(OPINFO_SEED)
        try:
            samples.append(next(raw))
        except StopIteration:
            return samples


def _samples(op: Any, dtype: torch.dtype, limit: int, seed: int) -> list[Any]:
    torch.manual_seed(seed)
    samples = _all_samples(op, dtype)
    if len(samples) > limit:
        samples = random.Random(seed).sample(samples, limit)
    return samples


def run_opinfo(
    op: Any,
    dtypes: tuple[torch.dtype, ...],
    *,
    float32: int,
    other: int,
    modes: tuple[str, ...],
    dynamo: bool,
) -> Counter[str]:
    """Run the OpInfo's samples per dtype; a failure names the dtype and the sample."""
    counts: Counter[str] = Counter()
    seed = zlib.crc32(_case_id(op).encode())
    _, is_known_gap = KNOWN_GAPS.get(_case_id(op), ("", lambda sample: False))
    for dtype in dtypes:
        limit = float32 if dtype is torch.float32 else other
        for sample in _samples(op, dtype, limit, seed):
            try:
                counts[run_sample(op, sample, modes, dynamo)] += 1
            except Exception as exc:
                if is_known_gap(sample):
                    counts["known gap"] += 1
                    continue
                raise AssertionError(f"{_case_id(op)} {dtype} sample {sample}: {exc}") from exc
    return counts


def ci_dtypes(op: Any, dtypes: tuple[torch.dtype, ...]) -> tuple[torch.dtype, ...]:
    """float32 (if declared) and one other declared dtype, chosen per OpInfo by a seed."""
    others = [d for d in dtypes if d is not torch.float32]
    chosen = [random.Random(zlib.crc32(_case_id(op).encode())).choice(others)] if others else []
    return tuple(d for d in dtypes if d is torch.float32 or d in chosen)


@pytest.mark.parametrize(("op", "dtypes"), CLAIMED, ids=[_case_id(op) for op, _ in CLAIMED])
def test_opinfo_sample(op, dtypes):
    counts = run_opinfo(
        op,
        ci_dtypes(op, dtypes),
        float32=CI_FLOAT32_SAMPLES,
        other=CI_OTHER_SAMPLES,
        modes=("interpret",),
        dynamo=False,
    )
    assert sum(counts.values()) > 0


@pytest.mark.slow
@pytest.mark.skipif(
    os.environ.get("AIRGRAPH_OPINFO_FULL") != "1",
    reason="the full OpInfo run takes hours on 2 cores; run it with `nox -s opinfo`"
    " (sets AIRGRAPH_OPINFO_FULL=1)",
)
@pytest.mark.parametrize(("op", "dtypes"), CLAIMED, ids=[_case_id(op) for op, _ in CLAIMED])
def test_opinfo_full(op, dtypes):
    counts = run_opinfo(
        op,
        dtypes,
        float32=FULL_SAMPLES,
        other=FULL_SAMPLES,
        modes=("interpret", "inductor"),
        dynamo=True,
    )
    assert sum(counts.values()) > 0


def test_claimed_opinfos_cover_the_converter_families():
    names = {op.name for op, _ in CLAIMED}
    for expected in ("add", "nn.functional.conv3d", "scatter_reduce", "nn.functional.unfold"):
        assert expected in names


def report(samples: int) -> str:
    """The markdown table of counts per OpInfo (``make_fx`` tracing, interpret mode)."""
    lines = [
        "| OpInfo | dtypes | passed | refused | known gap | not traced |",
        "|---|---|---|---|---|---|",
    ]
    for op, dtypes in CLAIMED:
        names = ", ".join(str(d).removeprefix("torch.") for d in dtypes)
        try:
            c = run_opinfo(
                op, dtypes, float32=samples, other=samples, modes=("interpret",), dynamo=False
            )
        except AssertionError as exc:
            lines.append(f"| `{_case_id(op)}` | {names} | FAILED: {str(exc)[:120]!r} | | | |")
            continue
        row = " | ".join(str(c[k]) for k in ("passed", "refused", "known gap", "not traced"))
        lines.append(f"| `{_case_id(op)}` | {names} | {row} |")
    return "\n".join(lines)


if __name__ == "__main__":
    import sys

    print(report(int(sys.argv[1]) if len(sys.argv) > 1 else FULL_SAMPLES))
