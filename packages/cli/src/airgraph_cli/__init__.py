"""The ``airgraph`` command.

Run ``airgraph --version`` for the installed airgraph packages and
``airgraph ops`` for the table of supported ATen operators.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
