"""Private torch APIs that core calls, each with why and the torch versions checked.

Upgrading torch means reading this file: every underscore API of torch (and
of torch_npu) that ``airgraph_core`` relies on is called from here.
"""

from __future__ import annotations

import contextlib
import threading
import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import torch
import torch.distributed as dist

__all__ = [
    "OpOverload",
    "OpOverloadPacket",
    "all_aten_op_names",
    "aot_blockers",
    "aot_inference",
    "autocast_enabled",
    "compile_fx_static",
    "current_forward_metadata",
    "default_store",
    "dispatch_modes_active",
    "find_process_group",
    "function_modes_active",
    "find_process_group_by_ranks",
    "fx_graph_cache_key",
    "get_decompositions",
    "group_tag",
    "hccl_comm_name",
    "inductor_settings",
    "is_alias_of",
    "kept_whole",
    "kept_whole_suspended",
    "load_aoti_package",
    "load_fx_graph",
    "no_dispatch_modes",
    "no_leafspec_deprecation",
    "import_vec_isa_check",
    "probe_cpu_vec_isa",
    "inductor_cache_dir",
    "inductor_caches_disabled",
    "reset_dynamo",
    "resolve_process_group",
    "save_aoti_package",
]

#: The class of one ATen overload (``torch.ops.aten.add.Tensor``); isinstance checks only.
#: Why: torch has no public name for it. Checked with torch 2.13.
OpOverload = torch._ops.OpOverload
#: The class of an ATen overload packet (``torch.ops.aten.add``); isinstance checks only.
#: Why: torch has no public name for it. Checked with torch 2.13.
OpOverloadPacket = torch._ops.OpOverloadPacket


def all_aten_op_names() -> list[str]:
    """``"aten::name.overload"`` of every ATen op the dispatcher knows.

    Why: ``dir(torch.ops.aten)`` lists only the packets already looked up, so the
    core-opset count needs the dispatcher's own list. Checked with torch 2.13.
    """
    return [n for n in torch._C._dispatch_get_all_op_names() if n.startswith("aten::")]


def get_decompositions(ops: Sequence[Any]) -> dict[Any, Callable[..., Any]]:
    """torch's decomposition of each op in ``ops`` that has one.

    Why: core's table is chosen from torch's registered decompositions
    (``torch._decomp``), the source AOTAutograd itself uses. Checked with torch 2.13.
    """
    from torch._decomp import get_decompositions as torch_get_decompositions

    return torch_get_decompositions(ops)


def reset_dynamo() -> None:
    """Forget every Dynamo compilation (caches, guards, recompile counts).

    Why: a capture must trace afresh; ``torch.compiler.reset`` is the public
    spelling of ``torch._dynamo.reset``. Checked with torch 2.13.
    """
    torch.compiler.reset()


def aot_inference(
    gm: torch.fx.GraphModule,
    example_inputs: Sequence[Any],
    fw_compiler: Callable[[torch.fx.GraphModule, Sequence[Any]], Callable[..., Any]],
    decompositions: dict[Any, Callable[..., Any]],
) -> Callable[..., Any]:
    """AOTAutograd in inference mode over a Dynamo graph; ``fw_compiler`` gets the ATen graph.

    Why: ``aot_module_simplified`` (``torch._functorch``) is how a Dynamo
    backend gets a functionalized, decomposed ATen graph; without grad it
    traces an inference graph, and ``keep_inference_input_mutations`` keeps
    in-place input updates (e.g. a KV cache) as ``copy_`` nodes in it.
    Checked with torch 2.13.
    """
    from torch._functorch.aot_autograd import aot_module_simplified

    with torch.no_grad():
        return aot_module_simplified(
            gm,
            example_inputs,
            fw_compiler=fw_compiler,
            decompositions=decompositions,
            keep_inference_input_mutations=True,
        )


_KEPT_WHOLE_LOCK = threading.RLock()
_KEPT_WHOLE_ACTIVE = threading.local()


