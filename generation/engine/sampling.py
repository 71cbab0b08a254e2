"""Flow-matching ODE samplers as plain functions (k-diffusion style): no model imports.

A sampler integrates ``dx/dt = velocity_fn(x, t)`` along a decreasing schedule ``ts`` (from
``schedules``). After each step it calls ``callback(step, total, x, t)``; the callback may raise
:class:`SamplingCancelled` (or anything else) to stop at once, and the exception propagates.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

VelocityFn = Callable[[Tensor, Tensor], Tensor]
"""``velocity_fn(x, t) -> v``: ``x`` (B, ...), ``t`` (B,) times in [0, 1], ``v`` like ``x``."""

StepCallback = Callable[[int, int, Tensor, Tensor], None]
"""``callback(step, total, x, t)``: ``step`` in 1..total counts finished steps, ``x`` is the
state after the step and ``t`` the 0-dim time it is at."""


class SamplingCancelled(Exception):
    """Raised (by a callback or a pipeline) to stop sampling immediately."""


def _batch_t(t: Tensor, x: Tensor) -> Tensor:
    return t.to(device=x.device, dtype=torch.float32).expand(x.shape[0])  # (B,)


@torch.inference_mode()
def sample_euler(
    velocity_fn: VelocityFn,
    x: Tensor,
    ts: Tensor,
    *,
    callback: StepCallback | None = None,
) -> Tensor:
    """First-order solve: ``x <- x + (t_next - t) v(x, t)``; one model call per step.

    Args:
        velocity_fn: the velocity field, see :data:`VelocityFn`.
        x: (B, ...) state at ``ts[0]`` (noise for text-to-video).
        ts: (N + 1,) decreasing times; N steps are taken.
        callback: see :data:`StepCallback`.

    Returns:
        (B, ...) state at ``ts[-1]``, same dtype as ``x``.
    """
    total = len(ts) - 1
    for i in range(total):
        t, t_next = ts[i], ts[i + 1]
        v = velocity_fn(x, _batch_t(t, x))
        x = x + (t_next - t).to(x.dtype) * v
        if callback is not None:
            callback(i + 1, total, x, t_next)
    return x


@torch.inference_mode()
def sample_heun(
    velocity_fn: VelocityFn,
    x: Tensor,
    ts: Tensor,
    *,
    callback: StepCallback | None = None,
) -> Tensor:
    """Second-order (trapezoidal predictor-corrector) solve; two model calls per step.

    Unlike EDM samplers the last step is Heun too: a flow model is defined at ``t = 0``, and
    keeping it makes the solver exact for velocity fields linear in ``t``.

    Args:
        velocity_fn: the velocity field, see :data:`VelocityFn`.
        x: (B, ...) state at ``ts[0]``.
        ts: (N + 1,) decreasing times; N steps, 2N model calls.
        callback: see :data:`StepCallback`.

    Returns:
        (B, ...) state at ``ts[-1]``.
    """
    total = len(ts) - 1
    for i in range(total):
        t, t_next = ts[i], ts[i + 1]
        dt = (t_next - t).to(x.dtype)
        v = velocity_fn(x, _batch_t(t, x))
        x_pred = x + dt * v
        v_next = velocity_fn(x_pred, _batch_t(t_next, x))
        x = x + dt * 0.5 * (v + v_next)
        if callback is not None:
            callback(i + 1, total, x, t_next)
    return x


SAMPLERS: dict[str, Callable[..., Tensor]] = {"euler": sample_euler, "heun": sample_heun}
"""Sampler by name; Heun costs two velocity evaluations per step."""

EVALS_PER_STEP: dict[str, int] = {"euler": 1, "heun": 2}
