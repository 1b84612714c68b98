"""arguments.config_of_backend: cache_compile's backend= next to config=, as TorchAir takes them."""

from __future__ import annotations

import pytest

from airgraph_cache.arguments import BACKEND_CONFIG_MISMATCH, config_of_backend
from airgraph_dynamo import CompilerConfig, get_npu_backend


def _config(mode="interpret"):
    config = CompilerConfig()
    config.airgraph_config.host_mode = mode
    return config


def test_no_backend_keeps_the_config():
    config = _config()
    assert config_of_backend(None, config) is config
    assert config_of_backend(None, None) is None


def test_the_backend_config_is_used_without_config():
    backend = get_npu_backend(compiler_config=_config())
    assert config_of_backend(backend, None) == _config()


def test_an_equal_config_is_accepted_a_different_one_refused():
    config = _config()
    backend = get_npu_backend(compiler_config=config)
    assert config_of_backend(backend, config) is config
    assert config_of_backend(backend, _config()) == config  # equal by value: our backend copies
    with pytest.raises(ValueError) as info:
        config_of_backend(backend, _config("inductor"))
    assert str(info.value) == BACKEND_CONFIG_MISMATCH


@pytest.mark.parametrize("backend", ["inductor", object(), lambda gm, inputs: gm])
def test_other_backends_are_refused(backend):
    with pytest.raises(
        TypeError, match="backend: expected a backend from airgraph.get_npu_backend"
    ):
        config_of_backend(backend, None)
