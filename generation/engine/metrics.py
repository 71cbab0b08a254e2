"""Camera conformance: did a video follow the requested camera move?

From frames alone we estimate the global image motion between consecutive frames and read the
camera move from its structure:

1. Dense optical flow by coarse-to-fine Lucas–Kanade (image pyramid, iterative warping), with a
   texture confidence per pixel (the structure tensor's smaller eigenvalue).
2. Robust fits (IRLS with Cauchy weights, so a walking figure or a bouncing ball does not pull
   them) of a similarity model (translation, zoom, roll) per frame pair and to the flow
   accumulated over the clip, and of the 8-parameter homography flow to the accumulated flow.
3. Physics of the moves: any camera rotation or zoom moves the image by a homography whatever
   the depth, so its residual ("parallax") stays near zero; a translation (truck, crane, dolly)
   moves near things more than far ones and leaves a residual. Among translations an orbit
   turns while it travels, so near and far content move in opposite directions; a zoom expands
   every pixel at the same rate while a dolly expands near pixels faster; handheld is
   high-frequency jitter with little net motion; steadicam is a dolly-like glide with a slow
   roll float.

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
ACCUMULATE_STRIDE = 4  # frames per hop of the accumulated flow
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


def _weighted_quantile(x: torch.Tensor, w: torch.Tensor, q: float) -> float:
    """Quantile q of values x (M,) under non-negative weights w (M,)."""
    if float(w.sum()) <= 0:
        return 0.0
    order = torch.argsort(x)
    cw = torch.cumsum(w[order], 0)
    i = int(torch.searchsorted(cw, q * cw[-1]).clamp(max=x.shape[0] - 1))
    return float(x[order][i])


def _design(xs: torch.Tensor, ys: torch.Tensor, model: str) -> torch.Tensor:
    """(2M, P) linear flow model rows for u then v at M points (coords in half-widths).

    similarity: translation, zoom, roll (4). homography: the linearised 8-parameter plane-induced
    flow, which is exact for any camera rotation or zoom whatever the depth: only translation
    creates flow it cannot explain (parallax).
    """
    o, z = torch.ones_like(xs), torch.zeros_like(xs)
    if model == "similarity":
        u = torch.stack([o, z, xs, -ys], -1)
        v = torch.stack([z, o, ys, xs], -1)
    else:
        u = torch.stack([o, z, xs, ys, z, z, xs * xs, xs * ys], -1)
        v = torch.stack([z, o, z, z, xs, ys, xs * ys, ys * ys], -1)
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


@dataclass(frozen=True)
class MotionEstimate:
    """Global image motion of a clip (all lengths are fractions of the frame width).

    Args:
        pairs: (T-1, 4) similarity per frame pair: tx, ty (+ = image content moving right /
            down), zoom (relative scale change), roll (rad).
        total: (4,) the same fitted to the accumulated flow over the clip.
        magnitude: median length of the accumulated flow over textured pixels.
        parallax: median residual of the accumulated flow after the best homography, relative to
            `magnitude`: ~0 for rotations and zooms, large for translations.
        spread_low / spread_high: 15th / 85th percentiles of the accumulated flow along its main
            direction, relative to `magnitude` (opposite signs: near and far move apart = orbit).
        near_x: mean horizontal flow of the bottom third (near ground, usually).
        radial_low / radial_high: percentiles of the per-pixel expansion rate relative to its
            median (uniform for a zoom; depth-dependent for a dolly).
        texture: mean flow confidence (low: little to go on).
    """

    pairs: torch.Tensor
    total: torch.Tensor
    magnitude: float
    parallax: float
    spread_low: float
    spread_high: float
    near_x: float
    radial_low: float
    radial_high: float
    texture: float

    @property
    def jitter(self) -> float:
        """High-frequency path length of (tx, ty): handheld's mark."""
        p = self.pairs[:, [TX, TY]]
        if p.shape[0] < 3:
            return 0.0
        return float((p[1:-1] - 0.5 * (p[:-2] + p[2:])).abs().sum())

    @property
    def roll_wander(self) -> float:
        """Largest roll excursion from a straight line over the clip (steadicam float)."""
        c = torch.cumsum(self.pairs[:, ROLL], 0)
        line = torch.linspace(0, float(c[-1]), c.shape[0], dtype=c.dtype)
        return float((c - line).abs().max())


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
    margin = max(2, min(h, w) // 16)  # the warp clamps at the border: ignore a rim
    ys, xs = torch.meshgrid(
        torch.arange(h, dtype=gray.dtype), torch.arange(w, dtype=gray.dtype), indexing="ij"
    )
    inner = torch.zeros(h, w, dtype=gray.dtype)
    inner[margin : h - margin, margin : w - margin] = 1
    xn = ((xs + 0.5 - w / 2) / (w / 2)).reshape(-1)
    yn = ((ys + 0.5 - h / 2) / (w / 2)).reshape(-1)
    # Absolute texture weight: a flat (or defocused) region gets no say, even when the whole
    # frame is flat (then the fit stays at zero motion: no evidence of a move).
    weight = (conf / (conf + _TEXTURE_HALF) * inner).reshape(conf.shape[0], -1)  # (T-1, M)
    fl = flow.reshape(flow.shape[0], 2, -1) / (w / 2)  # (T-1, 2, M) in half-widths
    sim = _design(xn, yn, "similarity")
    pairs, _ = _robust_fit(torch.cat([fl[:, 0], fl[:, 1]], 1), weight, sim)
    # Accumulated flow from a few longer hops (frame 0 -> 4 -> 8 ...): larger steps measure
    # small motions with less summed noise than 15 one-frame steps.
    stride = max(1, min(ACCUMULATE_STRIDE, gray.shape[0] - 1))
    hops = list(range(0, gray.shape[0], stride))
    if hops[-1] != gray.shape[0] - 1:
        hops.append(gray.shape[0] - 1)
    long_flow, long_conf = optical_flow(torch.stack([gray[i] for i in hops]))
    acc = long_flow.reshape(long_flow.shape[0], 2, -1).sum(0) / (w / 2)  # (2, M) half-widths
    long_w = (long_conf / (long_conf + _TEXTURE_HALF) * inner).reshape(long_conf.shape[0], -1)
    wacc = long_w.mean(0, keepdim=True)  # (1, M)
    obs = torch.cat([acc[0], acc[1]])[None]
    total, _ = _robust_fit(obs, wacc, sim)
    m = acc.shape[1]
    wv = wacc[0]
    length = acc.norm(dim=0)
    magnitude = _weighted_quantile(length, wv, 0.5) + 1e-9
    # Parallax per hop (a homography explains any rotation or zoom exactly), over well-textured
    # pixels only, pooled over hops by their motion.
    hop = long_flow.reshape(long_flow.shape[0], 2, -1) / (w / 2)
    _, resid = _robust_fit(
        torch.cat([hop[:, 0], hop[:, 1]], 1), long_w, _design(xn, yn, "homography")
    )
    res_len = torch.sqrt(resid[:, :m] ** 2 + resid[:, m:] ** 2)  # (hops, M)
    good = (long_w > 0.5).to(gray.dtype)
    par_num = sum(_weighted_quantile(res_len[k], good[k], 0.5) for k in range(hop.shape[0]))
    par_den = sum(_weighted_quantile(hop[k].norm(dim=0), good[k], 0.5) for k in range(hop.shape[0]))
    parallax = par_num / (par_den + 1e-9)
    tot = total[0].clone()
    lateral = tot[:2]
    e = lateral / (lateral.norm() + 1e-12)
    along = e[0] * acc[0] + e[1] * acc[1]
    near = (yn > (h / w) / 3) & (wv > 0.3)
    near_x = float(acc[0][near].mean()) if bool(near.any()) else 0.0
    # Expansion rate per pixel: flow component away from the centre, over the distance.
    r = torch.sqrt(xn * xn + yn * yn).clamp(min=1e-3)
    radial = (acc[0] * xn + acc[1] * yn) / (r * r)
    far_from_centre = wv * (r > 0.25)
    rmed = _weighted_quantile(radial, far_from_centre, 0.5)
    denom = abs(rmed) + 1e-9
    tot[TX : TY + 1] /= 2  # half-widths -> fraction of width
    pairs[:, TX : TY + 1] /= 2
    return MotionEstimate(
        pairs=pairs,
        total=tot,
        magnitude=magnitude / 2,
        parallax=parallax,
        spread_low=_weighted_quantile(along, wv, 0.15) / magnitude,
        spread_high=_weighted_quantile(along, wv, 0.85) / magnitude,
        near_x=near_x / 2,
        radial_low=_weighted_quantile(radial, far_from_centre, 0.15)
        * math.copysign(1, rmed)
        / denom,
        radial_high=_weighted_quantile(radial, far_from_centre, 0.85)
        * math.copysign(1, rmed)
        / denom,
        texture=float(conf.mean()),
    )


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
STATIC_MAX = 0.006  # median accumulated motion (fraction of width) below this: no move
JITTER_RATIO = 0.8  # jitter / net motion above this is handheld
JITTER_MIN = 0.03
PARALLAX_MIN = 0.42  # homography residual / motion above this: the camera translated
ORBIT_OPPOSITE = 0.2  # both tails moving opposite ways, each at least this much: an orbit
CRANE_SPREAD = 0.25  # 15th / 85th percentile of a vertical shift below this: the camera rose
ROLL_FLOAT = 0.01  # rad of roll wander: a steadicam float


def classify_move(estimate: MotionEstimate) -> MoveGuess:
    """The dominant camera move of a clip and its direction, from a motion estimate."""
    tot = estimate.total
    tx, ty, zoom = float(tot[TX]), float(tot[TY]), float(tot[ZOOM])
    lateral = math.hypot(tx, ty)
    jit = estimate.jitter
    if estimate.magnitude < STATIC_MAX and jit < JITTER_MIN:
        return MoveGuess("static", "none", estimate.magnitude)
    if jit > JITTER_MIN and jit > JITTER_RATIO * estimate.magnitude:
        return MoveGuess("handheld", "none", jit)
    translating = estimate.parallax > PARALLAX_MIN
    # Zoom is a relative scale change; at the frame edge (half a width out) it moves content by
    # zoom / 2 widths, which makes it comparable with a lateral shift.
    if abs(zoom) * 0.5 > lateral:
        direction_in = zoom > 0
        if not translating:
            return MoveGuess("zoom", "in" if direction_in else "out", abs(zoom))
        if estimate.roll_wander > ROLL_FLOAT:
            return MoveGuess("steadicam", "forward" if direction_in else "backward", abs(zoom))
        return MoveGuess("dolly", "in" if direction_in else "out", abs(zoom))
    horizontal = abs(tx) >= abs(ty)
    lo, hi = estimate.spread_low, estimate.spread_high
    if translating and horizontal and lo < -ORBIT_OPPOSITE and hi > ORBIT_OPPOSITE:
        # Near content moves one way, far content the other: the camera arcs round the subject.
        # Orbit left: the camera travels left, so near content slides right.
        return MoveGuess("orbit", "left" if estimate.near_x > 0 else "right", lateral)
    if horizontal:
        # Content moving right means the camera went left (pan left or truck left).
        direction = "left" if tx > 0 else "right"
        return MoveGuess("truck" if translating else "pan", direction, lateral)
    direction = "up" if ty > 0 else "down"  # content moving down: the camera went up
    # Vertically the spread of the shift is the sharper cue: a crane leaves the horizon and sky
    # almost still (low tail near 0) while a tilt moves every row by a similar amount.
    spread = lo / hi if hi > 1e-6 else 1.0
    return MoveGuess("crane" if spread < CRANE_SPREAD else "tilt", direction, lateral)


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
