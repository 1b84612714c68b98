"""Makes the test helper ``cache_models`` importable by its fixed name.

The cache key holds the model's qualified name, so the helper must be
``cache_models`` both here and in the fresh processes the tests start.
"""

import sys
from pathlib import Path

HERE = str(Path(__file__).resolve().parent)
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import pytest  # noqa: E402


@pytest.fixture(scope="session", autouse=True)
def signing_key_outside_home(tmp_path_factory):
    """Every cache test (and the processes it starts) signs with a key under a temporary folder.

    No test reads or creates the real ``~/.config/airgraph/key``.
    """
    path = tmp_path_factory.mktemp("airgraph_key") / "config" / "key"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AIRGRAPH_CACHE_KEY", str(path))
        yield path
