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
    "lift_keyframe",
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


def lift_keyframe(
    rgb: Tensor, depth: Tensor, pose: CameraPoses, size: tuple[int, int], focal_mm: float | None
) -> PointCache:
    """Lift a keyframe seen from `pose` (one pose) through `focal_mm` (default the pose's own
    lens), with enough points per pixel to leave no gaps when rendered at `size` through the
    pose's lens: a keyframe painted wider spreads each pixel over more of the frame."""
    frame_focal = float(pose.focal_mm[0])
    focal = frame_focal if focal_mm is None else focal_mm
    oversample = max(1, math.ceil(size[1] / rgb.shape[1] * frame_focal / focal))
    return lift(rgb, depth, pose.position[0], pose.rotation[0], focal, oversample=oversample)


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
    keyframe_focal_mm: float | None = None,
) -> CachedShot:
    """Lift a keyframe seen at the shot's first pose and render it at every frame's pose.

    Args:
        spec: the camera; rgb: (h, w, 3) uint8 keyframe; depth: (h, w) metres (inf = sky).
        num_frames, fps: the shot; size: (H, W) of the rendered frames (any multiple of the
            keyframe's size, same aspect).
        base: the scene's base pose; default `keyframe_base_pose(depth)`.
        start_frame: the keyframe is the pose at this frame (0 = the shot's first frame).
        frames: render only these frame indices (the poses still follow the whole shot).
        keyframe_focal_mm: the lens the keyframe was seen through, when wider than the path's
            own at its frame (an overscanned keyframe); default the path's.
    """
    base = base or keyframe_base_pose(depth)
    duration = num_frames / fps
    key = camera_pose_at(spec, torch.tensor([start_frame / fps]), duration, base)
    cache = lift_keyframe(rgb, depth, key, size, keyframe_focal_mm)
    index = torch.arange(num_frames) if frames is None else torch.tensor(frames)
    poses = camera_pose_at(spec, index.double() / fps, duration, base)
    return CachedShot(render_points(cache, poses, size), poses, base, cache)
