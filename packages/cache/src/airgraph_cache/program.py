"""The warm runtime of a cached program: check the call, fetch inputs, run, rebuild outputs.

A :class:`Program` is what a cold compile captured or a warm start loaded. Per
call it runs the recorded guard checks that read the call (see
:mod:`airgraph_cache.checks`; a failure raises :class:`GuardMismatch` and the
caller looks for another entry), fetches the inputs through the
:class:`~airgraph_cache.binding.InputBinding`, checks their dtypes, static dims
and devices, runs the executable, and rebuilds the method's return value.
Geared shapes outside the gears follow the backend's
:class:`~airgraph_dynamo.gear_dispatch.OutOfGear` policy, recorded in the
entry, so a warm start errs, pads or falls back exactly as the cold one.
"""

from __future__ import annotations

import logging
import operator
import sys
from collections.abc import Callable, Sequence
from typing import Any

import torch

from airgraph_cache.binding import InputBinding, OutputSpec
from airgraph_cache.checks import GuardChecks, GuardMismatch
from airgraph_cache.overlap import distinct_storages_check, overlapping
from airgraph_core import OutputViews, rebuild_outputs

__all__ = ["GuardMismatch", "InputMismatch", "Program", "is_callers_error", "path_text"]

log = logging.getLogger("airgraph.cache")

_grad_enabled = torch.is_grad_enabled


