"""Character adapters for the built-in model: a LoRA on the keyframe model's attention
projections, trained on a character's reference frames with the keyframe model's own
flow-matching objective.

Each reference frame is fitted to the keyframe size of its aspect, paired with the depth the
pipeline's depth network measures for it, and becomes one RGB-D keyframe ``x0``. A step draws a
time ``t`` (logit-normal, as the keyframe model was trained), noises ``x0`` to it and regresses the
velocity ``noise - x0`` under the character's caption. The adapter starts at zero (``B = 0``),
so an untrained adapter changes nothing; the keyframe model comes back without it, as it was.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from generation.engine.lora import inject_lora, lora_parameters, remove_lora, save_lora
from generation.engine.models.depth import estimate_depth
from generation.engine.models.keyframe import depth_to_channel, rgb_to_channels
from generation.engine.native import keyframe_size, nearest_aspect
from generation.engine.pipeline.video import VideoPipeline
from generation.engine.sampling import SamplingCancelled
from generation.engine.schedules import logit_normal_t, noise_to, velocity_target


def fit(image: Tensor, size: tuple[int, int]) -> Tensor:
    """Scale uint8 (H, W, 3) to cover `size` (height, width) and centre-crop it."""
    x = image.permute(2, 0, 1)[None].float()  # (1, 3, H, W)
    h, w = size
    scale = max(h / x.shape[2], w / x.shape[3])
    sh, sw = max(h, round(x.shape[2] * scale)), max(w, round(x.shape[3] * scale))
    x = F.interpolate(x, size=(sh, sw), mode="bilinear", antialias=True, align_corners=False)
    top, left = (sh - h) // 2, (sw - w) // 2
    x = x[:, :, top : top + h, left : left + w]
    return x[0].permute(1, 2, 0).round().clamp(0, 255).to(torch.uint8)  # (h, w, 3)


def running_loss(losses: Sequence[float], window: int = 10) -> float:
    """The mean of the last `window` losses: one batch's loss jumps with the time drawn for it,
    the mean is the curve a person can read."""
    recent = losses[-window:]
    return sum(recent) / len(recent)


def train_keyframe_adapter(
    pipe: VideoPipeline,
    images: Sequence[Tensor],
    prompt: str,
    out_path: str | Path,
    *,
    steps: int = 300,
    rank: int = 8,
    learning_rate: float = 1e-4,
    batch_size: int = 4,
    focal_mm: float = 35.0,
    seed: int = 0,
    progress: Callable[[int, int, float], None] | None = None,
    is_cancelled: Callable[[], bool] | None = None,
    metadata: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Train an adapter on `images` and write it to the safetensors file `out_path`.

    Args:
        pipe: the built-in pipeline; its keyframe model is adapted, its depth network and text
            encoder give the targets' depth and the caption's embedding.
        images: reference frames, uint8 (H, W, 3) each, fitted to the keyframe size of the first
            one's aspect.
        prompt: the caption the character is trained under.
        focal_mm: the lens the references are taken to be seen through.
        progress: ``progress(step, total, loss)`` after every step, ``loss`` the running mean
            of the last ten steps' losses (what ``loss_last`` records at the end).
        is_cancelled: polled after every step; cancelling leaves nothing written.
        metadata: extra fields for the record (stored in the safetensors metadata too).

    Returns:
        What was trained and how (steps, rank, first and last loss, seconds).
    """
    started = time.perf_counter()
    if not images:
        raise ValueError("a character adapter needs at least one reference image")
    aspect = nearest_aspect(*images[0].shape[:2])
    size = keyframe_size(aspect)
    model = pipe.keyframe
    device = next(model.parameters()).device
    focal = torch.tensor([focal_mm], device=device)
    with torch.inference_mode():
        rgbs = torch.stack([fit(img, size) for img in images])  # (N, h, w, 3)
        depths = torch.stack([estimate_depth(pipe.depth, rgb, focal_mm) for rgb in rgbs])
        x_all = torch.cat([rgb_to_channels(rgbs), depth_to_channel(depths)[:, None]], dim=1)
        text = pipe.text_encoder.encode([prompt])
    x_all = x_all.clone().to(device)  # (N, 4, h, w) out of inference mode
    tokens, mask, pooled = (t.clone().to(device) for t in (text.tokens, text.mask, text.pooled))
    generator = torch.Generator().manual_seed(seed)
    grads = {name: p.requires_grad for name, p in model.named_parameters()}
    was_training = model.training
    model.requires_grad_(False)
    inject_lora(model, rank)
    params = lora_parameters(model)
    optimizer = torch.optim.AdamW(params, lr=learning_rate, weight_decay=0.0)
    losses: list[float] = []
    try:
        with torch.enable_grad():
            for step in range(1, steps + 1):
                pick = torch.randint(0, x_all.shape[0], (batch_size,), generator=generator)
                x0 = x_all[pick.to(device)]
                noise = torch.randn(x0.shape, generator=generator).to(device)
                t = logit_normal_t(batch_size, generator=generator, device=device)
                b = x0.shape[0]
                v = model(
                    noise_to(x0, noise, t),
                    t,
                    tokens.expand(b, -1, -1),
                    mask.expand(b, -1),
                    pooled.expand(b, -1),
                    focal.expand(b),
                )
                loss = F.mse_loss(v.float(), velocity_target(x0, noise))
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                losses.append(loss.item())
                if progress is not None:
                    progress(step, steps, running_loss(losses))
                if is_cancelled is not None and is_cancelled():
                    raise SamplingCancelled
        record: dict[str, Any] = {
            "prompt": prompt,
            "rank": rank,
            "steps": steps,
            "learning_rate": learning_rate,
            "batch_size": batch_size,
            "size": list(size),
            "focal_mm": focal_mm,
            "references": len(images),
            "seed": seed,
            "loss_first": round(losses[0], 6),
            "loss_last": round(running_loss(losses), 6),
            **(metadata or {}),
        }
        save_lora(model, out_path, metadata={k: str(v) for k, v in record.items()})
        record["seconds"] = round(time.perf_counter() - started, 3)
        return record
    finally:
        remove_lora(model)
        for name, p in model.named_parameters():
            p.requires_grad_(grads.get(name, False))
        model.train(was_training)
