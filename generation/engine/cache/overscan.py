"""How much wider than its frame a painted keyframe must see for the cache to cover the shot.

A camera that pans, pulls back, orbits or shakes sees what its keyframe's frame did not, and the
cache has holes there that the refiner must invent. Painting the keyframe through a shorter lens
from the same pose (an overscan) puts those margins into the cache, so the path is drawn by
geometry rather than guessed: a pull-back then reads as a pull-back, not as a zoom into black
borders. The factor is capped because every step wider spreads the keyframe's pixels over more
of the picture and the first frame comes out softer.
"""

from __future__ import annotations

import torch

from generation.engine.camera import CameraPoses, focal_length_px
from generation.engine.native import keyframe_size

MAX_OVERSCAN = 1.3
_GRID = 5  # border samples per side of each frame


def overscan(poses: CameraPoses, key: int, distance_m: float, aspect: str) -> float:
    """The factor (1 to `MAX_OVERSCAN`) by which the view at pose `key` must widen to take in
    what every pose's frame shows of a plane `distance_m` in front of the keyframe's camera."""
    h, w = keyframe_size(aspect)
    g = torch.linspace(-1.0, 1.0, _GRID, dtype=torch.float64)
    gy, gx = torch.meshgrid(g, g, indexing="ij")
    border = (gx.abs() == 1) | (gy.abs() == 1)
    gx, gy = gx[border], gy[border]
    f_key = float(focal_length_px(float(poses.focal_mm[key]), w, h))
    key_pos, key_rot = poses.position[key].double(), poses.rotation[key].double()
    worst = 1.0
    for i in range(poses.position.shape[0]):
        f = float(focal_length_px(float(poses.focal_mm[i]), w, h))
        ray = torch.stack([gx * w / 2 / f, gy * h / 2 / f, torch.ones_like(gx)], dim=-1)
        # The border rays in the keyframe camera's coordinates, met with its plane z = distance.
        direction = ray @ poses.rotation[i].double().T @ key_rot
        origin = (poses.position[i].double() - key_pos) @ key_rot
        along = (distance_m - origin[2]) / direction[:, 2]
        if bool((direction[:, 2] <= 1e-6).any() or (along <= 0).any()):
            return MAX_OVERSCAN  # some of this frame looks away from what the keyframe faces
        hit = origin + along[:, None] * direction
        u = (f_key * hit[:, 0] / distance_m).abs() / (w / 2)
        v = (f_key * hit[:, 1] / distance_m).abs() / (h / 2)
        worst = max(worst, float(torch.cat([u, v]).max()))
    return min(worst, MAX_OVERSCAN)
