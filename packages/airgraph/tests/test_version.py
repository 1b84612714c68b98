"""The installed airgraph distribution and its import agree on the version."""

import importlib.metadata
import re

import airgraph


def test_version_matches_installed_metadata():
    assert airgraph.__version__ == importlib.metadata.version("airgraph")


def test_version_is_semver():
    assert re.fullmatch(r"\d+\.\d+\.\d+", airgraph.__version__)


def test_all_names_exist():
    for name in airgraph.__all__:
        assert hasattr(airgraph, name), name
