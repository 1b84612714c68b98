"""Every CLI test (and the processes it starts) signs cache entries with a key under a
temporary folder: no test reads or creates the real ``~/.config/airgraph/key``."""

import pytest


@pytest.fixture(scope="session", autouse=True)
def signing_key_outside_home(tmp_path_factory):
    path = tmp_path_factory.mktemp("airgraph_key") / "config" / "key"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AIRGRAPH_CACHE_KEY", str(path))
        yield path
