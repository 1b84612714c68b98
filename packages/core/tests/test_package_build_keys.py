"""What surrounds a package build and is not in the build cache's key: no key then.

``torch.export`` traces the host graph through whatever torch modes are in effect:
a default device (``torch.set_default_device``, ``with torch.device(...)``, a torch
function mode) decides where the graph's ``torch.full`` literals live, and a
dispatch mode may rewrite any op. Neither is in the key
(:mod:`airgraph_core.targets.host.package_builds`), so a package built under one
was kept for, and reused by, builds without it.

The digests behind the key (and the warm hints) must never fail a compile: a
custom pass whose ``uuid()`` raises is unkeyed, and a warm-hint digest that raises
costs the hint only.
"""

from __future__ import annotations

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from airgraph_core.targets.host import package_builds

OPTIONS = {"precompile_headers": False}


class _Fill(torch.nn.Module):
    def forward(self, x):
        return (x + torch.full((4,), 1.0, dtype=torch.float32),)


class _Doubling(TorchDispatchMode):
    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        return out * 2 if func is torch.ops.aten.add.Tensor else out


@pytest.fixture(autouse=True)
def _build_cache_on(monkeypatch):
    monkeypatch.setattr(package_builds, "ENABLED", True)


def _key(gm, x):
    return package_builds.build_key(gm, [x], OPTIONS)


def test_no_key_under_a_default_device_or_a_torch_mode():
    gm = torch.fx.symbolic_trace(_Fill())
    x = torch.arange(4.0)
    assert _key(gm, x) is not None
    with torch.device("meta"):  # torch.full in the graph would build a meta tensor
        assert _key(gm, x) is None
    with _Doubling():
        assert _key(gm, x) is None
    assert _key(gm, x) is not None


def test_a_failing_warm_hint_digest_costs_the_hint_only(monkeypatch):
    """The warm-hint digests run before every host Inductor compile: one that raises
    (a custom pass whose ``uuid()`` fails, an Inductor setting that cannot be saved) must
    cost the hint, never the compile."""
    from airgraph_core import _torch_compat
    from airgraph_core.targets.host import warm_hints

    def fails():
        raise RuntimeError("config 'inductor_choices_class' does not implement uuid()")

    compiled = []
    monkeypatch.setattr(_torch_compat, "inductor_settings", fails)
    monkeypatch.setattr(warm_hints, "compile_inductor", lambda gm, t: compiled.append(gm) or gm)
    gm = torch.fx.symbolic_trace(_Fill())
    hints = {(): warm_hints.WarmHint("fx", "graph", "settings")}
    assert warm_hints.compile_hinted(hints, (), gm, [torch.arange(4.0)]) is gm
    assert compiled == [gm] and hints == {}


def test_a_custom_pass_whose_uuid_raises_is_unkeyed():
    from torch._inductor import config

    from airgraph_core import _torch_compat

    class Broken:
        def __call__(self, graph):
            pass

        def uuid(self):
            raise ValueError("no uuid today")

    with config.patch(post_grad_custom_post_pass=Broken()):
        assert "<unkeyed " in _torch_compat.inductor_settings()["custom_passes"]
        assert _key(torch.fx.symbolic_trace(_Fill()), torch.arange(4.0)) is None


def test_only_arguments_the_code_shows_in_full_are_plain():
    node = torch.fx.Graph().placeholder("x")
    plain = [1, 2.5, 1j, True, "s", None, torch.float16, torch.device("cpu"), node, ...]
    assert package_builds._plain_args((plain, {"k": slice(0, 4, 2)}, torch.contiguous_format))
    assert not package_builds._plain_args((slice(0, _Fill()),))
    assert not package_builds._plain_args(({"fn": len},))


def test_tensor_text_never_reads_past_a_shrunk_storage():
    """A tensor whose storage was resized below its size (freed the way FSDP frees a
    parameter's storage) was hashed by reading past the allocation."""
    from airgraph_core.targets.host import warm_hints

    for nbytes in (0, 16):
        t = torch.randn(100_000)
        t.untyped_storage().resize_(nbytes)
        assert warm_hints.OPAQUE in warm_hints.tensor_text(t)
    view = torch.arange(8.0)[2:6]  # an offset view of a whole storage still hashes
    assert warm_hints.OPAQUE not in warm_hints.tensor_text(view)
