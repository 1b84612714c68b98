"""The installed airgraph-gears distribution and its import agree on the version."""

import importlib.metadata
import re

import airgraph_gears


def test_version_matches_installed_metadata():
    assert airgraph_gears.__version__ == importlib.metadata.version("airgraph-gears")


def test_version_is_semver():
    assert re.fullmatch(r"\d+\.\d+\.\d+", airgraph_gears.__version__)


def test_all_names_exist():
    for name in airgraph_gears.__all__:
        assert hasattr(airgraph_gears, name), name