@contextlib.contextmanager
def kept_whole(
    takes: dict[Any, Callable[..., bool]], composites: dict[Any, Callable[..., Any]]
) -> Iterator[None]:
    """While tracing in this thread, stop torch's Python kernels from decomposing some ops.

    Args:
        takes: overload -> ``takes(*args, **kwargs) -> bool``: where it is
            true the call goes below autograd (the op reaches the trace
            whole), elsewhere torch's Python ``Autograd`` kernel decomposes
            it as before.
        composites: overload -> our Python kernel for it, run instead of
            torch's ``Autograd`` and ``CompositeImplicitAutograd`` Python
            kernels (e.g. ``upsample_nearest2d.vec`` -> ``.default``).

    Other threads, and code under :func:`kept_whole_suspended`, see torch's
    kernels. Restored on exit.

    Why: ``torch._decomp`` registers Python kernels (``OpOverload.py_kernels``)
    that decompose e.g. ``upsample_nearest2d`` under the Python dispatcher,
    which AOTAutograd turns on while tracing, whatever the decomposition
    table says (TorchAir deletes them at import; we swap them for our
    trace only). ``_dispatch_cache`` must be cleared for a change to show;
    ``_AutoDispatchBelowAutograd`` is how the C++ autograd kernels
    redispatch. Checked with torch 2.13.
    """
    from torch._C import DispatchKey

    autograd, composite = DispatchKey.Autograd, DispatchKey.CompositeImplicitAutograd
    plan = [(op, (autograd,), _kept_kernel(op, fn, None)) for op, fn in takes.items()]
    plan += [
        (op, (autograd, composite), _kept_kernel(op, None, fn)) for op, fn in composites.items()
    ]
    saved: list[tuple[Any, Any, Callable[..., Any]]] = []
    with _KEPT_WHOLE_LOCK:
        depth = getattr(_KEPT_WHOLE_ACTIVE, "depth", 0)
        try:
            for op, keys, make_kernel in plan:
                for key in keys:
                    if key in op.py_kernels:
                        saved.append((op, key, op.py_kernels[key]))
                        op.py_kernels[key] = make_kernel(op.py_kernels[key])
                op._dispatch_cache.clear()
            _KEPT_WHOLE_ACTIVE.depth = depth + 1
            yield
        finally:
            _KEPT_WHOLE_ACTIVE.depth = depth
            for op, key, kernel in reversed(saved):
                op.py_kernels[key] = kernel
            for op, _keys, _make in plan:
                op._dispatch_cache.clear()


@contextlib.contextmanager
def kept_whole_suspended() -> Iterator[None]:
    """Inside :func:`kept_whole`, let torch's Python kernels decompose again (in this thread).

    Why: see :func:`kept_whole`; a compiler called from inside the trace
    (Inductor) must see torch as it is. Checked with torch 2.13.
    """
    depth = getattr(_KEPT_WHOLE_ACTIVE, "depth", 0)
    _KEPT_WHOLE_ACTIVE.depth = 0
    try:
        yield
    finally:
        _KEPT_WHOLE_ACTIVE.depth = depth


