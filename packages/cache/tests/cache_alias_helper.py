"""A function of another module than the cached method's (test helper, not collected).

It reads ``math`` from this module's globals. When Dynamo inlines it into a
method of ``cache_alias_models``, it names that global through an alias it
adds to the method's frame, ``__import_cache_alias_helper``, as it does for
``transformers.activations`` in GPT-2's GELU (``math.pi``).
"""

import math


def scale_by_pi(x):
    return x * math.pi
