"""Camera conformance: did a video follow the requested camera move?

From frames alone, two readings of the clip's optical flow (`optical_flow`):

1. Which move: the camera-move classifier (`move_classifier`) reads the structure of the whole
   flow field — parallax, expansion, opposite motion about a still subject, jitter — and names the
   move and its direction.
2. How much: a robust fit (IRLS with Cauchy weights, so a walking figure or a bouncing ball does
   not pull it) of a similarity model (translation, zoom, roll) to the flow accumulated over the
   clip gives the image speed of a pan, tilt or zoom and the focal change, which are compared
   with what the spec asked for.

Frames are either uint8 (T, H, W, 3) as the renderer and video decoders give them, or float
(T, 3, H, W) in [0, 1] as the VAE and pipeline give them; both are accepted.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from generation.engine.camera import (
    MOVE_DIRECTIONS,
    ORBIT_DEG_PER_S,
    PAN_DEG_PER_S,
    TILT_DEG_PER_S,
    ZOOM_LOG_PER_S,
    CameraSpec,
    ease,
    focal_length_px,
)
from generation.engine.move_classifier import LABELS, MoveNet, move_probabilities
from generation.engine.optical_flow import hop_indices, optical_flow, texture_weight, to_gray

# Parameter order of a similarity fit: translation x, y (fraction of frame width), zoom (relative
# scale change), roll (rad).
TX, TY, ZOOM, ROLL = 0, 1, 2, 3


def _similarity_design(xs: torch.Tensor, ys: torch.Tensor) -> torch.Tensor:
    """(2M, 4) rows of the similarity flow model (translation, zoom, roll) for u then v at M
    points (coordinates in half-widths)."""
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


@dataclass(frozen=True)
class MotionEstimate:
    """Global image motion of a clip.

    Args:
        total: (4,) similarity fitted to the flow accumulated over the clip: tx, ty (fraction of
            the frame width; + = image content moving right / down), zoom (relative scale
            change), roll (rad).
    """

    total: torch.Tensor


def estimate_camera_motion(frames: torch.Tensor) -> MotionEstimate:
    """Estimate global camera motion from frames alone.

    Args:
        frames: uint8 (T, H, W, 3) or float (T, 3, H, W) in [0, 1], T >= 2.
    """
    if frames.shape[0] < 2:
        raise ValueError(f"motion needs at least 2 frames, got {frames.shape[0]}")
    gray = to_gray(frames)
    _, h, w = gray.shape
    ys, xs = torch.meshgrid(
        torch.arange(h, dtype=gray.dtype), torch.arange(w, dtype=gray.dtype), indexing="ij"
    )
    xn = ((xs + 0.5 - w / 2) / (w / 2)).reshape(-1)
    yn = ((ys + 0.5 - h / 2) / (w / 2)).reshape(-1)
    # Accumulated flow from a few longer hops (frame 0 -> 4 -> 8 ...): larger steps measure
    # small motions with less summed noise than one-frame steps.
    flow, conf = optical_flow(gray[hop_indices(gray.shape[0])])
    acc = flow.reshape(flow.shape[0], 2, -1).sum(0) / (w / 2)  # (2, M) half-widths
    # A flat (or defocused) region gets no say, even when the whole frame is flat (then the fit
    # stays at zero motion: no evidence of a move).
    weight = texture_weight(conf).reshape(conf.shape[0], -1).mean(0, keepdim=True)
    total, _ = _robust_fit(torch.cat([acc[0], acc[1]])[None], weight, _similarity_design(xn, yn))
    tot = total[0].clone()
    tot[TX : TY + 1] /= 2  # half-widths -> fraction of width
    return MotionEstimate(total=tot)


@dataclass(frozen=True)
class MoveGuess:
    """A move read from the frames: kind, direction, and the classifier's confidence in the kind."""

    kind: str
    direction: str
    confidence: float

    @property
    def label(self) -> str:
        return self.kind if self.direction == "none" else f"{self.kind} {self.direction}"


def detect_move(frames: torch.Tensor, nets: tuple[MoveNet, ...] | None = None) -> MoveGuess:
    """The camera move a clip shows and its direction, from frames alone.

    The kind is the one with the most probability over its directions; the direction is the most
    likely among that kind's. `nets` defaults to the shipped classifier.
    """
    p = move_probabilities(frames, nets)
    kind_p = {kind: 0.0 for kind in MOVE_DIRECTIONS}
    for (kind, _), q in zip(LABELS, p.tolist(), strict=True):
        kind_p[kind] += q
    kind = max(kind_p, key=kind_p.__getitem__)
    direction = max(
        (d for k, d in LABELS if k == kind), key=lambda d: float(p[LABELS.index((kind, d))])
    )
    return MoveGuess(kind, direction, kind_p[kind])


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
    guess = detect_move(frames)
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
