"""The installed airgraph-cli distribution and its import agree on the version."""

import importlib.metadata
import re

import airgraph_cli


def test_version_matches_installed_metadata():
    assert airgraph_cli.__version__ == importlib.metadata.version("airgraph-cli")


def test_version_is_semver():
    assert re.fullmatch(r"\d+\.\d+\.\d+", airgraph_cli.__version__)


def test_all_names_exist():
    for name in airgraph_cli.__all__:
        assert hasattr(airgraph_cli, name), name
