"""Lens optics shared by the world renderer and the 3D cache renderer: thin-lens depth of field
from a depth buffer, and shutter-angle motion blur along per-pixel motion."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

# Sub-pixel blur radii (pixels, Gaussian sigma) of the depth-of-field stack.
_DOF_SIGMAS = (0.0, 0.6, 1.2, 2.4, 4.8, 9.6)
# A disk of diameter c has the spread of a Gaussian with sigma ≈ c / (2·sqrt(2)).
_COC_TO_SIGMA = 1.0 / (2.0 * math.sqrt(2.0))


def gaussian_blur(img: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of (N, C, H, W) with reflect padding."""
    if sigma <= 0:
        return img
    radius = max(1, math.ceil(3 * sigma))
    radius = min(radius, img.shape[-1] - 1, img.shape[-2] - 1)
    x = torch.arange(-radius, radius + 1, dtype=img.dtype, device=img.device)
    k = torch.exp(-(x * x) / (2 * sigma * sigma))
    k = k / k.sum()
    c = img.shape[1]
    out = F.pad(img, (radius, radius, 0, 0), mode="reflect")
    out = F.conv2d(out, k.view(1, 1, 1, -1).expand(c, 1, 1, -1).contiguous(), groups=c)
    out = F.pad(out, (0, 0, radius, radius), mode="reflect")
    return F.conv2d(out, k.view(1, 1, -1, 1).expand(c, 1, -1, 1).contiguous(), groups=c)


def apply_depth_of_field(image: torch.Tensor, coc_px: torch.Tensor) -> torch.Tensor:
    """Blur each pixel by its circle of confusion: a stack of Gaussian levels, blended per pixel.

    Args:
        image: (N, 3, H, W) linear colour. coc_px: (N, H, W) blur-circle diameters in pixels.
    """
    sigma = (coc_px * _COC_TO_SIGMA).clamp(max=_DOF_SIGMAS[-1])
    levels = torch.stack([gaussian_blur(image, s) for s in _DOF_SIGMAS], 0)  # (L, N, 3, H, W)
    lv = torch.tensor(_DOF_SIGMAS, dtype=image.dtype, device=image.device)
    hi = torch.searchsorted(lv, sigma.contiguous()).clamp(1, len(_DOF_SIGMAS) - 1)  # (N, H, W)
    lo = hi - 1
    w = ((sigma - lv[lo]) / (lv[hi] - lv[lo])).clamp(0, 1)
    pick_lo = torch.gather(levels, 0, lo[None, :, None].expand(1, -1, 3, -1, -1))[0]
    pick_hi = torch.gather(levels, 0, hi[None, :, None].expand(1, -1, 3, -1, -1))[0]
    return pick_lo * (1 - w[:, None]) + pick_hi * w[:, None]
