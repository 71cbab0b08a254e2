"""Camera conformance: did a video follow the requested camera move?

From frames alone we estimate the global image motion between consecutive frames and read the
camera move from its structure:

1. Dense optical flow by coarse-to-fine Lucas–Kanade (image pyramid, iterative warping), with a
   texture confidence per pixel (the structure tensor's smaller eigenvalue).
2. A similarity model (translation, zoom, roll) fitted robustly (IRLS, so a walking figure or a
   bouncing ball does not pull the fit) to the whole frame and to three horizontal bands.
   The bands are a depth proxy: with the camera near eye height the top of the frame is far away
   (or sky) and the bottom is near ground.
3. Physics of the moves: a rotation (pan, tilt) or a zoom moves every depth alike, so the bands
   agree; a translation (truck, crane, dolly) moves near things more, so the bottom band leads and
   the sky stays; an orbit turns while translating, so near and far move in opposite directions;
   handheld is high-frequency jitter with little net motion; steadicam is a forward/backward
   glide (dolly-like parallax) with a slow sideways float.

Frames are either uint8 (T, H, W, 3) as the renderer and video decoders give them, or float
(T, 3, H, W) in [0, 1] as the VAE and pipeline give them; both are accepted.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from generation.engine.camera import (
    ORBIT_DEG_PER_S,
    PAN_DEG_PER_S,
    TILT_DEG_PER_S,
    ZOOM_LOG_PER_S,
    CameraSpec,
    ease,
    focal_length_px,
)

# Parameter order of a similarity fit: translation x, y (fraction of frame width per frame),
# zoom (relative scale change per frame), roll (rad per frame).
TX, TY, ZOOM, ROLL = 0, 1, 2, 3
BANDS = ("top", "middle", "bottom")
_TEXTURE_HALF = 2e-4  # structure-tensor eigenvalue (luma² per px²) that counts as half-trusted


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


def optical_flow(
    gray: torch.Tensor, *, window: int = 7, iterations: int = 3, min_size: int = 12
) -> tuple[torch.Tensor, torch.Tensor]:
    """Coarse-to-fine Lucas–Kanade flow between consecutive frames.

    Args:
        gray: (T, H, W) luminance.
    Returns:
        flow (T-1, 2, H, W) in pixels (frame t -> t+1) and confidence (T-1, H, W) >= 0.
    """
    i0 = gray[:-1, None]
    i1 = gray[1:, None]
    pyr0, pyr1 = [i0], [i1]
    while min(pyr0[-1].shape[-2:]) // 2 >= min_size:
        pyr0.append(F.avg_pool2d(pyr0[-1], 2))
        pyr1.append(F.avg_pool2d(pyr1[-1], 2))
    flow = torch.zeros(i0.shape[0], 2, *pyr0[-1].shape[-2:], dtype=gray.dtype)
    conf = torch.zeros(i0.shape[0], *pyr0[-1].shape[-2:], dtype=gray.dtype)
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
            det = sxx * syy - sxy * sxy + 1e-9
            du = -(syy * sxt - sxy * syt) / det
            dv = -(sxx * syt - sxy * sxt) / det
            step = torch.cat([du, dv], 1).clamp(-2, 2)
            ok = (det > 1e-7).to(gray.dtype)
            flow = flow + step * ok
        tr = sxx + syy
        conf = (tr / 2 - torch.sqrt(((sxx - syy) / 2) ** 2 + sxy * sxy)).clamp(min=0)[:, 0]
    return flow, conf


def _fit_similarity(
    flow: torch.Tensor, weight: torch.Tensor, xs: torch.Tensor, ys: torch.Tensor, width: int
) -> torch.Tensor:
    """Robust similarity fit per pair: (N, 4) = (tx, ty, zoom, roll), tx/ty as fraction of width.

    Args:
        flow: (N, 2, M) pixel flow at M points; weight: (N, M); xs, ys: (M,) coords / half-width.
    """
    n = flow.shape[0]
    ones, zeros = torch.ones_like(xs), torch.zeros_like(xs)
    # Rows: u = tx + s x - r y ; v = ty + s y + r x   (in units of half-widths)
    au = torch.stack([ones, zeros, xs, -ys], -1)  # (M, 4)
    av = torch.stack([zeros, ones, ys, xs], -1)
    a = torch.cat([au, av], 0)  # (2M, 4)
    obs = torch.cat([flow[:, 0], flow[:, 1]], 1) / (width / 2)  # (N, 2M)
    w = torch.cat([weight, weight], 1)
    params = torch.zeros(n, 4, dtype=flow.dtype)
    for _ in range(4):
        aw = a[None] * w[..., None]  # (N, 2M, 4)
        lhs = aw.transpose(1, 2) @ a[None] + 1e-6 * torch.eye(4, dtype=flow.dtype)
        rhs = (aw * obs[..., None]).sum(1)
        params = torch.linalg.solve(lhs, rhs)
        resid = obs - params @ a.T
        # Median residual among well-textured points: robust to a subject filling the frame.
        trusted = torch.cat([weight, weight], 1) > 0.3
        masked = torch.where(trusted, resid.abs(), torch.nan)
        scale = masked.nanmedian(dim=1, keepdim=True).values.nan_to_num(1.0)
        # Cauchy weights: points that move unlike the bulk (subjects, occlusions) fade out.
        w = torch.cat([weight, weight], 1) / (1 + (resid / (2 * scale + 1e-6)) ** 2)
    params[:, TX : TY + 1] /= 2  # half-widths -> fraction of width
    return params


@dataclass(frozen=True)
class MotionEstimate:
    """Global image motion of a clip, frame pair by frame pair.

    Args:
        pairs: (T-1, 4) whole-frame similarity per pair: tx, ty (fraction of frame width, + is
            image content moving right / down), zoom (relative scale change), roll (rad).
        bands: (3, T-1, 4) the same fitted to the top, middle and bottom thirds.
        texture: mean flow confidence (low = a textureless frame, little to go on).
    """

    pairs: torch.Tensor
    bands: torch.Tensor
    texture: float

    @property
    def total(self) -> torch.Tensor:
        """(4,) accumulated motion over the clip."""
        return self.pairs.sum(0)

    @property
    def band_total(self) -> torch.Tensor:
        """(3, 4) accumulated motion per band."""
        return self.bands.sum(1)

    @property
    def jitter(self) -> float:
        """High-frequency path length of (tx, ty, roll) relative to the frame: handheld's mark."""
        p = self.pairs[:, [TX, TY]]
        if p.shape[0] < 3:
            return 0.0
        hf = p[1:-1] - 0.5 * (p[:-2] + p[2:])
        return float(hf.abs().sum())


