"""The keyframe model: a caption (and lens) -> an RGB-D keyframe, by flow matching in pixels.

The network predicts the velocity ``noise - x0`` of the straight path between an image ``x0``
and Gaussian noise. An image is four channels in [-1, 1]: linear-in-display RGB and inverse depth
(`depth_to_channel`), so one sample gives the colours and the geometry the 3D cache is built from.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from generation.engine.camera import FOCAL_RANGE_MM
from generation.engine.models.blocks import timestep_embedding
from generation.engine.models.unet import UNet, UNetConfig
from generation.engine.text import TEXT_DIM

NEAREST_M = 1.0
"""Inverse depth is scaled so this distance (and anything nearer) is the channel's maximum."""


def depth_to_channel(depth: Tensor) -> Tensor:
    """z-depth in metres (inf for sky) -> inverse-depth channel in [-1, 1] (sky = -1)."""
    inv = (NEAREST_M / depth.clamp(min=1e-6)).clamp(0.0, 1.0)
    return inv * 2.0 - 1.0


def channel_to_depth(channel: Tensor, far_m: float = 1_000.0) -> Tensor:
    """Inverse of `depth_to_channel`; the sky (and anything beyond `far_m`) comes back at far_m."""
    inv = ((channel.float() + 1.0) * 0.5).clamp(min=NEAREST_M / far_m)
    return NEAREST_M / inv


def rgb_to_channels(rgb: Tensor) -> Tensor:
    """uint8 (..., H, W, 3) -> float (..., 3, H, W) in [-1, 1]."""
    return rgb.movedim(-1, -3).float() / 127.5 - 1.0


def channels_to_rgb(x: Tensor) -> Tensor:
    """float (..., 3, H, W) in [-1, 1] -> uint8 (..., H, W, 3)."""
    return ((x.float().clamp(-1, 1) + 1.0) * 127.5).round().to(torch.uint8).movedim(-3, -1)


def focal_feature(focal_mm: Tensor) -> Tensor:
    """Focal length -> [0, 1] on a log scale over the lens range."""
    lo, hi = FOCAL_RANGE_MM
    return (torch.log(focal_mm.float()) - math.log(lo)) / (math.log(hi) - math.log(lo))


@dataclass(frozen=True)
class KeyframeConfig:
    unet: UNetConfig = field(default_factory=UNetConfig)


PRESETS: dict[str, KeyframeConfig] = {
    "tiny": KeyframeConfig(
        UNetConfig(channels=(16, 32), blocks=1, attention_levels=(1,), head_dim=16, emb_dim=32)
    ),
    "base": KeyframeConfig(UNetConfig(channels=(64, 128, 256))),
}


class KeyframeModel(nn.Module):
    """forward(x, t, text_tokens, text_mask, text_pooled, focal_mm) -> velocity.

    Args (forward):
        x: (B, 4, H, W) noisy RGB-D at time t; t: (B,) in [0, 1] (1 = noise).
        text_tokens: (B, L, 384) MiniLM states; text_mask: (B, L) bool; text_pooled: (B, 384).
        focal_mm: (B,) the lens the keyframe is seen through (it sets the field of view).
    Returns:
        (B, 4, H, W) velocity.
    """

    def __init__(self, cfg: KeyframeConfig) -> None:
        super().__init__()
        self.cfg = cfg
        d = cfg.unet.emb_dim
        self.time = nn.Sequential(nn.Linear(d, d), nn.SiLU(), nn.Linear(d, d))
        self.text = nn.Sequential(nn.Linear(TEXT_DIM, d), nn.SiLU(), nn.Linear(d, d))
        self.lens = nn.Sequential(nn.Linear(d, d), nn.SiLU(), nn.Linear(d, d))
        self.unet = UNet(cfg.unet)

    def forward(
        self,
        x: Tensor,
        t: Tensor,
        text_tokens: Tensor,
        text_mask: Tensor,
        text_pooled: Tensor,
        focal_mm: Tensor,
    ) -> Tensor:
        d = self.cfg.unet.emb_dim
        emb = (
            self.time(timestep_embedding(t, d).to(x.dtype))
            + self.text(text_pooled.to(x.dtype))
            + self.lens(timestep_embedding(focal_feature(focal_mm), d).to(x.dtype))
        )  # (B, d)
        return self.unet(x, emb, text_tokens.to(x.dtype), text_mask)
