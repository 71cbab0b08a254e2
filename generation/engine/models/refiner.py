"""The refiner: a cache render (colours, coverage mask, inverse depth) -> the finished frame.

It paints what the cache cannot see (the edge of a pan, a background uncovered by parallax),
closes the gaps splatting leaves, and turns the keyframe's blocky pixels seen closer up into a
sharp picture at twice the keyframe's size. The caption's pooled embedding scales and shifts
every block, so a hole is painted in the prompt's sky, ground and light.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from generation.engine.models.keyframe import depth_to_channel
from generation.engine.models.unet import UNet, UNetConfig
from generation.engine.text import TEXT_DIM

IN_CHANNELS = 5  # RGB, mask, inverse depth


@dataclass(frozen=True)
class RefinerConfig:
    unet: UNetConfig = field(
        default_factory=lambda: UNetConfig(
            in_channels=IN_CHANNELS,
            out_channels=3,
            channels=(32, 64, 96, 128),
            blocks=1,
            attention_levels=(3,),
            head_dim=32,
            context_dim=0,
            emb_dim=128,
        )
    )


PRESETS: dict[str, RefinerConfig] = {
    "tiny": RefinerConfig(
        UNetConfig(
            in_channels=IN_CHANNELS,
            out_channels=3,
            channels=(8, 16),
            blocks=1,
            attention_levels=(1,),
            head_dim=8,
            context_dim=0,
            emb_dim=16,
        )
    ),
    "base": RefinerConfig(),
}


class Refiner(nn.Module):
    """forward(cache, text_pooled) -> (B, 3, H, W) RGB in about [-1, 1].

    Args (forward):
        cache: (B, 5, H, W): cache RGB in [-1, 1] (0 in holes), mask in {-1, 1} (1 = covered),
            inverse-depth channel (-1 in holes and sky).
        text_pooled: (B, 384) pooled caption embedding.
    The network predicts a correction to the cache colours, so covered pixels start right.
    """

    def __init__(self, cfg: RefinerConfig) -> None:
        super().__init__()
        self.cfg = cfg
        d = cfg.unet.emb_dim
        self.text = nn.Sequential(nn.Linear(TEXT_DIM, d), nn.SiLU(), nn.Linear(d, d))
        self.unet = UNet(cfg.unet)

    def forward(self, cache: Tensor, text_pooled: Tensor) -> Tensor:
        emb = self.text(text_pooled.to(cache.dtype))
        return cache[:, :3] + self.unet(cache, emb)


def refiner_input(frames: Tensor, mask: Tensor, depth: Tensor) -> Tensor:
    """(T, 5, H, W) refiner input from a cache render: frames (T, H, W, 3) float in [0, 1],
    mask (T, H, W) bool, depth (T, H, W) metres (inf in holes)."""
    rgb = (frames.permute(0, 3, 1, 2) * 2 - 1) * mask[:, None]
    m = mask[:, None].float() * 2 - 1
    inv = torch.where(mask, depth_to_channel(depth), torch.full_like(depth, -1.0))[:, None]
    return torch.cat([rgb, m, inv], dim=1)
