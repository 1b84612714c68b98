"""Decoder and video models as tests (issue 15 item 4): a U-Net-style decoder (transposed
convolution, bilinear and nearest upsampling, skip concatenations) and a small
`transformers` VideoMAE (conv3d tubelet patch embedding) with random weights, compiled
with the host backend in static and ``dynamic=True`` mode, each matching eager at
float32 1e-4. The dynamic compile also runs at a second batch size. Under
``dynamic=True`` only the batch stays symbolic: the other input dims are marked static,
since the transposed and 3-D convolution converters need static channel and spatial
sizes (GE's ``Conv2DBackpropInput`` takes them in ``input_size``; the float32 3-D
convolution is unrolled over the kernel's depth taps) and refuse symbolic ones."""

from __future__ import annotations

import pytest
import torch
import torch._dynamo
import torch.nn.functional as F
from torch import nn

from airgraph_dynamo import get_npu_backend

pytestmark = [
    pytest.mark.slow,
    # torch's own warning about transformers' lru_cache-wrapped helpers, raised while tracing.
    pytest.mark.filterwarnings("ignore:Dynamo detected a call to a `functools.lru_cache`"),
]
TOL = {"atol": 1e-4, "rtol": 1e-4}


def _block(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=1), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)
    )


class UNetDecoder(nn.Module):
    """A two-level U-Net: strided/pooled encoder, decoder that upsamples three ways.

    Level 2 -> 1 upsamples with a ConvTranspose2d (stride 2), level 1 -> 0 with
    bilinear interpolation (align_corners=False), and the head adds a nearest-upsampled
    coarse prediction; each decoder level concatenates the encoder's skip features.
    """

    def __init__(self, c: int = 4) -> None:
        super().__init__()
        self.enc0 = _block(3, c)
        self.enc1 = _block(c, 2 * c)
        self.enc2 = nn.Sequential(nn.Conv2d(2 * c, 4 * c, 3, stride=2, padding=1), nn.ReLU())
        self.up2 = nn.ConvTranspose2d(4 * c, 2 * c, kernel_size=2, stride=2)
        self.dec1 = _block(4 * c, 2 * c)
        self.dec0 = _block(3 * c, c)
        self.head = nn.Conv2d(c, 2, 1)
        self.coarse = nn.Conv2d(4 * c, 2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s0 = self.enc0(x)
        s1 = self.enc1(F.max_pool2d(s0, 2))
        bottom = self.enc2(s1)
        d1 = self.dec1(torch.cat([self.up2(bottom), s1], dim=1))
        d0 = F.interpolate(d1, scale_factor=2, mode="bilinear", align_corners=False)
        d0 = self.dec0(torch.cat([d0, s0], dim=1))
        coarse = F.interpolate(self.coarse(bottom), scale_factor=4, mode="nearest")
        return self.head(d0) + coarse


def _unet():
    return UNetDecoder(), (3, 16, 16)


class LastHidden(nn.Module):
    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model(x).last_hidden_state


def _videomae():
    transformers = pytest.importorskip("transformers")
    # 4 frames of 16x16, tubelets of 2 frames x 8x8 pixels: a Conv3d patch embedding
    # (kernel = stride = (2, 8, 8)) into 8 tokens, then one transformer layer.
    cfg = transformers.VideoMAEConfig(
        image_size=16,
        patch_size=8,
        num_frames=4,
        tubelet_size=2,
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
    )
    return LastHidden(transformers.VideoMAEModel(cfg)), (4, 3, 16, 16)


MODELS = {"unet_decoder": _unet, "videomae": _videomae}
CASES = [
    pytest.param(name, dyn, id=f"{name}-{'dyn' if dyn else 'static'}")
    for name in MODELS
    for dyn in (False, True)
]


@pytest.mark.parametrize(("name", "dynamic"), CASES)
def test_model_matches_eager(name, dynamic, make_config):
    torch.manual_seed(0)
    model, sample_shape = MODELS[name]()
    model = model.eval()
    compiled = torch.compile(
        model, backend=get_npu_backend(compiler_config=make_config()), dynamic=dynamic
    )
    batches = (2, 3) if dynamic else (2,)
    with torch.no_grad():
        for batch in batches:
            x = torch.randn(batch, *sample_shape)
            if dynamic:
                torch._dynamo.mark_static(x, list(range(1, x.dim())))
            torch.testing.assert_close(compiled(x), model(x), **TOL)
