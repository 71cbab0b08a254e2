"""Building blocks shared by the keyframe, depth and refiner U-Nets.

Convolutions dominate the cost, so the blocks are plain GroupNorm/SiLU/conv residual blocks that
run well as channels_last bf16 on a CPU, with a per-sample scale and shift from the conditioning
embedding (adaptive GroupNorm) and attention only at the two coarsest levels.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def timestep_embedding(t: Tensor, dim: int, max_period: float = 10_000.0) -> Tensor:
    """Sinusoidal features (B, dim) of scalars t (B,) (times in [0, 1] are scaled by 1000)."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=t.device) / half)
    args = t.float()[:, None] * 1000.0 * freqs[None]  # (B, half)
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


def group_norm(channels: int) -> nn.GroupNorm:
    return nn.GroupNorm(min(32, channels // 4), channels)


class ResBlock(nn.Module):
    """GN -> SiLU -> conv -> adaptive GN (scale, shift from `emb`) -> SiLU -> conv, plus skip."""

    def __init__(self, c_in: int, c_out: int, emb_dim: int) -> None:
        super().__init__()
        self.norm1 = group_norm(c_in)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1)
        self.emb = nn.Linear(emb_dim, 2 * c_out)
        self.norm2 = group_norm(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1)
        nn.init.zeros_(self.conv2.weight)  # each block starts as the identity
        nn.init.zeros_(self.conv2.bias)
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: Tensor, emb: Tensor) -> Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        scale, shift = self.emb(F.silu(emb))[:, :, None, None].chunk(2, dim=1)  # (B, C, 1, 1)
        h = self.norm2(h) * (1 + scale) + shift
        h = self.conv2(F.silu(h))
        return self.skip(x) + h


class Attention(nn.Module):
    """Self-attention over the pixels of a feature map, then cross-attention to context tokens.

    Args:
        channels: feature width C; heads: attention heads (C divisible by heads).
        context_dim: width of the context tokens (text states); 0 for self-attention only.
    """

    def __init__(self, channels: int, heads: int, context_dim: int = 0) -> None:
        super().__init__()
        self.heads = heads
        self.norm = group_norm(channels)
        self.qkv = nn.Linear(channels, 3 * channels)
        self.out = nn.Linear(channels, channels)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)
        self.cross = context_dim > 0
        if self.cross:
            self.norm_x = nn.LayerNorm(channels)
            self.q = nn.Linear(channels, channels)
            self.k = nn.Linear(context_dim, channels)
            self.v = nn.Linear(context_dim, channels)
            self.cross_out = nn.Linear(channels, channels)
            nn.init.zeros_(self.cross_out.weight)
            nn.init.zeros_(self.cross_out.bias)

    def _split(self, x: Tensor) -> Tensor:
        b, n, c = x.shape
        return x.view(b, n, self.heads, c // self.heads).transpose(1, 2)  # (B, heads, N, C/h)

    def forward(
        self, x: Tensor, context: Tensor | None = None, mask: Tensor | None = None
    ) -> Tensor:
        """x: (B, C, H, W); context: (B, L, context_dim); mask: (B, L) bool, True = real token."""
        b, c, h, w = x.shape
        tokens = self.norm(x).flatten(2).transpose(1, 2)  # (B, H*W, C)
        q, k, v = self.qkv(tokens).chunk(3, dim=-1)
        att = F.scaled_dot_product_attention(self._split(q), self._split(k), self._split(v))
        y = self.out(att.transpose(1, 2).reshape(b, h * w, c))  # (B, H*W, C)
        if self.cross and context is not None:
            hq = self.q(self.norm_x(tokens + y))
            attn_mask = None if mask is None else mask[:, None, None, :]  # (B, 1, 1, L)
            att = F.scaled_dot_product_attention(
                self._split(hq),
                self._split(self.k(context)),
                self._split(self.v(context)),
                attn_mask=attn_mask,
            )
            y = y + self.cross_out(att.transpose(1, 2).reshape(b, h * w, c))
        return x + y.transpose(1, 2).reshape(b, c, h, w)


def pad_to_multiple(x: Tensor, multiple: int) -> tuple[Tensor, tuple[int, int]]:
    """Reflect-pad (B, C, H, W) on the bottom and right to multiples of `multiple`."""
    h, w = x.shape[-2:]
    ph, pw = -h % multiple, -w % multiple
    if ph or pw:
        x = F.pad(x, (0, pw, 0, ph), mode="replicate")
    return x, (h, w)


def coordinate_channels(b: int, h: int, w: int, like: Tensor) -> Tensor:
    """(B, 2, H, W) pixel-centre coordinates: x in [-aspect, aspect], y in [-1, 1] (down)."""
    ys = (torch.arange(h, device=like.device, dtype=like.dtype) + 0.5) / h * 2 - 1
    xs = ((torch.arange(w, device=like.device, dtype=like.dtype) + 0.5) / w * 2 - 1) * (w / h)
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([gx, gy])[None].expand(b, 2, h, w)
