"""The installed airgraph-dynamo distribution and its import agree on the version."""

import importlib.metadata
import re

import airgraph_dynamo


def test_version_matches_installed_metadata():
    assert airgraph_dynamo.__version__ == importlib.metadata.version("airgraph-dynamo")


def test_version_is_semver():
    assert re.fullmatch(r"\d+\.\d+\.\d+", airgraph_dynamo.__version__)


def test_all_names_exist():
    for name in airgraph_dynamo.__all__:
        assert hasattr(airgraph_dynamo, name), name
