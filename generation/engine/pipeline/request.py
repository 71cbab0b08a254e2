"""What one clip request holds and what it gives back, and the step budget of each quality tier."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from torch import Tensor

from generation.engine.camera import CameraSpec
from generation.engine.modes import Mode, Quality


@dataclass(frozen=True)
class QualityBudget:
    """Work per tier: keyframe solver steps and sampler, and motion-blur sub-frames."""

    keyframe_steps: int
    sampler: str
    shutter_samples: int


QUALITY_BUDGETS: dict[Quality, QualityBudget] = {
    # Flash: about a third of Standard's keyframe model evaluations (drafts).
    Quality.FLASH: QualityBudget(keyframe_steps=8, sampler="euler", shutter_samples=3),
    Quality.STANDARD: QualityBudget(keyframe_steps=24, sampler="euler", shutter_samples=5),
    # Pro: twice Standard's evaluations, on a second-order solver.
    Quality.PRO: QualityBudget(keyframe_steps=24, sampler="heun", shutter_samples=8),
}


@dataclass(frozen=True)
class GenerationRequest:
    """One clip. Images and videos are uint8 RGB of any size (resized to the native size).

    Args:
        prompt: what the clip shows (the caption the keyframe is painted from).
        mode: see `Mode`; quality: see `QUALITY_BUDGETS`.
        seed: noise seed; the same request gives the same frames bit for bit on a CPU.
        aspect: "16:9", "2.39:1", "1:1", "9:16" or "4:3".
        num_frames: frames to make (for extend: new frames after the source's last one).
        fps: frame rate of the clip (the cache renders any rate exactly).
        camera: the camera spec (None: a static 35 mm camera).
        loop: the path goes out and back so the clip loops.
        image: (H, W, 3) first frame (i2v) or start keyframe; end_image: end keyframe.
        video: (T, H, W, 3) source clip (restyle, extend, reframe); video_fps its rate.
        strength: restyle: how far the new keyframe may depart from the source's first frame.
        guidance_scale: classifier-free guidance of the keyframe model.
        negative_prompt: the guidance baseline instead of the empty prompt.
    """

    prompt: str
    mode: Mode = Mode.TEXT
    quality: Quality = Quality.STANDARD
    seed: int = 0
    aspect: str = "16:9"
    num_frames: int = 48
    fps: float = 24.0
    camera: CameraSpec | None = None
    loop: bool = False
    image: Tensor | np.ndarray | None = None
    end_image: Tensor | np.ndarray | None = None
    video: Tensor | np.ndarray | None = None
    video_fps: float | None = None
    strength: float = 0.6
    guidance_scale: float = 3.0
    negative_prompt: str | None = None


@dataclass
class GenerationResult:
    """A clip at the native render size.

    Args:
        frames: uint8 (T, H, W, 3) at `fps`.
        keyframe: uint8 (h, w, 3) the keyframe the clip was built from; keyframe_depth (h, w) m.
        coverage: fraction of pixels the cache covered, per frame (T,).
        metadata: recipe facts: seed, mode, quality, steps, sizes, seconds per stage.
    """

    frames: Tensor
    fps: float
    keyframe: Tensor
    keyframe_depth: Tensor
    coverage: Tensor
    metadata: dict[str, Any] = field(default_factory=dict)