class Program:
    """A compiled program bound to a method: fetch inputs, check, run, rebuild outputs."""

    def __init__(
        self,
        module: torch.nn.Module,
        binding: InputBinding,
        executable: Callable[[list[Any]], list[Any]],
        kinds: Sequence[str],
        outputs: OutputSpec,
        checks: list[list[Any]] | None,
        gears: dict[str, Any] | None = None,
        views: OutputViews | None = None,
        guards: GuardChecks | None = None,
        key: Any = None,
        distinct: Sequence[int] = (),
    ) -> None:
        self.module = module
        #: The tensor inputs that must be distinct objects over distinct memory: all of
        #: them when the graph writes an input in place (one tensor in two inputs, or two
        #: views of one memory, would see the write in one and not the other), else none.
        self.distinct = tuple(distinct)
        self._distinct_ok = _distinct_check(self.distinct)
        # Per call: one storage each (same object: a variant; overlapping views: eager).
        self._storages_ok = distinct_storages_check(self.distinct)
        self._logged_overlap = False
        #: The recorded guard checks; ``call`` is None when no check reads the call.
        self.guards = guards
        self._call_check = guards.call if guards is not None else None
        #: The cache key this program was compiled or loaded under.
        self.key = key
        self.views = views
        self.binding = binding
        self.executable = executable
        self.kinds = tuple(k for k in kinds if k)
        self.build = outputs.builder()
        # (input, dtype, rank, fixed (dim, size) pairs, device or None for the CPU)
        self.checks = [
            (
                i,
                getattr(torch, dt),
                len(shape),
                tuple((d, n) for d, n in enumerate(shape) if n != -1),
                None if dev == "cpu" else dev,
                tuple(shape),
            )
            for i, dt, shape, dev in checks or ()
        ]
        # The same checks as one generated function: True when every input passes.
        self._inputs_ok = _input_check(self.checks) if self.checks else None
        self._plain = all(k == "t" for k in self.kinds)
        self.gear_inputs: tuple[int, ...] = ()
        self.gear_shapes: frozenset[tuple] = frozenset()
        self.out_of_gear = "error"
        #: The backend's out-of-gear policy (the same errors, pads and fallbacks).
        self.policy: Any = None
        if gears:
            self.gear_inputs = tuple(gears["inputs"])
            self.gear_shapes = frozenset(
                tuple(tuple(shape) for shape in combo) for combo in gears["shapes"]
            )
            self.out_of_gear = gears["out_of_gear"]
            # Imported here: a warm start without gears does not import the backend.
            from airgraph_dynamo.gear_dispatch import OutOfGear

            # KeyError on an entry written before the policy was recorded: recompiled.
            self.policy = OutOfGear.from_json(gears["policy"])

    def __call__(self, args: tuple, kwargs: dict) -> Any:
        check = self._call_check
        if check is not None and check(self.module, *args, **kwargs) != -1:
            raise GuardMismatch("a call check failed")
        try:
            inputs = self.binding.inputs(self.module, args, kwargs)
        except (KeyError, IndexError, AttributeError, ValueError) as e:
            # An argument's structure the program was not traced for (a kwarg missing
            # from **kwargs, a shorter tuple, an emptied closure cell): another entry
            # serves it, never an error.
            raise GuardMismatch(f"cannot fetch an input: {type(e).__name__}: {e}") from e
        storages_ok = self._storages_ok
        if storages_ok is not None and not storages_ok(inputs):
            if not self._distinct_ok(inputs):
                raise GuardMismatch("one tensor in two inputs of a program that writes an input")
            if overlapping(inputs[i] for i in self.distinct):
                return self._run_eagerly(args, kwargs)
        if _grad_enabled():
            _refuse_gradients(self.binding, inputs)
        inputs_ok = self._inputs_ok
        if inputs_ok is not None and not inputs_ok(inputs):
            self._check(inputs)  # raises the error that names the input
        if self.gear_inputs:
            key = tuple(tuple(inputs[i].shape) for i in self.gear_inputs)
            if key not in self.gear_shapes:
                return self._out_of_gear(key, inputs, args, kwargs)
        outs = self.executable(inputs)
        if not self._plain:
            outs = rebuild_outputs(outs, inputs, self.kinds, self.views)
        return self.build(outs, inputs)

    def inputs_distinct(self, args: tuple, kwargs: dict) -> bool:
        """Whether the call's tensor inputs are distinct objects, where that is checked."""
        if self._distinct_ok is None:
            return True
        try:
            return self._distinct_ok(self.binding.inputs(self.module, args, kwargs))
        except (KeyError, IndexError, AttributeError, ValueError):
            return True  # the call checks or the binding tell this call apart

    def _run_eagerly(self, args: tuple, kwargs: dict) -> Any:
        """A call whose tensor inputs overlap in memory: the method itself sees its writes."""
        if not self._logged_overlap:
            self._logged_overlap = True
            log.info(
                "cached program %s writes an input and this call passes tensors that overlap "
                "in memory: such calls run eagerly",
                self.key.digest() if self.key is not None else "",
            )
        return self.binding.fn(self.module, *args, **kwargs)

    def _out_of_gear(self, key: tuple, inputs: list[Any], args: tuple, kwargs: dict) -> Any:
        """Serve shapes outside the gears as the backend does (``airgraph_config.out_of_gear``)."""
        assert self.policy is not None
        pad = self.policy.resolve(key)
        if pad is None:  # fallback: the method runs eagerly in PyTorch, uncompiled
            return self.binding.fn(self.module, *args, **kwargs)
        outs = self.executable(pad.pad(inputs, self.gear_inputs))
        if not self._plain:
            # Views are replayed on the call's own inputs; the rest is cut back below.
            outs = rebuild_outputs(outs, inputs, self.kinds, self.views)
        return self.build(pad.slice_back(outs), inputs)

    def _check(self, inputs: list[Any]) -> None:
        for i, dtype, rank, fixed, device, shape in self.checks:
            t = inputs[i]
            if not isinstance(t, torch.Tensor):
                # e.g. None where the trace saw a tensor: another program serves it.
                raise GuardMismatch(
                    f"input {path_text(self.binding.paths[i])}: expected a tensor, "
                    f"got {type(t).__name__}"
                )
            if (
                t.dtype is not dtype
                or (not t.is_cpu if device is None else t.device.type != device)
                or t.dim() != rank
            ):
                raise InputMismatch(i, self.binding.paths[i], t, dtype, shape, device or "cpu")
            size = t.shape
            for d, n in fixed:
                if size[d] != n:
                    raise InputMismatch(i, self.binding.paths[i], t, dtype, shape, device or "cpu")


