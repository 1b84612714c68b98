"""The torch.compile backend of airgraph.

Coming: ``CompilerConfig``, ``get_npu_backend`` / ``get_compiler`` and the
backend itself (AOTAutograd, decompositions, static marks, gears, fallbacks).
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
