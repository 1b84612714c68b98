"""The compile cache: save a compilation to disk and skip Dynamo on later starts.

- :func:`cache_compile` / :class:`CachedFunction` (``compile``): wrap a method;
  the first start compiles through Dynamo and records the program, its
  guards and its inputs' layout; later starts load it and check the guards
  without Dynamo.
- :class:`CacheKey` / :func:`build_key` (``keys``): everything that can change
  a compilation's result, hashed into the entry's name; the pieces come from
  ``sources`` (code fingerprints) and ``signature`` (inputs, module state).
- :class:`ArtifactStore` (``store``): per-key, per-rank entry folders,
  published atomically under a bounded file lock, signed with a per-user key
  and verified (signature, then sha256) on load, refused when not owned by
  the current user or writable by others.
- :func:`export_entries` / :func:`import_archive` (``entry_archive``) and
  :func:`describe_ranks` / :func:`select_for_prune` (``entry_pruning``): what
  ``airgraph cache export|import|prune`` use.
- :func:`readable_cache` (``readable``): print what an entry holds.

Nothing in the cache is unpickled, and nothing is executed while an entry
is verified: artifacts are raw bytes and the manifest is strict JSON
(:func:`safe_json_loads`); a ``ge_cache`` host package (native code) is
loaded only from entries signed with your key.
"""

from airgraph_cache.compile import DEFAULT_CACHE_DIR, CachedFunction, cache_compile
from airgraph_cache.entry_archive import ArchiveError, ImportReport, export_entries, import_archive
from airgraph_cache.entry_pruning import RankInfo, describe_ranks, select_for_prune
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
    "ArchiveError",
    "ArtifactStore",
    "CacheEntry",
    "CacheError",
    "CacheIntegrityError",
    "CacheKey",
    "CacheSecurityError",
    "ImportReport",
    "RankInfo",
    "RankMismatchError",
    "__version__",
    "build_key",
    "cann_version",
    "decompositions_fingerprint",
    "describe_inputs",
    "describe_module_state",
    "describe_ranks",
    "export_entries",
    "import_archive",
    "package_versions",
    "rank_folder",
    "readable_cache",
    "safe_json_loads",
    "select_for_prune",
    "source_fingerprint",
]
