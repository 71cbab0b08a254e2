"""Optics stage: the lens's depth of field and the shutter's motion blur, from the cache's depth.

Depth of field blurs each pixel by its thin-lens circle of confusion at the frame's focal length,
focus distance and the spec's aperture (the world renderer's own code, `engine.optics`). Motion
blur follows the camera: each pixel's 3D point (its depth through the frame's pose) is projected
at sub-frame poses over the open shutter, and the frame is averaged along those displacements,
so a 360-degree shutter on a fast pan smears as far as the pan travels in a frame's whole
interval and a 45-degree shutter an eighth of that. Both work in linear light.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from generation.engine.cache.points import SKY_M
from generation.engine.camera import CameraPoses, circle_of_confusion_px, focal_length_px
from generation.engine.optics import apply_depth_of_field

GAMMA = 2.2


def fill_depth(depth: Tensor) -> Tensor:
    """(T, H, W) depth with holes (inf) filled from the nearest covered neighbours: a painted
    hole takes the depth around it (max-pooling of inverse depth, repeated until closed)."""
    inv = torch.where(torch.isfinite(depth), 1.0 / depth.clamp(min=1e-3), torch.zeros_like(depth))
    inv = inv[:, None]
    for _ in range(64):
        holes = inv == 0
        if not bool(holes.any()):
            break
        grown = F.max_pool2d(inv, 3, stride=1, padding=1)
        inv = torch.where(holes, grown, inv)
    inv = inv.clamp(min=1.0 / SKY_M)
    return (1.0 / inv)[:, 0]


def depth_of_field(frames: Tensor, depth: Tensor, poses: CameraPoses, aperture: float) -> Tensor:
    """frames (T, H, W, 3) float display colours in [0, 1]; depth (T, H, W) metres, finite."""
    t, h, w, _ = frames.shape
    linear = frames.clamp(0, 1).pow(GAMMA).permute(0, 3, 1, 2)  # (T, 3, H, W)
    coc = torch.stack(
        [
            circle_of_confusion_px(
                depth[i], float(poses.focus_m[i]), float(poses.focal_mm[i]), aperture, w, h
            )
            for i in range(t)
        ]
    )
    out = apply_depth_of_field(linear, coc)
    return out.clamp(0, 1).pow(1 / GAMMA).permute(0, 2, 3, 1)


def motion_blur(
    frames: Tensor, depth: Tensor, poses: CameraPoses, exposure: CameraPoses, samples: int
) -> Tensor:
    """Average each frame along the image motion of its pixels over the open shutter.

    Args:
        frames: (T, H, W, 3) display colours; depth: (T, H, W) finite metres.
        poses: the T frame poses (shutter opening); exposure: T * samples poses over each
            frame's exposure, frame-major.
    """
    t, h, w, _ = frames.shape
    linear = frames.clamp(0, 1).pow(GAMMA).permute(0, 3, 1, 2)  # (T, 3, H, W)
    f0 = focal_length_px(poses.focal_mm.float(), w, h)  # (T,)
    ys = torch.arange(h) + 0.5 - h / 2
    xs = torch.arange(w) + 0.5 - w / 2
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    rays = torch.stack(
        [gx[None] / f0[:, None, None], gy[None] / f0[:, None, None], torch.ones(t, h, w)], dim=-1
    )  # (T, H, W, 3)
    cam = (rays * depth[..., None]).reshape(t, -1, 3)  # (T, H*W, 3)
    world = (
        torch.einsum("tij,tnj->tni", poses.rotation.float(), cam) + poses.position.float()[:, None]
    )
    base = torch.stack([gx / (w / 2), gy / (h / 2)], dim=-1)[None]  # (1, H, W, 2) in [-1, 1]
    out = torch.zeros_like(linear)
    for k in range(samples):
        j = torch.arange(t) * samples + k
        rel = world - exposure.position[j].float()[:, None]
        c = torch.einsum("tij,tni->tnj", exposure.rotation[j].float(), rel)  # (T, H*W, 3)
        f = focal_length_px(exposure.focal_mm[j].float(), w, h)[:, None]
        z = c[..., 2].clamp(min=1e-3)
        u = (f * c[..., 0] / z).view(t, h, w) / (w / 2)
        v = (f * c[..., 1] / z).view(t, h, w) / (h / 2)
        moved = torch.stack([u, v], dim=-1) - base  # where each pixel's point has gone
        grid = base - moved  # sample backwards along the motion
        out += F.grid_sample(
            linear, grid, mode="bilinear", padding_mode="border", align_corners=False
        )
    return (out / samples).clamp(0, 1).pow(1 / GAMMA).permute(0, 2, 3, 1)
