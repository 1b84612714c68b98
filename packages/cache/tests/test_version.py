"""The installed airgraph-cache distribution and its import agree on the version."""

import importlib.metadata
import re

import airgraph_cache


def test_version_matches_installed_metadata():
    assert airgraph_cache.__version__ == importlib.metadata.version("airgraph-cache")


def test_version_is_semver():
    assert re.fullmatch(r"\d+\.\d+\.\d+", airgraph_cache.__version__)


def test_all_names_exist():
    for name in airgraph_cache.__all__:
        assert hasattr(airgraph_cache, name), name
