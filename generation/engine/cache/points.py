"""A coloured point cache lifted from RGB-D keyframes with the camera's own intrinsics."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from generation.engine.camera import focal_length_px

SKY_M = 1_000.0
"""Sky (and anything at least this far) is placed at this distance: far enough that no move of a
shot gives it parallax, near enough to stay finite."""


@dataclass(frozen=True)
class PointCache:
    """Args:
    points: (N, 3) world positions (m).
    colours: (N, 3) display colours in [0, 1].
    right, down: (N, 3) world vectors to each point's neighbour on its own surface one sample
        to the right and one below: projected through any camera they say how many pixels the
        point must cover there, so a surface stays closed seen closer up or at a new angle.
    """

    points: Tensor
    colours: Tensor
    right: Tensor
    down: Tensor

    def __len__(self) -> int:
        return self.points.shape[0]


def pixel_rays(height: int, width: int, focal_mm: float, dtype=torch.float32) -> Tensor:
    """(H, W, 3) camera-space rays (x right, y down, z = 1) through each pixel centre."""
    f_px = focal_length_px(focal_mm, width, height)
    ys = (torch.arange(height, dtype=dtype) + 0.5 - height / 2) / f_px
    xs = (torch.arange(width, dtype=dtype) + 0.5 - width / 2) / f_px
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([gx, gy, torch.ones_like(gx)], dim=-1)


def lift(
    rgb: Tensor,
    depth: Tensor,
    position: Tensor,
    rotation: Tensor,
    focal_mm: float,
    *,
    oversample: int = 2,
) -> PointCache:
    """Unproject an RGB-D image seen from a camera into world points.

    Args:
        rgb: (H, W, 3) uint8 or float in [0, 1]. depth: (H, W) z-depth in metres (inf = sky).
        position: (3,) camera centre; rotation: (3, 3) world-from-camera (columns right, down,
            forward); focal_mm: the lens (full-frame equivalent) the image was seen through.
        oversample: points per pixel along each axis (nearest-neighbour, so an object's edge stays
            an edge rather than a smear of points between it and what lies behind).
    """
    colours = rgb.float() / 255.0 if rgb.dtype == torch.uint8 else rgb.float()
    z = depth.float().clamp(max=SKY_M).nan_to_num(SKY_M)
    if oversample > 1:
        colours = F.interpolate(
            colours.permute(2, 0, 1)[None], scale_factor=oversample, mode="nearest"
        )[0].permute(1, 2, 0)
        z = F.interpolate(z[None, None], scale_factor=oversample, mode="nearest")[0, 0]
    hh, ww = z.shape
    # Rays of the oversampled grid share the original image's field of view.
    rays = pixel_rays(hh, ww, focal_mm)  # (hh, ww, 3)
    cam = rays * z[..., None]  # (hh, ww, 3)
    rot = rotation.float()
    world = cam.reshape(-1, 3) @ rot.T + position.float()
    right, down = (_neighbour_steps(cam, z, dim, rays, ww, hh, focal_mm) @ rot.T for dim in (1, 0))
    return PointCache(points=world, colours=colours.reshape(-1, 3), right=right, down=down)


def _neighbour_steps(
    cam: Tensor, z: Tensor, dim: int, rays: Tensor, w: int, h: int, focal_mm: float
) -> Tensor:
    """(H*W, 3) camera-space step to the next sample along `dim` (1: right, 0: down) on the
    same surface: the forward neighbour, else the backward one (at an object's silhouette), else
    a step facing the camera at the point's depth. A neighbour more than `_EDGE` nearer or
    farther belongs to another surface: ignoring it keeps an edge from smearing across what lies
    behind it."""
    fwd = cam.roll(-1, dims=dim) - cam
    bwd = cam - cam.roll(1, dims=dim)
    fwd_ok = (z.roll(-1, dims=dim) / z - 1).abs() < _EDGE
    bwd_ok = (z.roll(1, dims=dim) / z - 1).abs() < _EDGE
    fwd_ok.select(dim, -1).fill_(False)  # roll wraps the last row / column around
    bwd_ok.select(dim, 0).fill_(False)
    f_px = focal_length_px(focal_mm, w, h)
    axis = torch.zeros(3)
    axis[0 if dim == 1 else 1] = 1.0
    facing = (z / f_px)[..., None] * axis  # (H, W, 3)
    step = torch.where(fwd_ok[..., None], fwd, torch.where(bwd_ok[..., None], bwd, facing))
    return step.reshape(-1, 3)


_EDGE = 0.15


def merge(*caches: PointCache) -> PointCache:
    """One cache holding the points of several (a z-test picks between them when rendered)."""
    return PointCache(
        points=torch.cat([c.points for c in caches]),
        colours=torch.cat([c.colours for c in caches]),
        right=torch.cat([c.right for c in caches]),
        down=torch.cat([c.down for c in caches]),
    )
