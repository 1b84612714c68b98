"""Makes the test helper ``cache_models`` importable by its fixed name.

The cache key holds the model's qualified name, so the helper must be
``cache_models`` both here and in the fresh processes the tests start.
"""

import sys
from pathlib import Path

HERE = str(Path(__file__).resolve().parent)
if HERE not in sys.path:
    sys.path.insert(0, HERE)
