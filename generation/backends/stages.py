"""Running diffusers pipelines as the stages of one job: step counting across stages, cancel,
and the conversions between the studio's uint8 frames and diffusers' inputs and outputs."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch
from PIL import Image as PILImage
from torch import Tensor

from generation.backends.base import CancelFn, Image, ProgressFn, UnsupportedRequest, Video
from generation.backends.pipelines import VideoPipeline
from generation.engine.sampling import SamplingCancelled


class StepCounter:
    """Counts denoising steps over a job's stages and reports ``progress(done, total)``.

    ``planned`` is the step count of each stage, known before the job starts; while a stage runs
    its own ``pipe.num_timesteps`` replaces its planned count (restyle and extension run fewer
    steps than asked), so ``total`` is exact from the first callback of each stage on.
    """

    def __init__(
        self,
        planned: list[int],
        progress: ProgressFn | None = None,
        is_cancelled: CancelFn | None = None,
    ) -> None:
        self.planned = list(planned)
        self.progress = progress
        self.is_cancelled = is_cancelled
        self.stage = -1
        self.done = 0
        self.seconds: list[float] = []

    def check_cancelled(self) -> None:
        if self.is_cancelled is not None and self.is_cancelled():
            raise SamplingCancelled

    def run(self, pipe: VideoPipeline, **kwargs: Any) -> Tensor:
        """One stage: call `pipe` with `kwargs`; returns its frames as uint8 (T, H, W, 3)."""
        self.check_cancelled()
        self.stage += 1
        if self.stage >= len(self.planned):
            self.planned.append(kwargs.get("num_inference_steps", 0))
        started = time.perf_counter()
        offset = self.done

        def on_step_end(
            p: VideoPipeline, i: int, t: Tensor, tensors: dict[str, Tensor]
        ) -> dict[str, Tensor]:
            self.planned[self.stage] = p.num_timesteps
            self.done = offset + i + 1
            if self.progress is not None:
                self.progress(self.done, sum(self.planned))
            self.check_cancelled()
            return tensors

        out = pipe(**kwargs, callback_on_step_end=on_step_end, output_type="pt")
        self.seconds.append(round(time.perf_counter() - started, 3))
        return frames_to_uint8(out.frames)


def frames_to_uint8(frames: Tensor | np.ndarray) -> Tensor:
    """diffusers' "pt" output (1, T, 3, H, W) floats in [0, 1] -> uint8 (T, H, W, 3)."""
    x = torch.as_tensor(frames)[0].float()  # (T, 3, H, W)
    return x.clamp(0, 1).mul(255).round().to(torch.uint8).permute(0, 2, 3, 1).contiguous().cpu()


def given(value: Tensor | np.ndarray | None, name: str) -> Tensor | np.ndarray:
    """An image or clip of the request, which its check guarantees for its mode; a clear error
    otherwise."""
    if value is None:
        raise UnsupportedRequest(f"this mode needs {name.replace('_', ' ')}")
    return value


def as_uint8(image: Image | Video, ndim: int, name: str) -> Tensor:
    t = torch.from_numpy(np.ascontiguousarray(image)) if isinstance(image, np.ndarray) else image
    if t.dtype != torch.uint8 or t.ndim != ndim or t.shape[-1] != 3:
        shape = "(H, W, 3)" if ndim == 3 else "(T, H, W, 3)"
        raise ValueError(f"{name} must be uint8 {shape}, got {t.dtype} {tuple(t.shape)}")
    return t.cpu()


def fit(image: Image, size: tuple[int, int], name: str = "image") -> Tensor:
    """Scale to cover `size` (height, width) and centre-crop: uint8 (H, W, 3) -> (h, w, 3)."""
    x = as_uint8(image, 3, name).permute(2, 0, 1)[None].float()  # (1, 3, H, W)
    h, w = size
    scale = max(h / x.shape[2], w / x.shape[3])
    sh, sw = max(h, round(x.shape[2] * scale)), max(w, round(x.shape[3] * scale))
    x = torch.nn.functional.interpolate(x, size=(sh, sw), mode="bicubic", antialias=True)
    top, left = (sh - h) // 2, (sw - w) // 2
    x = x[:, :, top : top + h, left : left + w]
    return x[0].permute(1, 2, 0).round().clamp(0, 255).to(torch.uint8)  # (h, w, 3)


def fit_video(video: Video, size: tuple[int, int], name: str = "video") -> Tensor:
    v = as_uint8(video, 4, name)
    return torch.stack([fit(frame, size, name) for frame in v])  # (T, h, w, 3)


def to_pil(frame: Tensor) -> PILImage.Image:
    """uint8 (H, W, 3) -> PIL RGB."""
    return PILImage.fromarray(frame.numpy())


def to_pil_mask(mask: Tensor) -> PILImage.Image:
    """bool (H, W), True = generate -> PIL "L" (255 = generate, 0 = keep)."""
    return PILImage.fromarray(mask.to(torch.uint8).mul(255).numpy(), mode="L")


def round_frames(n: int, multiple: int) -> int:
    """The smallest ``1 + multiple * k`` that is at least `n`."""
    return 1 + multiple * max(0, -(-(n - 1) // multiple))
