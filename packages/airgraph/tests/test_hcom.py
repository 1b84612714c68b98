"""``torchair.patch_for_hcom()``: a no-op with TorchAir's warning on torch >= 2.3.1."""

import logging

import torch

import airgraph as torchair


def test_patch_for_hcom_only_warns(caplog):
    all_reduce = torch.distributed.all_reduce
    with caplog.at_level(logging.WARNING, logger="airgraph"):
        assert torchair.patch_for_hcom() is None
    assert "no need to call patch_for_hcom anymore" in caplog.text
    assert torch.distributed.all_reduce is all_reduce
