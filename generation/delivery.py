"""Delivery sizes: what a resolution and an aspect ratio mean in pixels and frames.

Resolution names the short side (720p is 1280×720 at 16:9 and 720×1280 at 9:16), as
delivery specs for vertical video do. Pure arithmetic: the pixels themselves are resampled
and upscaled by ``generation.runtime``.
"""

from __future__ import annotations

import math

from generation.engine.camera import ASPECT_RATIOS


def delivery_size(resolution: int, aspect: str) -> tuple[int, int]:
    """(height, width) in even pixels, as H.264 yuv420p needs."""
    ratio = ASPECT_RATIOS[aspect]
    long_side = 2 * round(resolution * max(ratio, 1 / ratio) / 2)
    return (resolution, long_side) if ratio >= 1 else (long_side, resolution)


def native_frames_needed(duration_s: float, native_fps: float) -> int:
    """Native frames covering ``duration_s``: the last one lands at or after the end."""
    return math.ceil(duration_s * native_fps) + 1
