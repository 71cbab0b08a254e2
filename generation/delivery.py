"""From the engine's native clip to what the user asked for: frame rate, length, size.

Resolution names the short side (720p is 1280×720 at 16:9 and 720×1280 at 9:16), as
delivery specs for vertical video do.
"""

from __future__ import annotations

import math

from torch import Tensor

from generation.engine import video_io
from generation.engine.presets import ASPECTS


def delivery_size(resolution: int, aspect: str) -> tuple[int, int]:
    """(height, width) in even pixels, as H.264 yuv420p needs."""
    ratio = ASPECTS[aspect]
    long_side = 2 * round(resolution * max(ratio, 1 / ratio) / 2)
    return (resolution, long_side) if ratio >= 1 else (long_side, resolution)


def native_frames_needed(duration_s: float, native_fps: float) -> int:
    """Native frames covering ``duration_s``: the last one lands at or after the end."""
    return math.ceil(duration_s * native_fps) + 1


def deliver(
    frames: Tensor, *, native_fps: float, duration_s: float, fps: int, size: tuple[int, int]
) -> Tensor:
    """Resample to ``fps`` at native size (cheap), trim to exactly ``duration_s * fps``
    frames, then upscale.

    Args:
        frames: uint8 (T, h, w, 3) at ``native_fps``, covering at least ``duration_s``.
        size: (height, width) delivered.

    Returns:
        uint8 (round(duration_s * fps), H, W, 3).
    """
    wanted = round(duration_s * fps)
    timed = video_io.resample_fps(frames, native_fps, fps)  # (T2, h, w, 3)
    if timed.shape[0] < wanted:
        raise ValueError(f"native clip covers {timed.shape[0]} frames at {fps} fps, need {wanted}")
    return video_io.upscale(timed[:wanted], size)  # (wanted, H, W, 3)
