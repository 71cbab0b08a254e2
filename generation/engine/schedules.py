"""Flow-matching time schedules (rectified flow, Lipman et al. 2022; SD3/Wan conventions).

Convention used across the engine: ``x_t = (1 - t) * x_0 + t * noise`` with ``t = 1`` pure noise
and ``t = 0`` data, so the velocity a model predicts is ``dx_t/dt = noise - x_0`` and a sampler
walks ``t`` from high to low. Every function here is pure: same inputs, same tensor.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor


def uniform_timesteps(steps: int, *, start: float = 1.0) -> Tensor:
    """Evenly spaced times from ``start`` down to 0.

    Args:
        steps: number of solver steps, >= 1.
        start: first time in (0, 1]; below 1 for restyle (noise only up to a strength).

    Returns:
        (steps + 1,) float64 times, strictly decreasing, ``ts[0] == start`` and ``ts[-1] == 0``.
    """
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    if not 0.0 < start <= 1.0:
        raise ValueError(f"start must be in (0, 1], got {start}")
    # float64 so the per-step differences telescope to the exact span even for long schedules.
    return torch.linspace(start, 0.0, steps + 1, dtype=torch.float64)


def shift_timesteps(ts: Tensor, shift: float) -> Tensor:
    """Warp times towards the noisy end: ``t' = s t / (1 + (s - 1) t)`` (SD3 / Wan "shift").

    Higher resolutions carry more redundant signal, so the same noise level destroys less of
    the image; spending more steps at high ``t`` compensates. ``shift == 1`` is the identity,
    and the map fixes 0 and 1, so a schedule still starts at noise and ends at data.

    Args:
        ts: (N,) times in [0, 1].
        shift: warp factor > 0.

    Returns:
        (N,) warped times, same dtype, still monotone in the same direction.
    """
    if shift <= 0:
        raise ValueError(f"shift must be > 0, got {shift}")
    return shift * ts / (1.0 + (shift - 1.0) * ts)


def resolution_shift(
    num_tokens: int,
    *,
    base_tokens: int = 256,
    max_tokens: int = 4096,
    base_shift: float = 0.5,
    max_shift: float = 1.15,
) -> float:
    """Shift chosen from the token count ("resolution-dependent shift", SD3 / Flux).

    ``log(shift)`` is linear in the token count between ``(base_tokens, base_shift)`` and
    ``(max_tokens, max_shift)``, extrapolated beyond. A 256-token clip gets ``e^0.5 ~ 1.65``.

    Args:
        num_tokens: transformer tokens per sample (latent frames x patches per frame), >= 1.

    Returns:
        the shift factor, > 0.
    """
    slope = (max_shift - base_shift) / (max_tokens - base_tokens)
    mu = base_shift + slope * (num_tokens - base_tokens)
    return math.exp(mu)


def shifted_timesteps(steps: int, shift: float, *, start: float = 1.0) -> Tensor:
    """Uniform times warped by ``shift``, then truncated to begin at ``start``.

    The warp is applied to the full 1 -> 0 schedule first and the times above ``start`` are
    replaced by ``start`` itself, so a restyle at strength ``s`` begins exactly at ``t = s``
    (the level the source was noised to) and keeps the spacing of the full schedule below it.

    Args:
        steps: number of steps of the full (start = 1) schedule, >= 1.
        shift: warp factor > 0 (1 = uniform).
        start: time the solve begins at, in (0, 1].

    Returns:
        (K + 1,) float64 decreasing times from ``start`` to 0, ``1 <= K <= steps``.
    """
    full = shift_timesteps(uniform_timesteps(steps), shift)
    if start >= 1.0:
        return full
    if not 0.0 < start < 1.0:
        raise ValueError(f"start must be in (0, 1], got {start}")
    below = full[full < start]
    return torch.cat([torch.tensor([start], dtype=full.dtype), below])


def logit_normal_t(
    batch: int,
    *,
    mean: float = 0.0,
    std: float = 1.0,
    generator: torch.Generator | None = None,
    device: torch.device | str = "cpu",
) -> Tensor:
    """Training times ``t = sigmoid(n)``, ``n ~ N(mean, std)`` (SD3's logit-normal sampling).

    Concentrates training on the middle of the path, where the velocity is hardest to predict.

    Args:
        batch: number of times to draw.
        generator: CPU generator for reproducible draws (the draw happens on the CPU).

    Returns:
        (batch,) float32 times in (0, 1) on ``device``.
    """
    n = torch.randn(batch, generator=generator, dtype=torch.float32) * std + mean
    return torch.sigmoid(n).to(device)


def noise_to(x0: Tensor, noise: Tensor, t: Tensor | float) -> Tensor:
    """The point at time ``t`` on the straight path from data ``x0`` to ``noise``.

    Args:
        x0: (B, ...) clean sample.
        noise: (B, ...) Gaussian noise, same shape.
        t: scalar or (B,) time(s) in [0, 1]; broadcast over the trailing dimensions.

    Returns:
        (B, ...) ``(1 - t) * x0 + t * noise``.
    """
    if isinstance(t, Tensor) and t.ndim == 1:
        t = t.view(-1, *([1] * (x0.ndim - 1)))  # (B, 1, ...)
    return (1.0 - t) * x0 + t * noise


def velocity_target(x0: Tensor, noise: Tensor) -> Tensor:
    """The constant velocity of the straight path, what the model learns: ``noise - x0``."""
    return noise - x0
