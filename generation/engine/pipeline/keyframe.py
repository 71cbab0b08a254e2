"""Keyframe stage: sample RGB-D keyframes from the keyframe model with classifier-free guidance."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from generation.engine import precision
from generation.engine.models.keyframe import KeyframeModel
from generation.engine.sampling import SAMPLERS
from generation.engine.schedules import shifted_timesteps
from generation.engine.text import TextBatch

StepCallback = Callable[[int, int, Tensor, Tensor], None]


@torch.inference_mode()
def paint_keyframes(
    model: KeyframeModel,
    text: TextBatch,
    null_text: TextBatch,
    focal_mm: Tensor,
    size: tuple[int, int],
    *,
    steps: int = 20,
    guidance: float = 3.0,
    sampler: str = "euler",
    shift: float = 1.0,
    generator: torch.Generator | None = None,
    noise: Tensor | None = None,
    start: float = 1.0,
    autocast: bool = True,
    callback: StepCallback | None = None,
) -> Tensor:
    """B keyframes as (B, 4, H, W) channels in [-1, 1] (RGB, inverse depth).

    Args:
        text: B encoded prompts; null_text: the empty prompt, one row (the guidance baseline).
        focal_mm: (B,) lenses; size: (H, W).
        guidance: classifier-free guidance weight (1 = none: one model call per step).
        generator: CPU generator for the starting noise (ignored when `noise` is given).
        noise: the state at time `start` (pure noise at 1; a noised image below 1).
    """
    b = text.tokens.shape[0]
    device = next(model.parameters()).device
    if noise is None:
        noise = torch.randn(b, 4, *size, generator=generator)
    x = noise.to(device)
    guided = guidance != 1.0
    if guided:
        length = max(text.tokens.shape[1], null_text.tokens.shape[1])

        def pad(t: Tensor) -> Tensor:
            return torch.nn.functional.pad(t, (0, 0, 0, length - t.shape[1]))

        tokens = torch.cat([pad(text.tokens), pad(null_text.tokens).expand(b, -1, -1)])
        mask = torch.cat(
            [
                torch.nn.functional.pad(text.mask, (0, length - text.mask.shape[1])),
                torch.nn.functional.pad(
                    null_text.mask, (0, length - null_text.mask.shape[1])
                ).expand(b, -1),
            ]
        )
        pooled = torch.cat([text.pooled, null_text.pooled.expand(b, -1)])
        focal = torch.cat([focal_mm, focal_mm])
    else:
        tokens, mask, pooled, focal = text.tokens, text.mask, text.pooled, focal_mm
    amp = precision.autocast(device.type, autocast)

    def velocity(x_t: Tensor, t: Tensor) -> Tensor:
        with amp:
            if guided:
                v = model(x_t.repeat(2, 1, 1, 1), t.repeat(2), tokens, mask, pooled, focal).float()
                v_c, v_u = v[:b], v[b:]
                return v_u + guidance * (v_c - v_u)
            return model(x_t, t, tokens, mask, pooled, focal).float()

    ts = shifted_timesteps(steps, shift, start=start)
    return SAMPLERS[sampler](velocity, x, ts, callback=callback)
