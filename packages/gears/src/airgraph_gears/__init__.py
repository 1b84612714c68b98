"""Dynamic gears: a declared set of input shapes served by one trace, compiled as static graphs.

- :func:`set_dim_gears` / :func:`get_dim_gears` mark the sizes an input's dims
  may take (gear 1 included, unlike TorchAir); :func:`normalize_dim_gears`
  validates a gear spec by the same rules. Their errors
  (:class:`GearSpecError`, :class:`GearSpecTypeError`) are also TorchAir's
  ``AssertionError``.
- :data:`MERGE_POLICIES` (``zip``, ``product``) and :func:`merge_gears`
  combine the gears of several dims.
- :class:`GearPlan` lists every shape combination, dispatches a call's
  shapes in O(1) and builds GE's ``ge.inputShape`` / ``ge.dynamicDims``
  options.

Examples:
    >>> import torch
    >>> from airgraph_gears import GearPlan, set_dim_gears
    >>> x1, x2 = torch.ones(2, 2), torch.ones(2, 2)
    >>> set_dim_gears(x1, {0: [2, 4]})
    >>> set_dim_gears(x2, {0: [2, 4]})
    >>> GearPlan.from_tensors([x1, x2], "zip").combinations
    (((2, 2), (2, 2)), ((4, 2), (4, 2)))
"""

from airgraph_gears.errors import GearSpecError, GearSpecTypeError
from airgraph_gears.marks import (
    GEAR_TRACINGS,
    GEARS_ATTR,
    MAX_GEARS_PER_DIM,
    MIN_GEARS_PER_DIM,
    get_dim_gears,
    get_gear_tracing,
    normalize_dim_gears,
    set_dim_gears,
    set_gear_tracing,
)
from airgraph_gears.merge import (
    MAX_COMBINATIONS,
    MERGE_POLICIES,
    MergePolicy,
    merge_gears,
    product_policy,
    zip_policy,
)
from airgraph_gears.plan import GearPlan, Shape, Shapes

__version__ = "0.1.0"

__all__ = [
    "GEAR_TRACINGS",
    "GEARS_ATTR",
    "MAX_COMBINATIONS",
    "MAX_GEARS_PER_DIM",
    "MERGE_POLICIES",
    "MIN_GEARS_PER_DIM",
    "GearPlan",
    "GearSpecError",
    "GearSpecTypeError",
    "MergePolicy",
    "Shape",
    "Shapes",
    "__version__",
    "get_dim_gears",
    "get_gear_tracing",
    "merge_gears",
    "normalize_dim_gears",
    "product_policy",
    "set_dim_gears",
    "set_gear_tracing",
    "zip_policy",
]