def estimate_camera_motion(frames: torch.Tensor) -> MotionEstimate:
    """Estimate global camera motion from frames alone.

    Args:
        frames: uint8 (T, H, W, 3) or float (T, 3, H, W) in [0, 1], T >= 2.
    """
    if frames.shape[0] < 2:
        raise ValueError(f"motion needs at least 2 frames, got {frames.shape[0]}")
    gray = to_gray(frames)
    _, h, w = gray.shape
    flow, conf = optical_flow(gray)
    # Ignore a border where the warp clamps and the window sees padding.
    margin = max(2, min(h, w) // 16)
    ys, xs = torch.meshgrid(
        torch.arange(h, dtype=gray.dtype), torch.arange(w, dtype=gray.dtype), indexing="ij"
    )
    inner = torch.zeros(h, w, dtype=torch.bool)
    inner[margin : h - margin, margin : w - margin] = True
    xn = (xs + 0.5 - w / 2) / (w / 2)
    yn = (ys + 0.5 - h / 2) / (w / 2)
    # Absolute texture weight: a flat (or defocused) region says nothing and gets no say, even
    # when the whole frame is flat (then the fit stays at zero motion: "no evidence of a move").
    weight = conf / (conf + _TEXTURE_HALF) * inner
    fl = flow.reshape(flow.shape[0], 2, -1)
    wt = weight.reshape(weight.shape[0], -1)
    pairs = _fit_similarity(fl, wt, xn.reshape(-1), yn.reshape(-1), w)
    bands = []
    for b in range(3):
        rows = torch.zeros(h, w, dtype=torch.bool)
        rows[b * h // 3 : (b + 1) * h // 3] = True
        sel = rows.reshape(-1)
        bands.append(
            _fit_similarity(fl[:, :, sel], wt[:, sel], xn.reshape(-1)[sel], yn.reshape(-1)[sel], w)
        )
    return MotionEstimate(pairs=pairs, bands=torch.stack(bands), texture=float(conf.mean()))


@dataclass(frozen=True)
class MoveGuess:
    """A move read from motion: kind, direction, and the measured amount that decided it."""

    kind: str
    direction: str
    magnitude: float

    @property
    def label(self) -> str:
        return self.kind if self.direction == "none" else f"{self.kind} {self.direction}"


# Decision thresholds, tuned on the tuning seeds of bench/camera_conformance.py (never on the
# held-out seeds it reports).
STATIC_MAX = 0.012  # total motion below this (fraction of width / relative scale) is no move
JITTER_RATIO = 0.6  # jitter / net motion above this is handheld
PARALLAX_RATIO = 0.45  # far band / near band motion below this means the camera translated
ORBIT_OPPOSITE = -0.15  # far band moving against the near band by this fraction: an orbit


def classify_move(estimate: MotionEstimate) -> MoveGuess:
    """The dominant camera move of a clip and its direction, from a motion estimate."""
    tot = estimate.total
    top, _, bottom = estimate.band_total
    tx, ty, zoom = float(tot[TX]), float(tot[TY]), float(tot[ZOOM])
    lateral = math.hypot(tx, ty)
    amount = max(abs(tx), abs(ty), abs(zoom))
    jit = estimate.jitter
    near = bottom
    far = top
    if amount < STATIC_MAX and jit < STATIC_MAX:
        return MoveGuess("static", "none", amount)
    if jit > JITTER_RATIO * max(amount, 1e-6) and jit > 0.004:
        return MoveGuess("handheld", "none", jit)
    if abs(zoom) >= max(abs(tx), abs(ty)) * 0.6:
        # Scale change: uniform in depth = zoom; growing with nearness = dolly (or steadicam).
        ratio = float(far[ZOOM]) / (float(near[ZOOM]) if abs(float(near[ZOOM])) > 1e-6 else 1e-6)
        direction_in = zoom > 0
        if ratio > 1 - PARALLAX_RATIO and ratio < 1.8:
            return MoveGuess("zoom", "in" if direction_in else "out", abs(zoom))
        sway = _sway(estimate)
        if sway > 0.35 * abs(zoom):
            return MoveGuess("steadicam", "forward" if direction_in else "backward", abs(zoom))
        return MoveGuess("dolly", "in" if direction_in else "out", abs(zoom))
    horizontal = abs(tx) >= abs(ty)
    axis = TX if horizontal else TY
    n, f = float(near[axis]), float(far[axis])
    sign = 1.0 if (tx if horizontal else ty) > 0 else -1.0
    if n * sign > 0 and f * sign < ORBIT_OPPOSITE * abs(n) and horizontal:
        # Near content moves with the bulk, far content against it: the camera arcs.
        return MoveGuess("orbit", "left" if n > 0 else "right", lateral)
    rel = f / n if abs(n) > 1e-6 else 1.0
    translating = rel < PARALLAX_RATIO
    if horizontal:
        # Content moving right means the camera went left (pan left or truck left).
        direction = "left" if tx > 0 else "right"
        return MoveGuess("truck" if translating else "pan", direction, lateral)
    direction = "up" if ty > 0 else "down"  # content moving down: camera went up
    return MoveGuess("crane" if translating else "tilt", direction, lateral)


def _sway(estimate: MotionEstimate) -> float:
    """Net sideways wander of the near band, after removing a straight drift."""
    p = estimate.bands[2, :, TX]
    c = torch.cumsum(p, 0)
    line = torch.linspace(0, float(c[-1]), c.shape[0], dtype=c.dtype)
    return float((c - line).abs().max())


@dataclass(frozen=True)
class ConformanceScore:
    """How well a clip followed its camera spec.

    Args:
        requested / detected: move labels ("dolly in", "pan left", ...).
        move_match / direction_match: the detected move kind / direction equal the request.
        speed_ratio: measured / requested image speed for moves whose image speed is depth-free
            (pan, tilt, zoom); None for translations, whose image speed depends on scene depth.
        focal_change: measured scale factor over the clip; expected_focal_change: the spec's.
        score: 0..1, 0.5 for the kind, 0.25 for the direction, 0.25 for the speed (shared
            between kind and direction when speed is not measurable).
    """

    requested: str
    detected: str
    move_match: bool
    direction_match: bool
    speed_ratio: float | None
    focal_change: float
    expected_focal_change: float
    score: float


def _expected_image_speed(
    spec: CameraSpec, kind: str, fps: float, num_frames: int, width: int, height: int
) -> float | None:
    move = next((m for m in spec.moves if m.kind == kind), None)
    if move is None:
        return None
    f_px = float(focal_length_px(spec.focal_mm, width, height))
    dur = num_frames / fps
    # Progress between the first and last frame (the estimate spans T-1 intervals).
    progress = float(ease(torch.tensor((num_frames - 1) / num_frames), move.easing)) * dur
    amount = move.speed * progress
    if kind == "pan":
        return math.radians(PAN_DEG_PER_S) * amount * f_px / width
    if kind == "tilt":
        return math.radians(TILT_DEG_PER_S) * amount * f_px / width
    if kind == "zoom":
        return ZOOM_LOG_PER_S * amount
    if kind == "orbit":
        return math.radians(ORBIT_DEG_PER_S) * amount * f_px / width
    return None


def camera_conformance(
    frames: torch.Tensor, spec: CameraSpec, fps: float = 24.0
) -> ConformanceScore:
    """Score how well `frames` follow `spec`'s primary move.

    Args:
        frames: uint8 (T, H, W, 3) or float (T, 3, H, W) in [0, 1].
        spec: the requested camera. fps: the clip's frame rate (for speeds).
    """
    est = estimate_camera_motion(frames)
    guess = classify_move(est)
    want = spec.primary_move
    t = frames.shape[0]
    h, w = (frames.shape[1], frames.shape[2]) if frames.dtype == torch.uint8 else frames.shape[2:]
    move_match = guess.kind == want.kind
    direction_match = guess.direction == want.direction
    expected = _expected_image_speed(spec, want.kind, fps, t, w, h)
    measured = {
        "pan": abs(float(est.total[TX])),
        "tilt": abs(float(est.total[TY])),
        "zoom": abs(float(est.total[ZOOM])),
    }.get(want.kind)
    speed_ratio = None
    if expected and measured is not None and expected > 1e-9:
        speed_ratio = measured / expected
    zoom_move = next((m for m in spec.moves if m.kind == "zoom"), None)
    expected_focal = 1.0
    if zoom_move is not None:
        sign = 1.0 if zoom_move.direction == "in" else -1.0
        expected_focal = math.exp(sign * (_expected_image_speed(spec, "zoom", fps, t, w, h) or 0))
    focal_change = math.exp(float(est.total[ZOOM])) if guess.kind == "zoom" else 1.0
    kind_part = 0.5 * move_match
    dir_ok = direction_match and move_match
    if speed_ratio is None:
        score = (kind_part + 0.25 * dir_ok) / 0.75
    else:
        closeness = math.exp(-abs(math.log(max(speed_ratio, 1e-6))))
        score = kind_part + 0.25 * dir_ok + 0.25 * closeness * dir_ok
    return ConformanceScore(
        requested=want.label,
        detected=guess.label,
        move_match=move_match,
        direction_match=direction_match,
        speed_ratio=speed_ratio,
        focal_change=focal_change,
        expected_focal_change=expected_focal,
        score=float(score),
    )
