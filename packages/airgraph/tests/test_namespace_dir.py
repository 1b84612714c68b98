"""``dir()`` and tab-completion show each namespace's public names, lazy ones included."""

from __future__ import annotations

import rlcompleter

import pytest


def _public(names: list[str]) -> list[str]:
    return [name for name in names if not name.startswith("_")]


@pytest.mark.parametrize("module_name", ["airgraph", "airgraph.inference", "airgraph.configs"])
def test_dir_is_the_public_api(module_name):
    module = __import__(module_name, fromlist=["_"])
    # __all__ lists the lazy names too, so this holds before their first use.
    assert _public(dir(module)) == sorted(_public(module.__all__))
    assert "__name__" in dir(module) and "__doc__" in dir(module)


def test_tab_completion_offers_the_lazy_names():
    import airgraph

    completer = rlcompleter.Completer({"airgraph": airgraph})
    offered = []
    while (match := completer.complete("airgraph.inference.", len(offered))) is not None:
        offered.append(match)
    assert {"airgraph.inference.cache_compile(", "airgraph.inference.set_dim_gears("} <= set(
        offered
    )
    assert "airgraph.inference.importlib" not in offered
