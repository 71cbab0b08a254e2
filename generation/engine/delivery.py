"""Delivery: what a resolution and an aspect ratio mean in pixels and frames, and the clip the
user asked for made from a native one (re-timed at the small size, then upscaled).

Resolution names the short side (720p is 1280×720 at 16:9 and 720×1280 at 9:16), as delivery
specs for vertical video do. The studio and the command-line generator deliver the same way.
"""

from __future__ import annotations

import math

from torch import Tensor

from generation.engine import video_io
from generation.engine.camera import ASPECT_RATIOS


def delivery_size(resolution: int, aspect: str) -> tuple[int, int]:
    """(height, width) in even pixels, as H.264 yuv420p needs."""
    ratio = ASPECT_RATIOS[aspect]
    long_side = 2 * round(resolution * max(ratio, 1 / ratio) / 2)
    return (resolution, long_side) if ratio >= 1 else (long_side, resolution)


def native_frames_needed(duration_s: float, native_fps: float) -> int:
    """Native frames covering ``duration_s``: the last one lands at or after the end."""
    return math.ceil(duration_s * native_fps) + 1


def retime_and_size(
    frames: Tensor, src_fps: float, fps: int, wanted: int, size: tuple[int, int], *, whole: bool
) -> Tensor:
    """Re-time uint8 (T, h, w, 3) frames to ``fps`` at the small size (cheap), keep ``wanted``
    frames, then upscale to ``size``. ``whole``: the clip must cover all ``wanted`` frames (a
    continuation may end early)."""
    timed = video_io.resample_fps(frames, src_fps, fps)  # (T2, h, w, 3)
    if whole and timed.shape[0] < wanted:
        raise ValueError(f"native clip covers {timed.shape[0]} frames at {fps} fps, need {wanted}")
    return video_io.upscale(timed[:wanted], size)  # (wanted, H, W, 3)