def _kept_kernel(
    op: Any, takes: Callable[..., bool] | None, ours: Callable[..., Any] | None
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def make(torch_kernel: Callable[..., Any]) -> Callable[..., Any]:
        def kernel(*args: Any, **kwargs: Any) -> Any:
            if not getattr(_KEPT_WHOLE_ACTIVE, "depth", 0):
                return torch_kernel(*args, **kwargs)
            if ours is not None:
                return ours(*args, **kwargs)
            if takes is None or not takes(*args, **kwargs):
                return torch_kernel(*args, **kwargs)
            with torch._C._AutoDispatchBelowAutograd():
                return op(*args, **kwargs)

        return kernel

    return make


def autocast_enabled() -> bool:
    """Whether any autocast context is on.

    Why: a graph compiled under autocast needs AOTAutograd's runtime wrapper
    (it turns autocast off per call); torch has no public query for "any
    device". Checked with torch 2.13.
    """
    return bool(torch._C._is_any_autocast_enabled())


def compile_fx_static(
    gm: torch.fx.GraphModule,
    tensors: Sequence[torch.Tensor],
    on_inner_compile: Callable[[Any, int, dict[str, Any]], None],
) -> Callable[..., Any]:
    """Compile ``gm`` with Inductor for inference, every size static as in ``tensors``.

    ``on_inner_compile(compiled, n_inputs, kwargs)`` sees each graph Inductor
    compiles, while AOTAutograd's tracing context is still current.

    Why: ``compile_fx`` (``torch._inductor``) is Inductor's entry point; a
    tracing context (``torch._guards``) whose fake mode
    (``torch._subclasses``) has a shape env lets Inductor's FX graph cache
    serve the compile, and ``ignore_shape_env`` keeps the sizes static.
    ``compile_fx_inner`` is wrapped to see AOTAutograd's metadata of each
    graph. Checked with torch 2.13.
    """
    from torch._guards import TracingContext, tracing
    from torch._inductor.compile_fx import compile_fx, compile_fx_inner
    from torch._subclasses.fake_tensor import FakeTensorMode
    from torch.fx.experimental.symbolic_shapes import ShapeEnv

    def inner_compile(graph: torch.fx.GraphModule, example_inputs: Sequence[Any], **kwargs: Any):
        compiled = compile_fx_inner(graph, example_inputs, **kwargs)
        on_inner_compile(compiled, len(example_inputs), kwargs)
        return compiled

    context = TracingContext(FakeTensorMode(allow_non_fake_inputs=True, shape_env=ShapeEnv()))
    with torch.no_grad(), tracing(context):
        return compile_fx(gm, list(tensors), inner_compile=inner_compile, ignore_shape_env=True)


def fx_graph_cache_key(compiled: Any) -> str | None:
    """Inductor's FX graph cache key of ``compiled`` if :func:`load_fx_graph` can load it by
    the key alone (no frozen parameters, cudagraphs, wrappers), else None.

    Why: ``compile_fx_inner`` keeps it in ``CompiledFxGraph._fx_graph_cache_key``. Checked with torch 2.13.
    """
    from torch._inductor import config
    from torch._inductor.output_code import CompiledFxGraph

    key = getattr(compiled, "_fx_graph_cache_key", None)
    if type(compiled) is not CompiledFxGraph or not isinstance(key, str):
        return None
    blockers = (compiled.frozen_param_names, compiled.torchbind_constants, config.cpp_wrapper)
    blockers += (config.cudagraph_policy is not None, config.triton.cudagraphs, config.fx_wrapper)
    blockers += (config.force_disable_caches, not config.fx_graph_cache)
    return None if any(blockers) else key


def inductor_settings() -> dict[str, Any]:
    """Inductor's, functorch's and torch.compiler's configs as text, by name: with torch's
    public state, what besides the graph changes AOTAutograd's trace or Inductor's key.

    Why: ``FxGraphHashDetails`` hashes them; ``torch._inductor.config`` and
    ``torch._functorch.config`` are private. ``aot_inductor.metadata`` leaves out the
    ``AOTI_*`` entries AOTInductor adds to it in place; the custom passes (left out of
    ``save_config_portable``) are added by their ``uuid()``. Checked with torch 2.13.
    """
    from torch._functorch import config as functorch_config
    from torch._inductor import config

    configs = {"inductor": config, "functorch": functorch_config, "compiler": torch.compiler.config}
    settings: dict[str, Any] = {}
    for name, module in configs.items():
        values = module.save_config_portable(ignore_private_configs=False)
        if isinstance(values.get("aot_inductor.metadata"), dict):
            # An AOTInductor compile writes its own AOTI_* entries (device, machine, ISA)
            # into this dict in place, so the text would change after the first one.
            metadata = values["aot_inductor.metadata"]
            values["aot_inductor.metadata"] = {
                k: v for k, v in metadata.items() if not str(k).startswith("AOTI_")
            }
        settings[name] = repr(sorted(values.items()))
    # Custom passes are left out of the configs' text (Inductor keys them by ``uuid()``).
    passes = ["pre_grad_custom_pass", "joint_custom_pre_pass", "joint_custom_post_pass"]
    passes += ["post_grad_custom_pre_pass", "post_grad_custom_post_pass"]
    passes += ["_pre_fusion_custom_pass", "_post_fusion_custom_pass"]
    passes += ["_fuse_ddp_communication_passes"]
    settings["custom_passes"] = repr([(p, _pass_text(getattr(config, p, None))) for p in passes])
    return settings


def _pass_text(custom_pass: Any) -> Any:
    """A custom pass as its ``uuid()``, ``"<unkeyed ...>"`` when it has none."""
    if not custom_pass:
        return None
    if isinstance(custom_pass, (list, tuple)):
        return [_pass_text(p) for p in custom_pass]
    if isinstance(custom_pass, str):  # a pass of Inductor's own, by name
        return repr(custom_pass)
    try:
        key = custom_pass.uuid()
    except Exception:  # none, or one that fails: nothing to key the pass by
        key = None
    name = getattr(custom_pass, "__qualname__", type(custom_pass).__qualname__)
    return f"<unkeyed {name}>" if key is None else repr(key)


def probe_cpu_vec_isa() -> str:
    """Run Inductor's once-per-process check of the CPU's vector ISA (``pick_vec_isa``) now;
    return the ISA's name (e.g. ``"avx512"``; kernels compiled for it need it to run).

    Why: loading a compiled CPU graph runs it first, and it waits on child processes: run
    early in a thread, the wait overlaps other work. Checked with torch 2.13.
    """
    from torch._inductor.cpu_vec_isa import pick_vec_isa

    return str(pick_vec_isa())


def inductor_cache_dir() -> str:
    """Inductor's cache folder (``TORCHINDUCTOR_CACHE_DIR`` or its default).

    Why: ``torch._inductor.runtime.cache_dir_utils.cache_dir`` is private. Checked with
    torch 2.13.
    """
    from torch._inductor.runtime.cache_dir_utils import cache_dir

    return cache_dir()


def inductor_caches_disabled() -> bool:
    """Whether Inductor's ``force_disable_caches`` is on (``TORCHINDUCTOR_FORCE_DISABLE_CACHES``).

    Why: ``torch._inductor.config`` is private. Checked with torch 2.13.
    """
    from torch._inductor import config

    return bool(config.force_disable_caches)


def import_vec_isa_check() -> None:
    """Import the Inductor modules :func:`probe_cpu_vec_isa` imports when it runs.

    Why: ``pick_vec_isa``'s build check imports ``torch._inductor.codecache``
    and ``cpp_builder`` lazily; a thread running it while the caller's thread
    imports Dynamo and Inductor could meet that thread's imports halfway (an
    import deadlock error). Checked with torch 2.13.
    """
    import torch._inductor.codecache
    import torch._inductor.cpp_builder
    import torch._inductor.cpu_vec_isa  # noqa: F401


def load_fx_graph(key: str, inputs: Sequence[Any], before: Callable[[], None]) -> Any | None:
    """The graph Inductor's local FX graph cache keeps under ``key`` (called with one list of
    ``inputs``) as ``compile_fx_inner`` returns it on a hit, or None; ``before()`` runs between
    the imports and the load. Entries with shape guards are not served.

    Why: ``compile_fx_inner`` runs ``FxGraphCache.load_with_key`` (in a tracing context with
    a shape env) then ``post_compile`` on a hit; the loaded code imports ``select_algorithm``.
    Its kernels' libraries are found by keys that leave out the precompiled header, which
    only speeds up building one: ``codecache._precompile_header`` (a g++ run per process and
    ``TMPDIR``) is skipped meanwhile (a library to build is built without it). Checked with torch 2.13.
    """
    import torch._inductor.select_algorithm  # noqa: F401
    from torch._guards import TracingContext, tracing
    from torch._inductor import codecache
    from torch._inductor.codecache import FxGraphCache
    from torch._inductor.output_code import CompiledFxGraphConstants
    from torch._inductor.utils import BoxedBool
    from torch._subclasses.fake_tensor import FakeTensorMode
    from torch.fx.experimental.symbolic_shapes import ShapeEnv

    before()
    constants, inputs = CompiledFxGraphConstants(), list(inputs)
    context = TracingContext(FakeTensorMode(allow_non_fake_inputs=True, shape_env=ShapeEnv()))
    build_header = codecache._precompile_header
    codecache._precompile_header = lambda *_args, **_kwargs: None  # see Why
    try:
        with torch.no_grad(), tracing(context):
            compiled, _ = FxGraphCache.load_with_key(
                key, [], inputs, True, None, False, constants, lambda _expr, _hints: False
            )
    finally:
        codecache._precompile_header = build_header
    if compiled is None or fx_graph_cache_key(compiled) != key:  # or it needs more than the key
        return None
    compiled.post_compile(inputs, constants, {"cudagraphs": BoxedBool(False), "is_backward": False})
    return compiled


def current_forward_metadata() -> Any:
    """AOTAutograd's metadata (``ViewAndMutationMeta``) of the graph being compiled, or None.

    Why: it says whether AOTAutograd's runtime wrapper would do anything; it
    lives on the private tracing context (``torch._guards``). Checked with torch 2.13.
    """
    from torch._guards import TracingContext

    context = TracingContext.try_get()
    return None if context is None else context.fw_metadata


def aot_blockers(meta: Any) -> dict[str, Any]:
    """What in AOTAutograd's metadata ``meta`` needs its runtime wrapper, by reason.

    Raises ``AttributeError`` when ``meta`` lacks a field this torch had.

    Why: the metadata's fields and enums (``torch._functorch._aot_autograd.schemas``)
    are private; the wrapper is dropped only when none of these is set.
    Checked with torch 2.13.
    """
    from torch._functorch._aot_autograd.schemas import OutputType, PlainTensorMeta

    return {
        "outputs alias inputs or intermediates": any(
            o.output_type is not OutputType.non_alias for o in meta.output_info
        ),
        "inputs are mutated": meta.num_mutated_inp_runtime_indices
        or meta.num_mutated_graph_handled_indices,
        "intermediate bases": meta.num_intermediate_bases,
        "effect tokens": bool(meta.tokens),
        "tensor subclasses": not all(
            isinstance(m, PlainTensorMeta) for m in meta.subclass_inp_meta
        ),
        "grad mode changes": meta.grad_enabled_mutation is not None,
        "dynamic outputs": bool(meta.dynamic_outputs),
    }


def save_aoti_package(exported: Any, path: str, *, precompile_headers: bool = True) -> None:
    """Compile an exported program ahead of time into a ``.pt2`` package at ``path``.

    ``precompile_headers=False`` compiles the wrapper and kernel sources
    without building AOTInductor's precompiled headers first.

    Why: ``aoti_compile_and_package`` is documented but lives in
    ``torch._inductor``; ``aot_inductor.precompile_headers`` is its config
    switch for the header precompile. Checked with torch 2.13.
    """
    from torch._inductor import aoti_compile_and_package

    configs = {"aot_inductor.precompile_headers": precompile_headers}
    aoti_compile_and_package(exported, package_path=path, inductor_configs=configs)


@contextlib.contextmanager
def no_leafspec_deprecation() -> Iterator[None]:
    """Within: torch's own ``isinstance(treespec, LeafSpec)`` FutureWarning is not shown.

    Why: ``torch.export`` and AOTInductor copy pytree specs whose ``LeafSpec`` torch 2.13
    deprecated itself; a user can do nothing about it, and it printed on every cold
    ``ge_cache`` start. Only that message is filtered, only here. Checked with torch 2.13.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore",
            message=r"`isinstance\(treespec, LeafSpec\)` is deprecated",
            category=FutureWarning,
        )
        yield


def load_aoti_package(path: str) -> Any:
    """A loader (``.run(list_of_tensors) -> list``) of the ``.pt2`` package at ``path``.

    Why: the C++ loader (``torch._C._aoti``) maps the package without the
    Python wrapper's per-call overhead and without unpickling. Its arguments:
    model name, no run_single_threaded, 1 thread, device index -1.
    Checked with torch 2.13.
    """
    return torch._C._aoti.AOTIModelPackageLoader(path, "model", False, 1, -1)


#: ``dispatch_modes_active() -> int``: how many torch dispatch modes are in effect.
#: Why: the per-call test before :func:`no_dispatch_modes` in the host target,
#: kept as torch's own function (no wrapper) because it runs on every call.
#: Checked with torch 2.13.
dispatch_modes_active = torch._C._len_torch_dispatch_stack

#: ``function_modes_active() -> int``: how many torch function modes are in effect (a
#: default device set by ``torch.set_default_device`` or ``with torch.device(...)`` is one).
#: Why: torch has no public query of the function mode stack. Checked with torch 2.13.
function_modes_active = torch._C._len_torch_function_stack


@contextlib.contextmanager
def no_dispatch_modes() -> Iterator[None]:
    """Step out of the torch dispatch modes in effect, if any.

    Why: AOTAutograd runs the first call under a dispatch mode that checks
    custom-op aliasing; a host specialization (which runs the graph once and
    may compile it) must not trace through it (``_disable_current_modes``).
    Checked with torch 2.13.
    """
    if not dispatch_modes_active():
        yield
        return
    from torch.utils._python_dispatch import _disable_current_modes

    with _disable_current_modes():
        yield


def is_alias_of(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Whether ``a`` and ``b`` share storage.

    Why: ``torch._C._is_alias_of`` is the exact check eager uses; the fake
    NPU binding asserts GE's outputs never alias its inputs. Checked with torch 2.13.
    """
    return bool(torch._C._is_alias_of(a, b))


def resolve_process_group(group_name: str) -> Any:
    """The live process group whose registered name is ``group_name``.

    Why: Dynamo's functional collectives carry the group as this name
    (``'0'`` for the default group); only c10d's registry maps it back.
    Checked with torch 2.13.
    """
    return dist.distributed_c10d._resolve_process_group(group_name)


def group_tag(group: Any) -> str:
    """The tag c10d files ``group`` under (``'ptd:<name>'`` unless the user gave one).

    Why: TorchAir names host groups by tag and ranks; there is no public
    accessor of the tag. Checked with torch 2.13.
    """
    return dist.distributed_c10d._get_group_tag(group)


def find_process_group(tag: str, ranks: list[int]) -> Any | None:
    """The live group with ``tag`` and exactly ``ranks``, or ``None``.

    Why: the inverse of :func:`group_tag` plus ranks; c10d keeps that index
    privately. Checked with torch 2.13.
    """
    return dist.distributed_c10d._find_pg_by_ranks_and_tag(tag, ranks)


def find_process_group_by_ranks(ranks: list[int]) -> Any | None:
    """The first live group (in creation order) whose global ranks, in group-rank order, are ``ranks``.

    Why: a cached graph names its groups by ranks when their tags differ in
    this run; c10d keeps the ranks of each group only in ``_world``.
    Checked with torch 2.13.
    """
    for group, members in dist.distributed_c10d._world.pg_group_ranks.items():
        if sorted(members, key=members.__getitem__) == list(ranks):
            return group
    return None


def default_store() -> Any:
    """The store the default process group was initialized with.

    Why: ranks exchange what they are about to run through it, with a
    timeout of their own (a collective would hang); there is no public
    accessor. Checked with torch 2.13.
    """
    return dist.distributed_c10d._get_default_store()


def hccl_comm_name(group: Any) -> str | None:
    """HCCL's communicator name of ``group`` on this rank, or ``None`` when
    ``group`` has no NPU (HCCL) backend or torch_npu is not loaded.

    Why: GE's Hcom ops find their communicator by this name; torch_npu
    exposes it only on the backend object (``ProcessGroup._get_backend``,
    private in torch) as ``get_hccl_comm_name``. Checked with torch 2.13;
    the NPU branch follows TorchAir's use of the same calls.
    """
    import sys

    if "torch_npu" not in sys.modules:
        return None
    try:
        backend = group._get_backend(_npu_device())
    except (RuntimeError, TypeError, ValueError):
        return None
    get_name = getattr(backend, "get_hccl_comm_name", None)
    if get_name is None:
        return None
    return get_name(dist.get_rank(), init_comm=True)


def _npu_device() -> torch.device:
    # The "npu" device type exists only once torch_npu has registered it.
    return torch.device("npu")
