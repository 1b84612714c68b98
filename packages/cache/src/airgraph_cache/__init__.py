"""The compile cache: save a compilation to disk and skip Dynamo on later starts.

Coming: ``cache_compile``, cache keys, on-disk artifacts, locking, integrity
checks and guard bypass.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
