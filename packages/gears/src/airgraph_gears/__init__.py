"""Dynamic gears: a declared set of input shapes compiled once as static graphs.

Coming: ``set_dim_gears``, gear specs and their validation, the merge policies
(``zip``, ``product``), gear plans and shape -> gear dispatch.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
