"""A conditional U-Net over 2 x 2-folded pixels: the shared body of the keyframe, depth and
refiner networks.

The input is folded (pixel unshuffle) so the first level runs at half resolution with four times
the channels: the same receptive field for a quarter of the convolution positions, which is what
makes 64-pixel images trainable on two CPU cores. Attention (self, then cross to context tokens)
runs at the coarse levels only.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from generation.engine.models.blocks import (
    Attention,
    ResBlock,
    coordinate_channels,
    group_norm,
    pad_to_multiple,
)


@dataclass(frozen=True)
class UNetConfig:
    """Args:
    in_channels: image channels in (before folding); out_channels: channels predicted.
    channels: width per level (each level halves the resolution of the one before).
    blocks: residual blocks per level on the way down (one more on the way up).
    attention_levels: levels with self- and cross-attention.
    head_dim: attention head width.
    context_dim: width of the cross-attention tokens (0: no cross-attention).
    emb_dim: width of the conditioning embedding that scales and shifts every block.
    """

    in_channels: int = 4
    out_channels: int = 4
    channels: tuple[int, ...] = (96, 192, 256)
    blocks: int = 2
    attention_levels: tuple[int, ...] = (1, 2)
    head_dim: int = 64
    context_dim: int = 384
    emb_dim: int = 512

    @property
    def multiple(self) -> int:
        """Heights and widths are padded to this inside the network."""
        return 2 ** len(self.channels)


class UNet(nn.Module):
    """forward(x, emb, context, mask) -> (B, out_channels, H, W) for x (B, in_channels, H, W).

    `emb` (B, emb_dim) is the caller's conditioning embedding (time, pooled text, lens...);
    `context` (B, L, context_dim) with `mask` (B, L) are the cross-attention tokens.
    """

    def __init__(self, cfg: UNetConfig) -> None:
        super().__init__()
        self.cfg = cfg
        ch = cfg.channels
        self.stem = nn.Conv2d(4 * cfg.in_channels + 2, ch[0], 3, padding=1)
        self.down = nn.ModuleList()
        skips = [ch[0]]
        c = ch[0]
        for level, width in enumerate(ch):
            for _ in range(cfg.blocks):
                self.down.append(self._stage(c, width, level))
                c = width
                skips.append(c)
            if level < len(ch) - 1:
                self.down.append(nn.Conv2d(c, c, 3, stride=2, padding=1))
                skips.append(c)
        self.mid = nn.ModuleList(
            [
                ResBlock(c, c, cfg.emb_dim),
                self._attention(c),
                ResBlock(c, c, cfg.emb_dim),
            ]
        )
        self.up = nn.ModuleList()
        for level in reversed(range(len(ch))):
            for _ in range(cfg.blocks + 1):
                self.up.append(self._stage(c + skips.pop(), ch[level], level))
                c = ch[level]
            if level > 0:
                self.up.append(nn.Upsample(scale_factor=2, mode="nearest"))
                self.up.append(nn.Conv2d(c, c, 3, padding=1))
        self.head_norm = group_norm(c)
        self.head = nn.Conv2d(c, 4 * cfg.out_channels, 3, padding=1)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    def _attention(self, c: int) -> Attention:
        return Attention(c, max(1, c // self.cfg.head_dim), self.cfg.context_dim)

    def _stage(self, c_in: int, c_out: int, level: int) -> nn.ModuleList:
        stage = nn.ModuleList([ResBlock(c_in, c_out, self.cfg.emb_dim)])
        if level in self.cfg.attention_levels:
            stage.append(self._attention(c_out))
        return stage

    @staticmethod
    def _run(stage: nn.ModuleList, h: Tensor, emb: Tensor, context, mask) -> Tensor:
        for layer in stage:
            h = layer(h, emb) if isinstance(layer, ResBlock) else layer(h, context, mask)
        return h

    def forward(
        self,
        x: Tensor,
        emb: Tensor,
        context: Tensor | None = None,
        mask: Tensor | None = None,
    ) -> Tensor:
        x, (height, width) = pad_to_multiple(x, 2 * self.cfg.multiple)
        h = F.pixel_unshuffle(x, 2)  # (B, 4 C_in, H/2, W/2)
        h = torch.cat([h, coordinate_channels(h.shape[0], *h.shape[-2:], like=h)], dim=1)
        h = self.stem(h)
        skips = [h]
        for layer in self.down:
            h = (
                self._run(layer, h, emb, context, mask)
                if isinstance(layer, nn.ModuleList)
                else layer(h)
            )
            skips.append(h)
        for layer in self.mid:
            h = layer(h, emb) if isinstance(layer, ResBlock) else layer(h, context, mask)
        for layer in self.up:
            if isinstance(layer, nn.ModuleList):
                h = self._run(layer, torch.cat([h, skips.pop()], dim=1), emb, context, mask)
            else:
                h = layer(h)
        out = self.head(F.silu(self.head_norm(h)))  # (B, 4 C_out, H/2, W/2)
        return F.pixel_shuffle(out, 2)[:, :, :height, :width]
