"""Native frame sizes of the built-in model, one per aspect ratio.

The keyframe model paints about 64 x 64 pixels whatever the aspect; the cache renderer and the
refiner work at `RENDER_SCALE` times that. Sizes are even (the keyframe model folds 2 x 2 pixels
into channels) and within 1 % of the named ratio, so the field of view a lens gives is the one
the delivery frame shows.
"""

from __future__ import annotations

import math

from generation.engine.camera import ASPECT_RATIOS

KEYFRAME_SIZES: dict[str, tuple[int, int]] = {  # (height, width)
    "16:9": (48, 86),
    "2.39:1": (42, 100),
    "1:1": (64, 64),
    "9:16": (86, 48),
    "4:3": (54, 72),
}
RENDER_SCALE = 2


def keyframe_size(aspect: str) -> tuple[int, int]:
    """(height, width) of the keyframe for `aspect`."""
    if aspect not in KEYFRAME_SIZES:
        raise ValueError(f"aspect must be one of {', '.join(ASPECT_RATIOS)}, got {aspect!r}")
    return KEYFRAME_SIZES[aspect]


def render_size(aspect: str) -> tuple[int, int]:
    """(height, width) the cache is rendered at and the refiner paints: the keyframe x scale."""
    h, w = keyframe_size(aspect)
    return h * RENDER_SCALE, w * RENDER_SCALE


def nearest_aspect(height: int, width: int) -> str:
    """The named aspect ratio closest to a `height` x `width` frame's (by log ratio, so 2:1 is
    as far from 1:1 as 1:2 is)."""
    ratio = width / height
    return min(ASPECT_RATIOS, key=lambda a: abs(math.log(ASPECT_RATIOS[a] / ratio)))