def _distinct_check(indices: Sequence[int]) -> Callable[[Sequence[Any]], bool] | None:
    """A check that the inputs at ``indices`` are distinct objects (None: nothing to check)."""
    n = len(indices)
    if n < 2:
        return None
    get = operator.itemgetter(*indices)
    return lambda inputs: len(set(map(id, get(inputs)))) == n


def _input_check(checks: Sequence[tuple]) -> Callable[[Sequence[Any]], bool]:
    """The checks of :meth:`Program._check` as one straight-line function returning a bool.

    Only this function's own text is compiled: indices, ranks and sizes are
    ints written through ``int()``; dtypes, shapes and devices live in its namespace.
    """
    namespace: dict[str, Any] = {"_Tensor": torch.Tensor}
    lines = []
    for k, (i, dtype, rank, fixed, device, _shape) in enumerate(checks):
        namespace[f"_dt{k}"] = dtype
        conds = ["isinstance(t, _Tensor)", f"t.dtype is _dt{k}"]
        if device is None:
            conds.append("t.is_cpu")
        else:
            namespace[f"_dev{k}"] = device
            conds.append(f"t.device.type == _dev{k}")
        if len(fixed) == rank:  # every dim fixed: one comparison checks rank and sizes
            namespace[f"_size{k}"] = tuple(n for _, n in fixed)
            conds.append(f"t.shape == _size{k}")
        elif fixed:
            conds.append(f"len(s := t.shape) == {int(rank)}")
            conds += [f"s[{int(d)}] == {int(n)}" for d, n in fixed]
        else:
            conds.append(f"t.dim() == {int(rank)}")
        lines += [f"t = inputs[{int(i)}]", f"if not ({' and '.join(conds)}):", "    return False"]
    body = "\n".join(f"    {line}" for line in lines)
    code = f"def inputs_ok(inputs):\n{body}\n    return True\n"
    exec(compile(code, "<airgraph_cache input checks>", "exec"), namespace)  # noqa: S102
    return namespace["inputs_ok"]


def is_callers_error(error: Exception) -> bool:
    """True for the errors a program raises about the call itself (not about the entry)."""
    if isinstance(error, (GuardMismatch, InputMismatch)):
        return True
    backend = sys.modules.get("airgraph_dynamo.backend")
    gears = sys.modules.get("airgraph_dynamo.gear_dispatch")
    return (backend is not None and isinstance(error, backend.InferenceOnlyError)) or (
        gears is not None and isinstance(error, gears.OutOfGearError)
    )


class InputMismatch(ValueError):
    """A call's input does not match what the cached program was compiled for."""

    def __init__(self, index: int, path: Any, t: torch.Tensor, dtype, shape, device) -> None:
        where = path_text(path)
        super().__init__(
            f"input {where}: got {t.dtype} {tuple(t.shape)} on {t.device.type}, the cached "
            f"program expects {dtype} {tuple(shape)} (-1 = any) on {device}"
        )


def _refuse_gradients(binding: InputBinding, inputs: Sequence[Any]) -> None:
    """Raise as the cold compile does when a call would need autograd (inference only)."""
    needing = [
        path_text(binding.paths[i])
        for i, t in enumerate(inputs)
        if isinstance(t, torch.Tensor) and t.requires_grad
    ]
    if needing:
        from airgraph_dynamo.backend import InferenceOnlyError

        raise InferenceOnlyError(
            "cache_compile runs inference graphs only, but grad mode is on and "
            f"{len(needing)} input(s) require grad ({', '.join(needing)}). Call it under "
            "torch.no_grad() or torch.inference_mode(), or set requires_grad=False on them."
        )


def path_text(path: Sequence[Sequence[Any]]) -> str:
    """An access path as Python-like text for messages: ``x[0].size(1)``, ``G['mod'].flag``."""
    text = ""
    for step in path:
        if step[0] == "local":
            text = step[1]
        elif step[0] == "global":
            text = f"G[{step[1]!r}]"
        elif step[0] == "attr":
            text += f".{step[1]}"
        elif step[0] == "item":
            text += f"[{step[1]!r}]"
        else:
            text += f".{step[0]}({step[1] if len(step) > 1 else ''})"
    return text
