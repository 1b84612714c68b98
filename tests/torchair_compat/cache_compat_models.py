"""Models of TorchAir's cache_compile cases (``torchair_cache_compile_st.py``), our code.

Imported by ``cache_compat_cases.py`` under this fixed module name, so the
models' qualified names (part of the cache key) and the returned dataclasses
and namedtuples (looked up by name on a warm start) are the same in every
process. They mirror TorchAir's inputs: an ``InputMeta`` dataclass, a list
of tensors, prompt/decode methods, ones-initialized ``Linear(2, 1)``.
Compiles run on the host target's interpreter (``host_mode="interpret"``)
to keep the tests fast; the cache path is the same.

This file is a test helper, not a test module (pytest does not collect it).
"""

from __future__ import annotations

import collections
import dataclasses
from typing import Any

import torch

import airgraph as torchair
from airgraph.configs.compiler_config import CompilerConfig


def interpret_config() -> CompilerConfig:
    config = CompilerConfig()
    config.airgraph_config.host_mode = "interpret"
    return config


@dataclasses.dataclass
class InputMeta:
    data: torch.Tensor
    is_prompt: bool


@dataclasses.dataclass
class CustomData:
    last_hidden_state: torch.Tensor = None


Pair = collections.namedtuple("Pair", ["scaled", "shifted"])


def _ones_linear() -> torch.nn.Linear:
    linear = torch.nn.Linear(2, 1)
    for param in linear.parameters():
        torch.nn.init.ones_(param)
    return linear


class PromptDecode(torch.nn.Module):
    """test_cache_hint / test_forbidden_backward / test_cache_hint_gears / test_backend_params."""

    def __init__(self, cache_dir: str, **options: Any) -> None:
        super().__init__()
        self.linear1 = _ones_linear()
        self.linear2 = _ones_linear()
        options.setdefault("config", interpret_config())
        self.cached_prompt = torchair.inference.cache_compile(
            self.prompt, cache_dir=cache_dir, **options
        )
        self.cached_decode = torchair.inference.cache_compile(
            self.decode, cache_dir=cache_dir, **options
        )

    def forward(self, x: InputMeta, y: list[torch.Tensor]):
        if x.is_prompt:
            return self.cached_prompt(x, y)
        return self.cached_decode(x, y)

    def _forward(self, x, y):
        return self.linear2(x.data) + self.linear2(y[0])

    def prompt(self, x, y):
        return self._forward(x, y)

    def decode(self, x, y):
        return self._forward(x, y)


class KwargsModel(torch.nn.Module):
    """test_cache_hint_with_kwargs: the cached method called with x=..."""

    def __init__(self, cache_dir: str) -> None:
        super().__init__()
        self.linear = _ones_linear()
        self.cached_forward = torchair.inference.cache_compile(
            self.raw_forward, config=interpret_config(), cache_dir=cache_dir
        )

    def forward(self, x):
        return self.cached_forward(x=x)

    def raw_forward(self, x):
        return self.linear(x)


class KeywordOnlyModel(torch.nn.Module):
    """test_cache_hint_with_explicit_kwargs: a keyword-only parameter."""

    def __init__(self, cache_dir: str) -> None:
        super().__init__()
        self.linear = _ones_linear()
        self.cached_forward = torchair.inference.cache_compile(
            self.raw_forward, config=interpret_config(), cache_dir=cache_dir
        )

    def forward(self, *, x):
        return self.cached_forward(x=x)

    def raw_forward(self, *, x):
        return self.linear(x)


