"""The camera path of one shot, sampled at frames and at sub-frame times (for the shutter).

Frame i of a shot is exposed from i / fps for shutter / 360 / fps seconds. A looping shot runs
its path out and back (ping-pong in time), so frame `num_frames` would be frame 0 again and the
clip's last frame meets its first as any two neighbours do. `offset` shifts the frames along a
longer path: an extension's frames continue the source's path where the source stopped.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from generation.engine.cache.overscan import overscan
from generation.engine.camera import (
    FOCAL_RANGE_MM,
    BasePose,
    CameraPoses,
    CameraSpec,
    camera_pose_at,
)


@dataclass(frozen=True)
class ShotPath:
    """Args:
    spec: the camera; base: the pose the moves start from.
    num_frames: frames on the whole path (an extension: source + continuation); fps.
    loop: out-and-back timing; offset: index of this shot's first frame on the path.
    """

    spec: CameraSpec
    base: BasePose
    num_frames: int
    fps: float
    loop: bool = False
    offset: int = 0

    @property
    def duration(self) -> float:
        return self.num_frames / self.fps

    def _path_times(self, frame_times: torch.Tensor) -> torch.Tensor:
        t = frame_times.double()
        if self.loop:
            u = (t / self.duration) % 1.0
            t = self.duration * (1 - (2 * u - 1).abs())
        return t

    def at_frames(self, frames: torch.Tensor) -> CameraPoses:
        """Poses at the shutter opening of these frames (indices counted from `offset`)."""
        times = (frames.double() + self.offset) / self.fps
        return camera_pose_at(self.spec, self._path_times(times), self.duration, self.base)

    def during_exposure(self, frames: torch.Tensor, samples: int) -> CameraPoses:
        """(len(frames) * samples) poses spread over each frame's open shutter, frame-major."""
        exposure = self.spec.shutter_deg / 360.0 / self.fps
        offs = (torch.arange(samples, dtype=torch.float64) + 0.5) / samples * exposure
        times = ((frames.double() + self.offset) / self.fps)[:, None] + offs[None]
        return camera_pose_at(
            self.spec, self._path_times(times.reshape(-1)), self.duration, self.base
        )

    def painted_lens(self) -> float:
        """The lens a keyframe painted at this shot's first frame is seen through: the frame's
        own, widened by as much as the path looks beyond it (`overscan`, measured on the base
        pose's subject plane), never wider than the widest lens there is."""
        poses = self.at_frames(torch.arange(self.num_frames - self.offset))
        distance = math.dist(self.base.position, self.base.look_at)
        first = float(poses.focal_mm[0])
        return max(first / overscan(poses, 0, distance, self.spec.aspect), FOCAL_RANGE_MM[0])
