"""Cache keys on a real model: a tiny ``transformers`` GPT-2 (not timed).

Library code is covered as well as the user's: a change in a helper's source,
in the user's file or in the library's, gives another key. To change library
source without touching the installed package, GPT-2's modeling file is copied
into a temporary folder and imported as a submodule of the installed
``transformers.models.gpt2`` package (so its relative imports resolve), once
treated as user code (its own lines per object) and once as installed code
(the whole file per object).
"""

from __future__ import annotations

import importlib.util
import sys

import pytest
import torch

from airgraph_cache import build_key, source_files

transformers = pytest.importorskip("transformers")

pytestmark = pytest.mark.slow

COPY_NAME = "transformers.models.gpt2._airgraph_keytest_modeling"
USER_NAME = "airgraph_keytest_hf_user"

USER_TEMPLATE = """
import torch


def postprocess(logits):
    return logits * {factor}


class Wrapped(torch.nn.Module):
    def __init__(self, lm):
        super().__init__()
        self.lm = lm

    def _forward(self, ids):
        return postprocess(self.lm(input_ids=ids, use_cache=False).logits)
"""


def _import(name, path, monkeypatch):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, name, module)
    spec.loader.exec_module(module)
    return module


def _tiny_config():
    return transformers.GPT2Config(
        n_layer=1, n_embd=32, n_head=2, vocab_size=64, n_positions=16, bos_token_id=0,
        eos_token_id=0,
    )  # fmt: skip


def _key(tmp_path, monkeypatch, name, *, factor="2", library_edit=None):
    """Key of Wrapped(GPT2LMHeadModel) from a copy of GPT-2's modeling file (edited)."""
    lib, user_dir = tmp_path / "lib" / name, tmp_path / "user" / name
    lib.mkdir(parents=True)
    user_dir.mkdir(parents=True)
    source = importlib.util.find_spec("transformers.models.gpt2.modeling_gpt2").origin
    with open(source, encoding="utf-8") as handle:
        text = handle.read()
    if library_edit is not None:
        old, new = library_edit
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    (lib / "modeling.py").write_text(text, encoding="utf-8")
    (user_dir / "user.py").write_text(USER_TEMPLATE.format(factor=factor))
    modeling = _import(COPY_NAME, lib / "modeling.py", monkeypatch)
    user = _import(USER_NAME, user_dir / "user.py", monkeypatch)
    torch.manual_seed(0)
    model = user.Wrapped(modeling.GPT2LMHeadModel(_tiny_config())).eval()
    ids = torch.zeros(1, 8, dtype=torch.long)
    return build_key(model._forward, (ids,), config_fingerprint="cfg", dynamic=False)


# A line of GPT-2's eager attention, a module-level helper its attention class calls.
ATTENTION_EDIT = (
    "\n    attn_weights = nn.functional.softmax(attn_weights, dim=-1)\n",
    "\n    attn_weights = nn.functional.softmax(attn_weights, dim=-1) * 1.0\n",
)


@pytest.fixture(params=["user code", "installed"])
def placement(request, monkeypatch, tmp_path):
    if request.param == "installed":
        # The copied library file counts as installed; the user's file does not.
        roots = source_files.installed_roots() + (str(tmp_path / "lib") + "/",)
        monkeypatch.setattr(source_files, "installed_roots", lambda: roots)
    return request.param


def test_same_sources_give_the_same_key(tmp_path, monkeypatch, placement):
    a = _key(tmp_path, monkeypatch, "a")
    b = _key(tmp_path, monkeypatch, "b")
    assert a.digest() == b.digest()
    assert any(name.startswith(COPY_NAME) for name in a.sources)
    assert any(name.startswith("transformers.modeling_utils") for name in a.sources)


def test_user_helper_change_is_a_miss(tmp_path, monkeypatch, placement):
    a = _key(tmp_path, monkeypatch, "a")
    b = _key(tmp_path, monkeypatch, "b", factor="3")
    assert a.digest() != b.digest()
    assert a.diff(b) == [f"sources.{USER_NAME}.postprocess"]


def test_library_helper_change_is_a_miss(tmp_path, monkeypatch, placement):
    a = _key(tmp_path, monkeypatch, "a")
    b = _key(tmp_path, monkeypatch, "b", library_edit=ATTENTION_EDIT)
    assert a.digest() != b.digest()
    changed = a.diff(b)
    assert f"sources.{COPY_NAME}.eager_attention_forward" in changed
    if placement == "user code":
        # Each object is covered by its own lines: only the edited helper differs.
        assert changed == [f"sources.{COPY_NAME}.eager_attention_forward"]
    else:
        # Installed: every object of the edited file differs, nothing of other files.
        assert all(d.startswith(f"sources.{COPY_NAME}.") for d in changed)
        assert f"sources.{COPY_NAME}.GPT2Attention" in changed