class ComplexIo(torch.nn.Module):
    """test_cache_hint_for_complex_io_process: sizes, ints and a view returned."""

    def __init__(self, cache_dir: str) -> None:
        super().__init__()
        self.linear1 = _ones_linear()
        self.linear2 = _ones_linear()
        self.cached_prompt = torchair.inference.cache_compile(
            self.prompt, config=interpret_config(), cache_dir=cache_dir
        )

    def forward(self, x, y, z, s1, s2):
        return self.cached_prompt(x, y, z, s1, s2)

    def prompt(self, x, y, z, s1, s2):
        mm1 = self.linear1(x.data) + self.linear2(y[0])
        sum1 = z + mm1.sum()
        ones1 = torch.ones([s1, s2]).view(-1)
        add1 = sum1 + ones1 + s2
        return (add1, add1.shape[0], 2 * s1, y[0].view(2, -1))


class StaticPrompt(torch.nn.Module):
    """test_skip_cache_as_recompile / test_cache_assert_size_stride*: dynamic=False."""

    def __init__(self, cache_dir: str, dynamic: bool = False) -> None:
        super().__init__()
        self.linear = _ones_linear()
        self.cached_prompt = torchair.inference.cache_compile(
            self.prompt, config=interpret_config(), dynamic=dynamic, cache_dir=cache_dir
        )

    def forward(self, x: InputMeta, y: list[torch.Tensor]):
        return self.cached_prompt(x, y)

    def prompt(self, x, y):
        return self.linear(x.data) + self.linear(y[0])


class OuterGlobals(torch.nn.Module):
    """test_use_outer_globals: returns a module-level dataclass."""

    def __init__(self, cache_dir: str) -> None:
        super().__init__()
        self.compiled = torchair.inference.cache_compile(
            self._forward, config=interpret_config(), cache_dir=cache_dir
        )

    def forward(self, x):
        return self.compiled(x)

    def _forward(self, x):
        x = torch.abs(x)
        return CustomData(last_hidden_state=x)


class NamedTupleIo(torch.nn.Module):
    """Issue 14 item 3: a namedtuple argument and a namedtuple return value."""

    def __init__(self, cache_dir: str) -> None:
        super().__init__()
        self.compiled = torchair.inference.cache_compile(
            self._forward, config=interpret_config(), cache_dir=cache_dir
        )

    def forward(self, pair):
        return self.compiled(pair)

    def _forward(self, pair):
        return Pair(pair.scaled * 2, pair.shifted + 1)


class FieldBranch(torch.nn.Module):
    """Issue 14 item 3: the method branches on a dataclass argument's field."""

    def __init__(self, cache_dir: str) -> None:
        super().__init__()
        self.cached = torchair.inference.cache_compile(
            self._forward, config=interpret_config(), cache_dir=cache_dir
        )

    def forward(self, x: InputMeta):
        return self.cached(x)

    def _forward(self, x):
        if x.is_prompt:
            return x.data * 2
        return x.data + 1


#: A module-level tensor the cached method reads (test_cache_with_explicit_module's idea,
#: through cache_compile): read at every call, as TorchAir's cached function reads globals.
OFFSET = torch.full((3,), 10.0)


class GlobalTensor(torch.nn.Module):
    def __init__(self, cache_dir: str) -> None:
        super().__init__()
        self.cached = torchair.inference.cache_compile(
            self._forward, config=interpret_config(), cache_dir=cache_dir
        )

    def forward(self, x):
        return self.cached(x)

    def _forward(self, x):
        return x + OFFSET


class ComplexView(torch.nn.Module):
    """test_view_as_real_dynamic_sym_cache / test_view_as_complex_dynamic_sym_cache."""

    def __init__(self, cache_dir: str, to_real: bool) -> None:
        super().__init__()
        self.to_real = to_real
        self.cached = torchair.inference.cache_compile(
            self._forward, config=interpret_config(), dynamic=True, cache_dir=cache_dir
        )

    def forward(self, x):
        return self.cached(x)

    def _forward(self, x):
        if self.to_real:
            return torch.view_as_real(x)
        return torch.view_as_complex(x)


