"""TorchAir's ``torchair.npu_fx_compiler``: ``get_npu_backend`` and ``get_compiler``.

Both are airgraph_dynamo's (:func:`airgraph_dynamo.get_npu_backend`,
:func:`airgraph_dynamo.get_compiler`).
"""

from airgraph_dynamo import get_compiler, get_npu_backend

__all__ = ["get_compiler", "get_npu_backend"]
