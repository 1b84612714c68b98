"""Cross-package version rules: siblings by compatible range, exact pins only in the meta-package."""

import importlib.metadata

import pytest
from packaging.requirements import Requirement

SIBLINGS = ("airgraph-core", "airgraph-gears", "airgraph-dynamo", "airgraph-cache", "airgraph-cli")


def _airgraph_requirements(dist: str) -> list[Requirement]:
    requirements = [Requirement(r) for r in importlib.metadata.requires(dist) or []]
    return [r for r in requirements if r.name.startswith("airgraph") and r.marker is None]


def test_meta_package_pins_every_sibling_at_its_installed_version():
    pins = {r.name: r.specifier for r in _airgraph_requirements("airgraph")}
    assert set(pins) == set(SIBLINGS)
    for name, specifier in pins.items():
        installed = importlib.metadata.version(name)
        assert str(specifier) == f"=={installed}", name


@pytest.mark.parametrize("dist", SIBLINGS)
def test_siblings_depend_on_each_other_by_compatible_range(dist):
    for requirement in _airgraph_requirements(dist):
        assert not any(s.operator == "==" for s in requirement.specifier), requirement
        assert importlib.metadata.version(requirement.name) in requirement.specifier
