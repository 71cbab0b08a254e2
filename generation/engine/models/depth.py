"""The depth model: an image (and the lens it was taken with) -> metric depth, for keyframes the
user brings (image to video, start and end frames) and the frames a clip continues from.

One forward pass of a small U-Net regresses the keyframe model's inverse-depth channel, so both
stages hand the 3D cache the same geometry encoding.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from generation.engine.models.blocks import timestep_embedding
from generation.engine.models.keyframe import channel_to_depth, focal_feature, rgb_to_channels
from generation.engine.models.unet import UNet, UNetConfig


@dataclass(frozen=True)
class DepthConfig:
    unet: UNetConfig = field(
        default_factory=lambda: UNetConfig(
            in_channels=3,
            out_channels=1,
            channels=(32, 64, 128),
            blocks=1,
            attention_levels=(2,),
            head_dim=32,
            context_dim=0,
            emb_dim=128,
        )
    )


PRESETS: dict[str, DepthConfig] = {
    "tiny": DepthConfig(
        UNetConfig(
            in_channels=3,
            out_channels=1,
            channels=(8, 16),
            blocks=1,
            attention_levels=(1,),
            head_dim=8,
            context_dim=0,
            emb_dim=16,
        )
    ),
    "base": DepthConfig(),
}


class DepthModel(nn.Module):
    """forward(rgb, focal_mm) -> (B, 1, H, W) inverse-depth channel in about [-1, 1].

    Args (forward):
        rgb: (B, 3, H, W) in [-1, 1]; focal_mm: (B,) the lens (it sets how big things look).
    """

    def __init__(self, cfg: DepthConfig) -> None:
        super().__init__()
        self.cfg = cfg
        d = cfg.unet.emb_dim
        self.lens = nn.Sequential(nn.Linear(d, d), nn.SiLU(), nn.Linear(d, d))
        self.unet = UNet(cfg.unet)

    def forward(self, rgb: Tensor, focal_mm: Tensor) -> Tensor:
        emb = self.lens(timestep_embedding(focal_feature(focal_mm), self.cfg.unet.emb_dim))
        return self.unet(rgb, emb.to(rgb.dtype))


@torch.inference_mode()
def estimate_depth(
    model: DepthModel, rgb: Tensor, focal_mm: float, *, size: tuple[int, int] | None = None
) -> Tensor:
    """Metric z-depth (H, W) of a uint8 (H, W, 3) image seen through a `focal_mm` lens.

    The network runs at `size` (its training resolution: the keyframe size of the image's
    aspect) and the inverse depth is resized back to the image, so an edge stays between its
    two depths instead of spreading a ramp of in-between points.
    """
    h, w = rgb.shape[:2]
    x = rgb_to_channels(rgb)[None]  # (1, 3, H, W)
    if size is not None and size != (h, w):
        x = F.interpolate(x, size=size, mode="bilinear", antialias=True, align_corners=False)
    param = next(model.parameters())
    channel = model(x.to(param), torch.tensor([float(focal_mm)], device=param.device)).float()
    if channel.shape[-2:] != (h, w):
        channel = F.interpolate(channel, size=(h, w), mode="nearest")
    return channel_to_depth(channel[0, 0].clamp(-1, 1)).cpu()
