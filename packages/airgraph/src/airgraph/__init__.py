"""airgraph: a TorchAir-compatible torch.compile backend for Ascend NPUs.

This meta-package installs every airgraph package and re-exports the
TorchAir-compatible API, so that ``import airgraph as torchair`` runs TorchAir
examples unchanged.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
