"""A fake of torch_npu's ``_torchair`` binding: the NPU target's call contract, checked.

:func:`make_fake_npu_binding` stands in for the binding where no NPU is
(this machine, CI). It checks the exact calls the NPU target makes and runs
the graph on the host target, so the NPU target's code, and every test
written against it, runs everywhere:

    >>> from airgraph_core.targets import NpuTarget
    >>> from airgraph_core.targets.fake_npu import make_fake_npu_binding
    >>> target = NpuTarget(binding=make_fake_npu_binding(), device_id=0)
"""

from __future__ import annotations

import types

import torch

from airgraph_core import _torch_compat
from airgraph_core.ir.serialize import deserialize
from airgraph_core.targets.host.program import HostProgram

__all__ = ["make_fake_npu_binding"]


def _is_str_dict(d):
    return type(d) is dict and all(type(k) is str and type(v) is str for k, v in d.items())


def _is_int_list(values):
    return type(values) is list and all(type(v) is int for v in values)


def _reused_outputs(options: dict[str, str]) -> dict[int, int]:
    """``ge.exec.outputReuseInputMemIndexes`` (``"input,output|..."``) as output -> input."""
    text = options.get("ge.exec.outputReuseInputMemIndexes", "")
    pairs = [tuple(int(v) for v in pair.split(",")) for pair in text.split("|") if pair]
    return {output: data for data, output in pairs}


def make_fake_npu_binding() -> types.SimpleNamespace:
    """A fake of torch_npu's ``_torchair`` binding that checks the exact call contract.

    It asserts argument types, call order, option names and values, and that
    inputs arrive in ``Data`` index order with the shapes the graph allows;
    it runs the graph it was given (deserialized from the protobuf bytes)
    on the host target in interpret mode, so outputs are real. Like GE, it
    returns new tensors only: never an input or a view of one, except an
    output that ``ge.exec.outputReuseInputMemIndexes`` writes into an input
    passed as pre-assigned; an ``Assign`` into a ``Data`` does not reach the
    caller's tensor (GE may copy inputs).

    Returns:
        A module-like object with ``InitializeGraphEngine``,
        ``FinalizeGraphEngine`` and ``TorchNpuGraphBase``; its ``calls``
        list records every call, ``graphs`` every graph object.
    """
    calls: list[tuple] = []
    graphs: list[FakeGraph] = []

    def InitializeGraphEngine(options):  # noqa: N802 - the binding's name
        assert _is_str_dict(options), options
        calls.append(("InitializeGraphEngine", dict(options)))

    def FinalizeGraphEngine():  # noqa: N802
        calls.append(("FinalizeGraphEngine",))

    class FakeGraph:
        def __init__(self, name):
            assert type(name) is str and name
            self.name = name
            self.state = "created"
            self.graph = None
            graphs.append(self)
            calls.append(("TorchNpuGraphBase", name))

        def load(self, proto, options, input_placements, output_dtypes, executor_type):
            assert self.state == "created", "load must come first, once"
            assert type(proto) is bytes and proto
            assert _is_str_dict(options), options
            assert _is_int_list(input_placements) and _is_int_list(output_dtypes)
            assert type(executor_type) is int
            graph = deserialize(proto)
            assert graph.name == self.name
            assert input_placements == list(graph.attrs["_input_placements"].value)
            assert output_dtypes == list(graph.attrs["_output_dtypes"].value)
            assert executor_type == graph.attrs["_executor_type"].value == 1
            assert len(input_placements) == len(graph.data_ops)
            self.graph, self.options, self.placements = graph, options, input_placements
            self.state = "loaded"
            calls.append(("load", self.name, dict(options), input_placements, output_dtypes))

        def set_hint_shape(self, in_shapes, out_shapes):
            assert self.state == "loaded", "set_hint_shape comes after load, before compile"
            assert type(in_shapes) is list and all(_is_int_list(s) for s in in_shapes)
            assert out_shapes == []
            expected = [list(op.output_descs[0].shape) for op in self.graph.data_ops]
            assert in_shapes == expected
            self.state = "hinted"
            calls.append(("set_hint_shape", in_shapes, out_shapes))

        def compile(self):
            assert self.state == "hinted"
            self.state = "compiled"
            calls.append(("compile", self.name))

        def run(self, args):
            assert self.state == "compiled", "run before compile"
            assert type(args) is tuple and len(args) == 3
            inputs, assigned_outputs, stream = args
            assert type(inputs) is list and type(assigned_outputs) is list and stream is None
            reuse = _reused_outputs(self.options)
            if assigned_outputs:
                # TorchAir's form: one slot per output, the input tensor where
                # an output reuses that input's memory, None elsewhere.
                assert len(assigned_outputs) == len(self.graph.net_output.data_inputs)
                assert {k for k, t in enumerate(assigned_outputs) if t is not None} == set(reuse)
                assert all(assigned_outputs[k] is inputs[i] for k, i in reuse.items())
            else:
                assert not reuse, "outputs that reuse input memory need assigned_outputs"
            assert len(inputs) == len(self.placements)
            for t, placement, op in zip(inputs, self.placements, self.graph.data_ops):
                assert isinstance(t, torch.Tensor), type(t)
                if placement == 0:
                    assert t.dim() == 0 and t.dtype == torch.int64 and t.device.type == "cpu"
                shape = op.output_descs[0].shape
                assert len(shape) == t.dim()
                assert all(d in (-1, s) for d, s in zip(shape, t.shape)), (op.name, shape)
            calls.append(("run", self.name, len(inputs)))
            # GE copies a Data's input where it must, so an Assign into one
            # need not reach the caller: updates come back as reused outputs.
            snapshot = [t.clone() for t in inputs]
            outs = HostProgram(self.graph, "interpret")(*snapshot)
            for k, out in enumerate(outs):  # GE allocates its outputs
                assert not any(_torch_compat.is_alias_of(out, t) for t in inputs), (
                    "output aliases input"
                )
                if assigned_outputs and assigned_outputs[k] is not None:
                    outs[k] = assigned_outputs[k].copy_(out)
            return outs

    binding = types.SimpleNamespace(
        InitializeGraphEngine=InitializeGraphEngine,
        FinalizeGraphEngine=FinalizeGraphEngine,
        TorchNpuGraphBase=FakeGraph,
    )
    binding.calls = calls
    binding.graphs = graphs
    return binding
