"""Dense optical flow between video frames: coarse-to-fine Lucas–Kanade in plain PyTorch.

Shared by the conformance metric (which fits camera motion models to the flow) and the move
classifier (which reads the flow field's structure). Frames are either uint8 (T, H, W, 3) as the
renderer and video decoders give them, or float (T, 3, H, W) in [0, 1] as the VAE and pipeline
give them.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def to_gray(frames: torch.Tensor) -> torch.Tensor:
    """(T, H, W) float luminance in [0, 1] from uint8 (T, H, W, 3) or float (T, 3, H, W)."""
    if frames.dtype == torch.uint8:
        x = frames.float().permute(0, 3, 1, 2) / 255.0
    else:
        x = frames.float()
        if x.shape[1] != 3 and x.shape[-1] == 3:
            x = x.permute(0, 3, 1, 2)
    w = torch.tensor([0.299, 0.587, 0.114], dtype=x.dtype, device=x.device)
    return (x * w[None, :, None, None]).sum(1)


# Added to the structure tensor's diagonal before each Lucas–Kanade solve (luma² per px², a
# two-hundredth of `TEXTURE_HALF`): where texture is faint or runs one way, the step shrinks
# towards zero smoothly instead of being dropped. A hard cut on the tensor's determinant left
# every vector of a low-contrast frame (a dusk sky, a defocused lawn, a night scene) at exactly
# zero while `texture_weight` still trusted it by as much as 0.6, so a pan read as a still frame.
LK_DAMPING = 1e-6


def _box(x: torch.Tensor, k: int) -> torch.Tensor:
    return F.avg_pool2d(F.pad(x, (k // 2,) * 4, mode="replicate"), k, stride=1)


def _grad(img: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    p = F.pad(img, (1, 1, 1, 1), mode="replicate")
    gx = (p[..., 1:-1, 2:] - p[..., 1:-1, :-2]) / 2
    gy = (p[..., 2:, 1:-1] - p[..., :-2, 1:-1]) / 2
    return gx, gy


def _warp(img: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """Sample img (N, 1, H, W) at x + flow (N, 2, H, W) (pixels), border-clamped."""
    _, _, h, w = img.shape
    ys, xs = torch.meshgrid(
        torch.arange(h, dtype=img.dtype), torch.arange(w, dtype=img.dtype), indexing="ij"
    )
    gx = (xs + flow[:, 0]) / max(w - 1, 1) * 2 - 1
    gy = (ys + flow[:, 1]) / max(h - 1, 1) * 2 - 1
    grid = torch.stack([gx, gy], -1)
    return F.grid_sample(img, grid, mode="bilinear", padding_mode="border", align_corners=True)


def optical_flow(gray: torch.Tensor, **kwargs) -> tuple[torch.Tensor, torch.Tensor]:
    """Coarse-to-fine Lucas–Kanade flow between consecutive frames.

    Args:
        gray: (T, H, W) luminance.
    Returns:
        flow (T-1, 2, H, W) in pixels (frame t -> t+1) and confidence (T-1, H, W) >= 0.
    """
    return flow_between(gray[:-1], gray[1:], **kwargs)


def flow_between(
    first: torch.Tensor,
    second: torch.Tensor,
    *,
    window: int = 7,
    iterations: int = 3,
    min_size: int = 12,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Coarse-to-fine Lucas–Kanade flow from each of `first` (N, H, W) to the same index of
    `second`: flow (N, 2, H, W) in pixels and confidence (N, H, W) >= 0."""
    i0 = first[:, None]
    i1 = second[:, None]
    pyr0, pyr1 = [i0], [i1]
    while min(pyr0[-1].shape[-2:]) // 2 >= min_size:
        pyr0.append(F.avg_pool2d(pyr0[-1], 2))
        pyr1.append(F.avg_pool2d(pyr1[-1], 2))
    flow = torch.zeros(i0.shape[0], 2, *pyr0[-1].shape[-2:], dtype=first.dtype)
    conf = torch.zeros(i0.shape[0], *pyr0[-1].shape[-2:], dtype=first.dtype)
    for level in range(len(pyr0) - 1, -1, -1):
        a, b = pyr0[level], pyr1[level]
        if flow.shape[-2:] != a.shape[-2:]:
            flow = F.interpolate(flow, size=a.shape[-2:], mode="bilinear", align_corners=False) * 2
        ax, ay = _grad(a)
        for _ in range(iterations):
            bw = _warp(b, flow)
            bx, by = _grad(bw)
            gx, gy = (ax + bx) / 2, (ay + by) / 2
            it = bw - a
            sxx, syy, sxy = _box(gx * gx, window), _box(gy * gy, window), _box(gx * gy, window)
            sxt, syt = _box(gx * it, window), _box(gy * it, window)
            a11, a22 = sxx + LK_DAMPING, syy + LK_DAMPING
            det = a11 * a22 - sxy * sxy
            du = -(a22 * sxt - sxy * syt) / det
            dv = -(a11 * syt - sxy * sxt) / det
            flow = flow + torch.cat([du, dv], 1).clamp(-2, 2)
        tr = sxx + syy
        conf = (tr / 2 - torch.sqrt(((sxx - syy) / 2) ** 2 + sxy * sxy)).clamp(min=0)[:, 0]
    return flow, conf


