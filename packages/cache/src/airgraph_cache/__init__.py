"""The compile cache: save a compilation to disk and skip Dynamo on later starts.

This release holds the storage layer that ``cache_compile`` (coming next)
builds on:

- :class:`CacheKey` / :func:`build_key` (``keys``): everything that can change
  a compilation's result, hashed into the entry's name; the pieces come from
  ``sources`` (code fingerprints) and ``signature`` (inputs, module state).
- :class:`ArtifactStore` (``store``): per-key, per-rank entry folders,
  published atomically under a file lock, verified by sha256 on load, refused
  when not owned by the current user or writable by others.
- :func:`readable_cache` (``readable``): print what an entry holds.

Nothing in the cache is unpickled or executed: artifacts are raw bytes and
the manifest is strict JSON (:func:`safe_json_loads`).
"""

from airgraph_cache.compile import DEFAULT_CACHE_DIR, CachedFunction, cache_compile
from airgraph_cache.keys import KEY_FORMAT, CacheKey, build_key, cann_version, package_versions
from airgraph_cache.manifest import MANIFEST_NAME, safe_json_loads
from airgraph_cache.rank_agreement import RankMismatchError
from airgraph_cache.readable import readable_cache
from airgraph_cache.signature import describe_inputs, describe_module_state
from airgraph_cache.sources import decompositions_fingerprint, source_fingerprint
from airgraph_cache.store import (
    ArtifactStore,
    CacheEntry,
    CacheError,
    CacheIntegrityError,
    CacheSecurityError,
    rank_folder,
)

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_CACHE_DIR",
    "CachedFunction",
    "cache_compile",
    "KEY_FORMAT",
    "MANIFEST_NAME",
    "ArtifactStore",
    "CacheEntry",
    "CacheError",
    "CacheIntegrityError",
    "CacheKey",
    "CacheSecurityError",
    "RankMismatchError",
    "__version__",
    "build_key",
    "cann_version",
    "decompositions_fingerprint",
    "describe_inputs",
    "describe_module_state",
    "package_versions",
    "rank_folder",
    "readable_cache",
    "safe_json_loads",
    "source_fingerprint",
]
