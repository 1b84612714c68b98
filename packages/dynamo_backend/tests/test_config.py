"""CompilerConfig: defaults, validation (every rule), equality, hashing, printing."""

from __future__ import annotations

import subprocess
import sys

import pytest

from airgraph_dynamo import CompilerConfig

CHOICES = {
    "inference_config.dynamic_gears_merge_policy": ("zip", ("zip", "product")),
    "debug.graph_dump.type": (None, (None, "txt", "pbtxt", "py")),
    "airgraph_config.target": ("auto", ("auto", "npu", "host")),
    "airgraph_config.host_mode": ("inductor", ("inductor", "interpret")),
    "airgraph_config.gear_compile": ("eager", ("eager", "lazy", "background")),
    "airgraph_config.out_of_gear": ("error", ("error", "pad", "fallback")),
    "airgraph_config.unsupported_op": ("error", ("error", "fallback")),
}


def _node(config, path):
    *parents, leaf = path.split(".")
    node = config
    for part in parents:
        node = getattr(node, part)
    return node, leaf


def _set(config, path, value):
    node, leaf = _node(config, path)
    setattr(node, leaf, value)


def _get(config, path):
    node, leaf = _node(config, path)
    return getattr(node, leaf)


def test_defaults():
    config = CompilerConfig()
    for path, (default, _allowed) in CHOICES.items():
        assert _get(config, path) == default, path
    assert config.debug.graph_dump.path is None
    assert config.experimental_config.frozen_parameter is False


@pytest.mark.parametrize(
    "path,value", [(p, v) for p, (_d, allowed) in CHOICES.items() for v in allowed]
)
def test_every_allowed_value_is_accepted(path, value):
    config = CompilerConfig()
    _set(config, path, value)
    assert _get(config, path) == value


@pytest.mark.parametrize("path", list(CHOICES))
@pytest.mark.parametrize("bad", ["bogus", 1, True, "ZIP "])
def test_bad_value_lists_allowed_values(path, bad):
    config = CompilerConfig()
    with pytest.raises(ValueError) as info:
        _set(config, path, bad)
    message = str(info.value)
    assert path in message and repr(bad) in message
    for allowed in CHOICES[path][1]:
        assert repr(allowed) in message
    assert _get(config, path) == CHOICES[path][0], "a rejected value must not stick"


@pytest.mark.parametrize("bad", [1, 0, "true", None])
def test_frozen_parameter_must_be_bool(bad):
    config = CompilerConfig()
    with pytest.raises(TypeError, match=r"experimental_config\.frozen_parameter: expected a bool"):
        config.experimental_config.frozen_parameter = bad
    config.experimental_config.frozen_parameter = True
    assert config.experimental_config.frozen_parameter is True


def test_dump_path_accepts_folders_and_pathlike(tmp_path):
    config = CompilerConfig()
    config.debug.graph_dump.path = tmp_path
    assert config.debug.graph_dump.path == str(tmp_path)
    config.debug.graph_dump.path = str(tmp_path / "not-yet")  # created at dump time
    config.debug.graph_dump.path = None


@pytest.mark.parametrize("bad", [3, b"dir", ["a"]])
def test_dump_path_rejects_non_paths(bad):
    with pytest.raises(TypeError, match=r"debug\.graph_dump\.path: expected a folder path"):
        CompilerConfig().debug.graph_dump.path = bad


def test_dump_path_rejects_empty_and_files(tmp_path):
    config = CompilerConfig()
    with pytest.raises(ValueError, match="empty string"):
        config.debug.graph_dump.path = ""
    a_file = tmp_path / "f.txt"
    a_file.write_text("x")
    with pytest.raises(ValueError, match="is not a folder"):
        config.debug.graph_dump.path = a_file


@pytest.mark.parametrize(
    "parent,name,known",
    [
        ("", "frozen_parameter", "inference_config, debug, experimental_config, airgraph_config"),
        ("inference_config", "dynamic_gears_merge", "dynamic_gears_merge_policy"),
        ("debug", "graph", "graph_dump"),
        ("debug.graph_dump", "typ", "type, path"),
        ("experimental_config", "frozen_parameters", "frozen_parameter"),
        ("airgraph_config", "targte", "target, host_mode"),
    ],
)
def test_unknown_attribute_lists_known_names(parent, name, known):
    config = CompilerConfig()
    node = _node(config, f"{parent}.x")[0] if parent else config
    with pytest.raises(AttributeError) as info:
        setattr(node, name, "zip")
    assert repr(name) in str(info.value) and known in str(info.value)
    with pytest.raises(AttributeError, match="known: "):
        getattr(node, name)


def test_unknown_attribute_suggests_close_name():
    with pytest.raises(AttributeError, match="did you mean 'target'"):
        CompilerConfig().airgraph_config.targte = "host"


def test_groups_cannot_be_replaced_or_options_deleted():
    config = CompilerConfig()
    with pytest.raises(AttributeError, match="group of options.*known: graph_dump"):
        config.debug = {}
    with pytest.raises(AttributeError, match="cannot be deleted"):
        del config.airgraph_config.target


def test_equality_and_hash_follow_values():
    a, b = CompilerConfig(), CompilerConfig()
    assert a == b and hash(a) == hash(b) and a.fingerprint() == b.fingerprint()
    b.airgraph_config.target = "host"
    assert a != b and a.fingerprint() != b.fingerprint()
    a.airgraph_config.target = "host"
    assert a == b and hash(a) == hash(b)
    assert {a: 1}[b] == 1
    assert a != object()


@pytest.mark.slow
def test_fingerprint_is_stable_across_processes():
    config = CompilerConfig()
    config.inference_config.dynamic_gears_merge_policy = "product"
    code = (
        "from airgraph_dynamo import CompilerConfig\n"
        "c = CompilerConfig()\n"
        "c.inference_config.dynamic_gears_merge_policy = 'product'\n"
        "print(c.fingerprint())\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == config.fingerprint()
    assert len(out) == 64 and int(out, 16) >= 0


def test_repr_shows_non_defaults_only():
    config = CompilerConfig()
    assert repr(config) == "CompilerConfig()"
    config.airgraph_config.target = "host"
    config.debug.graph_dump.type = "txt"
    assert repr(config) == (
        "CompilerConfig(debug.graph_dump.type='txt', airgraph_config.target='host')"
    )
    assert repr(config.airgraph_config) == "AirgraphConfig(target='host')"
    text = config.describe()
    assert "airgraph_config.target = 'host'   # changed" in text
    assert "airgraph_config.host_mode = 'inductor'\n" in text


def test_as_dict_from_dict_round_trip():
    config = CompilerConfig()
    config.experimental_config.frozen_parameter = True
    config.airgraph_config.unsupported_op = "fallback"
    d = config.as_dict()
    assert d["experimental_config"] == {"frozen_parameter": True}
    assert d["debug"] == {"graph_dump": {"type": None, "path": None}}
    assert CompilerConfig.from_dict(d) == config
    assert CompilerConfig.from_dict({}) == CompilerConfig()
    with pytest.raises(ValueError, match="unsupported_op"):
        CompilerConfig.from_dict({"airgraph_config": {"unsupported_op": "skip"}})
    with pytest.raises(AttributeError, match="known"):
        CompilerConfig.from_dict({"nope": 1})
    with pytest.raises(TypeError, match="expected a dict"):
        CompilerConfig.from_dict({"debug": 3})


def test_copy_is_independent():
    config = CompilerConfig()
    clone = config.copy()
    clone.debug.graph_dump.type = "py"
    assert config.debug.graph_dump.type is None
    assert clone != config