TEXTURE_HALF = 2e-4  # structure-tensor eigenvalue (luma² per px²) that counts as half-trusted
HOP = 4  # frames per hop of accumulated flow


def texture_weight(conf: torch.Tensor) -> torch.Tensor:
    """How far to trust each flow vector, 0..1, from `optical_flow`'s confidence (..., H, W).

    Absolute, not relative: a flat (or defocused) region gets no say even when the whole frame is
    flat. A rim is zeroed because the warp clamps at the border.
    """
    h, w = conf.shape[-2:]
    margin = max(2, min(h, w) // 16)
    rim = torch.zeros(h, w, dtype=conf.dtype)
    rim[margin : h - margin, margin : w - margin] = 1
    return conf / (conf + TEXTURE_HALF) * rim


def hop_indices(num_frames: int) -> list[int]:
    """Frames 0, 4, 8, ... and the last: longer steps measure small motions with less summed
    noise than one-frame steps."""
    return [*range(0, num_frames - 1, HOP), num_frames - 1]


# Parameter order of a similarity fit: translation x, y, zoom (relative scale change), roll (rad).
TX, TY, ZOOM, ROLL = 0, 1, 2, 3


def half_width_coordinates(
    h: int, w: int, dtype: torch.dtype = torch.float32
) -> tuple[torch.Tensor, torch.Tensor]:
    """(H*W,) x and y of every pixel centre about the frame centre, in half-widths (so a frame's
    aspect ratio shows in the range of y)."""
    ys, xs = torch.meshgrid(
        torch.arange(h, dtype=dtype), torch.arange(w, dtype=dtype), indexing="ij"
    )
    xn = (xs + 0.5 - w / 2) / (w / 2)
    yn = (ys + 0.5 - h / 2) / (w / 2)
    return xn.reshape(-1), yn.reshape(-1)


def _similarity_design(xs: torch.Tensor, ys: torch.Tensor) -> torch.Tensor:
    """(2M, 4) rows of the similarity flow model (translation, zoom, roll) for u then v at M
    points."""
    o, z = torch.ones_like(xs), torch.zeros_like(xs)
    u = torch.stack([o, z, xs, -ys], -1)
    v = torch.stack([z, o, ys, xs], -1)
    return torch.cat([u, v], 0)


def _robust_fit(
    obs: torch.Tensor, weight: torch.Tensor, a: torch.Tensor, iterations: int = 4
) -> tuple[torch.Tensor, torch.Tensor]:
    """IRLS least squares with Cauchy weights, batched.

    Args:
        obs: (N, 2M) observed flow (u then v); weight: (N, M) texture weights; a: (2M, P).
    Returns:
        params (N, P) and residuals (N, 2M).
    """
    base = torch.cat([weight, weight], 1)
    w = base
    p = a.shape[1]
    params = torch.zeros(obs.shape[0], p, dtype=obs.dtype)
    resid = obs
    for _ in range(iterations):
        aw = a[None] * w[..., None]  # (N, 2M, P)
        lhs = aw.transpose(1, 2) @ a[None] + 1e-6 * torch.eye(p, dtype=obs.dtype)
        rhs = (aw * obs[..., None]).sum(1)
        params = torch.linalg.solve(lhs, rhs)
        resid = obs - params @ a.T
        # Median residual among textured points: robust to a subject filling much of the frame.
        masked = torch.where(base > 0.3, resid.abs(), torch.nan)
        scale = masked.nanmedian(dim=1, keepdim=True).values.nan_to_num(1.0)
        w = base / (1 + (resid / (2 * scale + 1e-6)) ** 2)
    return params, resid


def fit_similarity(flow: torch.Tensor, weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The similarity (translation, zoom, roll) that best explains each flow field, robustly (IRLS
    with Cauchy weights, so a walking figure or a bouncing ball does not pull it).

    Args:
        flow: (N, 2, H, W) in half-widths; weight: (N, H, W) how far to trust each vector.
    Returns:
        params (N, 4) in `TX, TY, ZOOM, ROLL` order, translation in half-widths, and the residual
        flow (N, 2, H, W): what a rotation about the optical axis and a uniform scale change do
        not explain (parallax, a subject's own motion, a wide lens's perspective).
    """
    n, _, h, w = flow.shape
    xn, yn = half_width_coordinates(h, w, flow.dtype)
    obs = flow.reshape(n, 2 * h * w)  # u then v
    params, resid = _robust_fit(obs, weight.reshape(n, -1), _similarity_design(xn, yn))
    return params, resid.reshape(n, 2, h, w)