class AnonymousModule(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.buffer = torch.ones(2, 2)  # a plain attribute, not a registered buffer

    def forward(self, x):
        return torch.add(x, self.buffer)


class AnonymousBuffer(torch.nn.Module):
    """test_cache_hint_for_anonymous_buffer: tensors held as plain attributes."""

    def __init__(self, cache_dir: str) -> None:
        super().__init__()
        self.anonymous = AnonymousModule()
        self.anonymous_buffer = torch.ones(2, 2)
        self.cached_forward = torchair.inference.cache_compile(
            self._forward, config=interpret_config(), cache_dir=cache_dir
        )

    def forward(self, x):
        return self.cached_forward(x)

    def _forward(self, x):
        return self.anonymous(torch.add(x, self.anonymous_buffer))


class AnonymousBufferInList(torch.nn.Module):
    """test_cache_hint_for_anonymous_buffer_with_comma: a module in a plain list."""

    def __init__(self, cache_dir: str) -> None:
        super().__init__()
        self.layers = [AnonymousModule()]  # read as self.layers[0].buffer
        self.cached_forward = torchair.inference.cache_compile(
            self.raw_forward, config=interpret_config(), cache_dir=cache_dir
        )

    def forward(self, x):
        return self.cached_forward(x)

    def raw_forward(self, x):
        return self.layers[0](torch.add(x, x))


# test_decomp: an op of our own with a CPU kernel that is not the decomposition,
# so a result equal to the decomposition's shows the table was used (cold and warm).
_LIBRARY = torch.library.Library("airgraph_compat", "DEF")
_LIBRARY.define("add(Tensor input) -> Tensor")
_LIBRARY.impl("add", lambda t: t.clone(), "CPU")
_LIBRARY.impl("add", lambda t: t.new_empty(t.size()), "Meta")


def times_three(t):
    return t * 3


class Decomposed(torch.nn.Module):
    """test_decomp: custom_decompositions replace the op in the cached graph."""

    def __init__(self, cache_dir: str) -> None:
        super().__init__()
        self.cached = torchair.inference.cache_compile(
            self.inner_forward,
            config=interpret_config(),
            cache_dir=cache_dir,
            custom_decompositions={torch.ops.airgraph_compat.add.default: times_three},
        )

    def forward(self, tensor):
        return self.cached(tensor)

    def inner_forward(self, tensor):
        return torch.ops.airgraph_compat.add(tensor)


class SplitViews(torch.nn.Module):
    """test_codegen_static / test_codegen_dynamic_high: a scalar added, a strided input,
    and split views of an input returned."""

    def __init__(self, cache_dir: str, dynamic: bool) -> None:
        super().__init__()
        self.cached = torchair.inference.cache_compile(
            self._forward, config=interpret_config(), dynamic=dynamic, cache_dir=cache_dir
        )

    def forward(self, t1, t2, t3, s1, s2):
        return self.cached(t1, t2, t3, s1, s2)

    def _forward(self, t1, t2, t3, s1, s2):
        return t1 + s1, t2 + 1, torch.split(t3, s2)


class EmptyAdd(torch.nn.Module):
    """test_empty_tensor_option: inputs with a zero-size dim."""

    def __init__(self, cache_dir: str) -> None:
        super().__init__()
        self.cached_forward = torchair.inference.cache_compile(
            self.raw_forward, config=interpret_config(), dynamic=True, cache_dir=cache_dir
        )

    def forward(self, x, y):
        return self.cached_forward(x, y)

    def raw_forward(self, x, y):
        return torch.add(x, y)


def _closure_model_class() -> type:
    """test_func_use_closure: the method reads tensors and a helper from closure cells."""
    y = torch.ones(2)
    z = torch.ones(2)

    def closure_func(x):
        return torch.add(x, z)

    class ClosureModel(torch.nn.Module):
        def __init__(self, cache_dir: str) -> None:
            super().__init__()
            self.compiled = torchair.inference.cache_compile(
                self._forward, config=interpret_config(), cache_dir=cache_dir
            )

        def forward(self, x):
            return self.compiled(x)

        def _forward(self, x):
            return torch.add(x, closure_func(y))

    return ClosureModel


ClosureModel = _closure_model_class()
