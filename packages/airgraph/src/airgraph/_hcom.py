"""``patch_for_hcom``: TorchAir's switch that made ``torch.distributed`` calls traceable."""

from __future__ import annotations

import logging

import torch

log = logging.getLogger("airgraph.airgraph")


def patch_for_hcom() -> None:
    """Kept for TorchAir's examples; does nothing on the torch versions airgraph supports.

    TorchAir patched ``torch.distributed.all_reduce`` & co. so that Dynamo
    could trace them on torch < 2.3.1. Since then Dynamo traces them into
    functional collectives itself, which airgraph lowers to Hcom ops; like
    TorchAir on those versions, this only warns.

    Examples:
        >>> import airgraph as torchair
        >>> torchair.patch_for_hcom()  # doctest: +SKIP
    """
    if torch.__version__ >= "2.3.1":
        log.warning(
            "For versions 2.3.1 and above of PyTorch, there is no need to call "
            "patch_for_hcom anymore."
        )
