"""Render a point cache through per-frame cameras: z-buffered splatting, vectorised over frames.

Each point covers a square as wide as the gap to its projected neighbours (one pixel, or more
where the camera has moved closer, zoomed in or sees a surface at a new angle), so surfaces stay
closed under magnification. A soft z-test
keeps, per pixel, the points within `DEPTH_TOLERANCE` of the nearest one and averages their
colours; pixels no point reaches are holes, reported in the mask for the refiner to paint.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from generation.engine.cache.points import PointCache
from generation.engine.camera import CameraPoses, focal_length_px

DEPTH_TOLERANCE = 0.03
"""Points within 3 % of the nearest depth at a pixel belong to the same surface."""
MAX_FOOTPRINT = 6
NEAR_M = 0.05


@dataclass(frozen=True)
class CacheRender:
    """Args:
    frames: (T, H, W, 3) float display colours in [0, 1] (0 in holes).
    depth: (T, H, W) z-depth in metres of what each pixel shows (inf in holes).
    mask: (T, H, W) bool, True where the cache covers the pixel.
    """

    frames: Tensor
    depth: Tensor
    mask: Tensor

    def frames_u8(self) -> Tensor:
        return (self.frames * 255 + 0.5).clamp(0, 255).to(torch.uint8)


def _splat(
    cache: PointCache, poses: CameraPoses, height: int, width: int
) -> tuple[Tensor, Tensor, Tensor]:
    t = poses.position.shape[0]
    hw = height * width
    rot = poses.rotation.float()  # (T, 3, 3)
    f_px = focal_length_px(poses.focal_mm.float(), width, height)[:, None]  # (T, 1)

    def project(points: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        cam = torch.einsum("tij,tni->tnj", rot, points - poses.position.float()[:, None])
        z = cam[..., 2]  # (T, N)
        zs = z.clamp(min=NEAR_M)
        return f_px * cam[..., 0] / zs + width / 2, f_px * cam[..., 1] / zs + height / 2, z

    u, v, z = project(cache.points[None])
    ur, vr, _ = project((cache.points + cache.right)[None])
    ud, vd, _ = project((cache.points + cache.down)[None])
    extent = torch.stack([(ur - u).abs(), (vr - v).abs(), (ud - u).abs(), (vd - v).abs()])
    # The 0.01 keeps a point seen from its own camera (an extent of exactly one pixel, give or
    # take rounding) on one pixel, so a keyframe comes back as it went in.
    footprint = (extent.amax(0) - 0.01).ceil().clamp(1, MAX_FOOTPRINT)  # (T, N)
    frame = torch.arange(t)[:, None].expand_as(z)
    pix_list, z_list, col_list = [], [], []
    for k in range(1, MAX_FOOTPRINT + 1):
        sel = (footprint == k) & (z > NEAR_M)
        if not bool(sel.any()):
            continue
        uk, vk, zk, fk = u[sel], v[sel], z[sel], frame[sel]
        ck = cache.colours[None].expand(t, -1, -1)[sel]  # (M, 3)
        x0 = torch.floor(uk - k / 2 + 0.5).long()
        y0 = torch.floor(vk - k / 2 + 0.5).long()
        for dy in range(k):
            for dx in range(k):
                x, y = x0 + dx, y0 + dy
                inside = (x >= 0) & (x < width) & (y >= 0) & (y < height)
                pix_list.append((fk * hw + y * width + x)[inside])
                z_list.append(zk[inside])
                col_list.append(ck[inside])
    # A camera that has moved past everything it cached sees nothing: all holes.
    pix = torch.cat(pix_list) if pix_list else torch.zeros(0, dtype=torch.long)
    zz = torch.cat(z_list) if z_list else torch.zeros(0)
    col = torch.cat(col_list) if col_list else torch.zeros(0, 3)
    zmin = torch.full((t * hw,), float("inf"))
    zmin.scatter_reduce_(0, pix, zz, reduce="amin")
    front = zz <= zmin[pix] * (1 + DEPTH_TOLERANCE)
    colour = torch.zeros(t * hw, 3)
    count = torch.zeros(t * hw)
    colour.index_add_(0, pix[front], col[front])
    count.index_add_(0, pix[front], torch.ones_like(zz[front]))
    return colour, count, zmin


def render_points(
    cache: PointCache, poses: CameraPoses, size: tuple[int, int], *, frames_per_chunk: int = 16
) -> CacheRender:
    """Render `cache` at every pose of `poses` as (T, H, W) frames of `size` (height, width)."""
    height, width = size
    outs = []
    for s in range(0, poses.position.shape[0], frames_per_chunk):
        e = min(poses.position.shape[0], s + frames_per_chunk)
        chunk = CameraPoses(
            poses.times[s:e],
            poses.position[s:e],
            poses.rotation[s:e],
            poses.focal_mm[s:e],
            poses.focus_m[s:e],
        )
        colour, count, zmin = _splat(cache, chunk, height, width)
        n = e - s
        covered = count > 0
        frames = colour / count.clamp(min=1)[:, None]
        outs.append(
            (
                frames.view(n, height, width, 3),
                zmin.view(n, height, width),
                covered.view(n, height, width),
            )
        )
    return CacheRender(
        frames=torch.cat([o[0] for o in outs]),
        depth=torch.cat([o[1] for o in outs]),
        mask=torch.cat([o[2] for o in outs]),
    )
