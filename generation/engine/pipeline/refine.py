"""Refine stage: the refiner over every cache frame, in chunks, with progress."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from generation.engine import precision
from generation.engine.cache import CacheRender
from generation.engine.models.refiner import Refiner, refiner_input


@torch.inference_mode()
def refine_frames(
    refiner: Refiner,
    render: CacheRender,
    text_pooled: Tensor,
    *,
    chunk: int = 8,
    autocast: bool = True,
    after_chunk: Callable[[], None] | None = None,
) -> Tensor:
    """(T, H, W, 3) float frames in [0, 1] from a cache render; text_pooled (384,)."""
    out = []
    param = next(refiner.parameters())
    for s in range(0, render.frames.shape[0], chunk):
        e = min(render.frames.shape[0], s + chunk)
        x = refiner_input(render.frames[s:e], render.mask[s:e], render.depth[s:e]).to(param)
        pooled = text_pooled.to(param).expand(e - s, -1)
        with precision.autocast(param.device.type, autocast):
            y = refiner(x.contiguous(memory_format=torch.channels_last), pooled).float()
        out.append(((y.clamp(-1, 1) + 1) / 2).permute(0, 2, 3, 1).cpu())
        if after_chunk is not None:
            after_chunk()
    return torch.cat(out)


def keep_covered(refined: Tensor, render: CacheRender, feather: int = 1) -> Tensor:
    """The cache's own colours where it covers the frame (a real image seen from its own
    camera stays as given), the refiner's in the holes, blended over a `feather`-pixel seam."""
    m = render.mask[:, None].float()  # (T, 1, H, W)
    if feather > 0:
        m = -F.max_pool2d(-m, 2 * feather + 1, stride=1, padding=feather)  # erode
        m = F.avg_pool2d(m, 2 * feather + 1, stride=1, padding=feather, count_include_pad=False)
    w = m.permute(0, 2, 3, 1)  # (T, H, W, 1)
    return render.frames * w + refined * (1 - w)
