"""Camera spec -> conditioning tensors for the SVT: one contract, shared by sampling and training.

``camera_features(spec, num_frames, fps)`` turns a :class:`~generation.engine.camera.CameraSpec`
(or its ``to_dict()`` form) into

* ``clip`` (CAMERA_DIM,): lens and exposure in log units (focal, aperture, focus, shutter,
  aspect), a signed speed per move kind (+ first direction, - second) and a keyframe flag;
* ``path`` (T, CAMERA_PATH_DIM): per-frame pose relative to frame 0 in frame 0's camera axes
  (rotation 3x3 and translation in metres, flattened) plus log focal-length change (zoom), from
  the exact poses ``camera.camera_poses`` computes.

``to_latent_frames`` averages the per-frame path over each causal VAE group so it lines up with
the latent frames the transformer sees. Only the spec's public fields and ``camera_poses`` are used.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from generation.engine import camera as cam
from generation.engine.transformer import CAMERA_DIM


@dataclass(frozen=True)
class CameraFeatures:
    """Camera conditioning of one clip.

    Args:
        clip: (CAMERA_DIM,) per-clip parameters.
        path: (T, CAMERA_PATH_DIM) per pixel frame.
    """

    clip: Tensor
    path: Tensor


def _signed_move_speeds(spec: cam.CameraSpec) -> list[float]:
    speeds = [0.0] * len(cam.MOVE_KINDS)
    for move in spec.moves:
        if move.kind == "static":
            continue
        directions = cam.MOVE_DIRECTIONS[move.kind]
        sign = -1.0 if len(directions) > 1 and move.direction == directions[1] else 1.0
        speeds[cam.MOVE_KINDS.index(move.kind)] += sign * move.speed
    return speeds


def clip_features(spec: cam.CameraSpec) -> Tensor:
    """(CAMERA_DIM,) float32 per-clip camera parameters, each roughly in [-2, 2]."""
    focus = spec.focus_m if spec.focus_m is not None else 0.0
    values = [
        math.log(spec.focal_mm / 50.0),
        math.log2(spec.aperture / 4.0) / 2.0,
        math.log10(focus) if focus > 0 else -2.0,  # -2: "auto focus" (no distance given)
        spec.shutter_deg / 360.0,
        math.log(spec.aspect_ratio),
        *_signed_move_speeds(spec),
        1.0 if spec.keyframes else 0.0,
    ]
    if len(values) != CAMERA_DIM:
        raise RuntimeError(f"camera features have {len(values)} entries, expected {CAMERA_DIM}")
    return torch.tensor(values, dtype=torch.float32)


def path_features(poses: cam.CameraPoses) -> Tensor:
    """(T, CAMERA_PATH_DIM) pose of every frame relative to frame 0, in frame 0's camera axes."""
    r = poses.rotation.double()  # (T, 3, 3) world-from-camera
    p = poses.position.double()  # (T, 3)
    r0_t = r[0].T  # camera0-from-world
    rel_r = r0_t @ r  # (T, 3, 3)
    rel_p = (p - p[0]) @ r0_t.T  # (T, 3)
    zoom = torch.log(poses.focal_mm.double() / poses.focal_mm.double()[0])  # (T,)
    return torch.cat([rel_r.flatten(1), rel_p, zoom[:, None]], dim=1).float()  # (T, 13)


def camera_features(
    spec: cam.CameraSpec | dict[str, Any], num_frames: int, fps: float
) -> CameraFeatures:
    """Conditioning tensors for ``spec`` over ``num_frames`` frames at ``fps``.

    Args:
        spec: a CameraSpec or its ``to_dict()`` form (what a render recipe stores).
    """
    if isinstance(spec, dict):
        spec = cam.CameraSpec.from_dict(spec)
    poses = cam.camera_poses(spec, num_frames, fps)
    return CameraFeatures(clip=clip_features(spec), path=path_features(poses))


def to_latent_frames(path: Tensor, temporal_factor: int) -> Tensor:
    """Average per-frame features over causal VAE groups: frame 0 alone, then ``r`` at a time.

    Args:
        path: (T, F) with ``T = 1 + r k``.

    Returns:
        (1 + k, F).
    """
    t = path.shape[0]
    if (t - 1) % temporal_factor:
        raise ValueError(f"{t} frames do not split into 1 + {temporal_factor}k")
    rest = path[1:].reshape(-1, temporal_factor, path.shape[1]).mean(dim=1)  # (k, F)
    return torch.cat([path[:1], rest])  # (1 + k, F)
