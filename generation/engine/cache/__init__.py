"""The 3D cache: a keyframe lifted into coloured points by its depth, rendered along the shot's
camera path. The camera of a clip is this geometry, exact by construction; the refiner only paints
what the cache cannot see."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from generation.engine.cache.points import SKY_M, PointCache, lift, merge
from generation.engine.cache.render import CacheRender, render_points
from generation.engine.camera import BasePose, CameraPoses, CameraSpec, camera_pose_at

__all__ = [
    "SKY_M",
    "CacheRender",
    "CachedShot",
    "PointCache",
    "keyframe_base_pose",
    "lift",
    "merge",
    "render_along",
    "render_points",
]


def keyframe_base_pose(depth: Tensor, height_m: float = 1.6) -> BasePose:
    """A base pose for a keyframe with no scene of its own: a level camera `height_m` above the
    world origin, looking at whatever is in the middle of the frame (the subject an orbit turns
    around and the focus follows)."""
    h, w = depth.shape
    centre = depth[h // 3 : h - h // 3, w // 3 : w - w // 3].float()
    finite = centre[torch.isfinite(centre) & (centre < SKY_M)]
    distance = float(finite.median()) if finite.numel() else 5.0
    distance = min(max(distance, 0.5), 100.0)
    return BasePose(position=(0.0, height_m, 0.0), look_at=(0.0, height_m, distance))


@dataclass(frozen=True)
class CachedShot:
    """A cache render along a shot's path, with the poses it was rendered at."""

    render: CacheRender
    poses: CameraPoses
    base: BasePose
    cache: PointCache


def render_along(
    spec: CameraSpec,
    rgb: Tensor,
    depth: Tensor,
    *,
    num_frames: int,
    fps: float,
    size: tuple[int, int],
    base: BasePose | None = None,
    start_frame: int = 0,
    frames: list[int] | None = None,
) -> CachedShot:
    """Lift a keyframe seen at the shot's first pose and render it at every frame's pose.

    Args:
        spec: the camera; rgb: (h, w, 3) uint8 keyframe; depth: (h, w) metres (inf = sky).
        num_frames, fps: the shot; size: (H, W) of the rendered frames (any multiple of the
            keyframe's size, same aspect).
        base: the scene's base pose; default `keyframe_base_pose(depth)`.
        start_frame: the keyframe is the pose at this frame (0 = the shot's first frame).
        frames: render only these frame indices (the poses still follow the whole shot).
    """
    base = base or keyframe_base_pose(depth)
    duration = num_frames / fps
    key = camera_pose_at(spec, torch.tensor([start_frame / fps]), duration, base)
    oversample = max(1, math.ceil(size[1] / rgb.shape[1]))
    cache = lift(
        rgb, depth, key.position[0], key.rotation[0], float(key.focal_mm[0]), oversample=oversample
    )
    index = torch.arange(num_frames) if frames is None else torch.tensor(frames)
    poses = camera_pose_at(spec, index.double() / fps, duration, base)
    return CachedShot(render_points(cache, poses, size), poses, base, cache)
