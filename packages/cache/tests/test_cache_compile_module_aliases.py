"""A graph input Dynamo reaches through its alias of another module (``__import_a_dot_b``).

Dynamo names a global of a function it inlined from another module through
an alias it adds to the traced frame's globals. With ``dynamic=True`` a float
such as ``math.pi`` read that way is a graph input (GPT-2's GELU in
transformers reads it: ``G['__import_transformers_dot_activations'].math.pi``);
the method ran uncached ("cannot replay Dynamo's own global") until the
binding resolved the alias to the module itself, in the cold process and
in a fresh one (where no such global exists).
"""

from __future__ import annotations

import json
import subprocess
import sys

import cache_alias_models
import cache_models
import pytest

from airgraph_cache.binding import dynamo_global

ALIAS = ["global", "__import_cache_alias_helper"]


def test_dynamo_global_resolves_module_and_builtins_aliases():
    assert dynamo_global({"x": 1}, "x") == 1
    assert dynamo_global({}, "__import_cache_alias_helper") is sys.modules["cache_alias_helper"]
    assert dynamo_global({}, "__builtins_dict___0")["len"] is len
    with pytest.raises(KeyError):
        dynamo_global({}, "__import_no_such_module_dot_here")
    with pytest.raises(KeyError):
        dynamo_global({}, "missing")


def test_a_float_through_a_module_alias_is_a_cached_input(tmp_path):
    result = cache_alias_models.run(str(tmp_path))
    # Compiled and published, not "uncached"; the second batch size reuses the program.
    assert result["statuses"] == ["compiled", "compiled"], result
    assert max(result["errors"]) <= cache_models.ATOL, result
    assert [ALIAS, ["attr", "math"], ["attr", "pi"], ["float_tensor"]] in result["paths"], result


@pytest.mark.slow  # fresh processes
def test_a_float_through_a_module_alias_on_a_warm_start(tmp_path):
    code = "import sys; sys.path.insert(0, sys.argv[1]); import cache_alias_models as m; m.main(sys.argv[2:])"
    runs = []
    for _ in ("cold", "warm"):
        proc = subprocess.run(
            [sys.executable, "-c", code, str(cache_models.HERE), str(tmp_path)],
            capture_output=True,
            text=True,
            timeout=300,
            env=cache_models.child_env(),
        )
        assert proc.returncode == 0, proc.stderr[-4000:]
        runs.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    cold, warm = runs
    assert cold["statuses"] == ["compiled", "compiled"], cold
    assert warm["statuses"] == ["hit", "hit"], warm
    assert max(cold["errors"] + warm["errors"]) <= cache_models.ATOL, (cold, warm)
