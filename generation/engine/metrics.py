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
from generation.engine.optical_flow import (
    TX,
    TY,
    ZOOM,
    fit_similarity,
    hop_indices,
    optical_flow,
    texture_weight,
    to_gray,
)


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
    w = gray.shape[-1]
    # Accumulated flow from a few longer hops (frame 0 -> 4 -> 8 ...): larger steps measure
    # small motions with less summed noise than one-frame steps.
    flow, conf = optical_flow(gray[hop_indices(gray.shape[0])])
    acc = flow.sum(0, keepdim=True) / (w / 2)  # (1, 2, H, W) half-widths
    # A flat (or defocused) region gets no say, even when the whole frame is flat (then the fit
    # stays at zero motion: no evidence of a move).
    weight = texture_weight(conf).mean(0, keepdim=True)
    total, _ = fit_similarity(acc, weight)
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
