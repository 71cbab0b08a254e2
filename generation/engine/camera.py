"""The camera spec shared by the studio's camera panel, the render recipe and the world renderer.

One frozen, JSON-serialisable dataclass (`CameraSpec`) describes a shot's camera like a director
of photography would: lens (focal length on a full-frame gate), aperture and focus, shutter angle,
aspect ratio, a list of composable moves and optional custom keyframes. `camera_poses` turns it into
exact per-frame poses.

Conventions (used by the renderer and the conformance metric):
- World: y is up, metres. Camera axes follow OpenCV: x right, y down, z forward; `rotation` is
  world-from-camera with columns (right, down, forward), so `p_cam = R^T (p_world - position)`.
- Yaw turns the camera to its left for positive angles; pitch tilts it up for positive angles.
- Frame i is exposed from ``i / fps`` for ``shutter_deg / 360 / fps`` seconds; poses are reported at
  the shutter opening.
- Sensor: the 36 x 24 mm full-frame gate; the picture is the largest rectangle of the frame's
  aspect ratio inside it (landscape 16:9 and 2.39:1 use the full 36 mm width; 4:3 and 1:1 use the
  full 24 mm height; 9:16 turns the camera on its side and spans 36 mm vertically).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

import torch

SENSOR_WIDTH_MM = 36.0
SENSOR_HEIGHT_MM = 24.0
FOCAL_RANGE_MM = (14.0, 200.0)
APERTURE_RANGE = (1.2, 16.0)
SHUTTER_RANGE_DEG = (45.0, 360.0)
FOCUS_RANGE_M = (0.3, 1000.0)
SPEED_RANGE = (0.1, 8.0)

ASPECT_RATIOS: dict[str, float] = {
    "16:9": 16 / 9,
    "2.39:1": 2.39,
    "1:1": 1.0,
    "9:16": 9 / 16,
    "4:3": 4 / 3,
}

# Each move and the directions it accepts; the first direction is the default.
MOVE_DIRECTIONS: dict[str, tuple[str, ...]] = {
    "static": ("none",),
    "pan": ("left", "right"),
    "tilt": ("up", "down"),
    "dolly": ("in", "out"),
    "truck": ("left", "right"),
    "crane": ("up", "down"),
    "orbit": ("left", "right"),
    "zoom": ("in", "out"),
    "handheld": ("none",),
    "steadicam": ("forward", "backward"),
}
MOVE_KINDS = tuple(MOVE_DIRECTIONS)
EASINGS = ("linear", "ease_in", "ease_out", "ease_in_out")
INTERPOLATIONS = ("linear", "smooth")

# Named speeds a user (or a caption) can pick; `speed` is a multiplier of the base rates below.
NAMED_SPEEDS: dict[str, float] = {"slow": 0.5, "medium": 1.0, "fast": 2.0, "whip": 5.0}

# Bounds of a custom path: longer than any one render, wider than any set, and few enough
# keyframes to edit by hand.
MAX_KEYFRAMES = 32
KEYFRAME_TIME_MAX_S = 60.0
KEYFRAME_REACH_M = 1000.0

# Base rates at speed 1.0, chosen so a medium move is clearly visible in a two-second shot.
PAN_DEG_PER_S = 12.0
TILT_DEG_PER_S = 8.0
DOLLY_M_PER_S = 0.8
TRUCK_M_PER_S = 0.8
CRANE_M_PER_S = 0.6
ORBIT_DEG_PER_S = 14.0
ZOOM_LOG_PER_S = math.log(1.6)  # focal length x1.6 per second
STEADICAM_M_PER_S = 0.6
HANDHELD_POS_M = 0.02
HANDHELD_ANGLE_DEG = 0.6


def _check_range(name: str, value: float, bounds: tuple[float, float], unit: str) -> None:
    lo, hi = bounds
    if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
        raise ValueError(f"{name} must be a number, got {value!r}")
    if not lo <= value <= hi:
        raise ValueError(f"{name} must be {lo:g}–{hi:g}{unit}, got {value:g}")


def _vec3(name: str, value: Any) -> tuple[float, float, float]:
    try:
        x, y, z = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be three numbers (x, y, z), got {value!r}") from None
    if not all(math.isfinite(v) for v in (x, y, z)):
        raise ValueError(f"{name} must be finite, got {value!r}")
    if max(abs(x), abs(y), abs(z)) > KEYFRAME_REACH_M:
        raise ValueError(f"{name} must lie within {KEYFRAME_REACH_M:g} m of the origin")
    return (x, y, z)


@dataclass(frozen=True)
class CameraMove:
    """One move of a shot; several moves compose into one path (crane up + slow push-in).

    Args:
        kind: one of `MOVE_KINDS`.
        direction: one of `MOVE_DIRECTIONS[kind]` ("left"/"right", "in"/"out", ...).
        speed: multiplier of the move's base rate (0.5 slow, 1 medium, 2 fast, 5 whip).
        easing: how the move ramps over the shot: linear, ease_in, ease_out, ease_in_out.
        seed: seeds the shake of handheld and the sway of steadicam so a recipe replays exactly.
    """

    kind: str = "static"
    direction: str = "none"
    speed: float = 1.0
    easing: str = "linear"
    seed: int = 0

    def __post_init__(self) -> None:
        if self.kind not in MOVE_DIRECTIONS:
            raise ValueError(
                f"camera move must be one of {', '.join(MOVE_KINDS)}, got {self.kind!r}"
            )
        allowed = MOVE_DIRECTIONS[self.kind]
        if self.direction not in allowed:
            raise ValueError(
                f"{self.kind} direction must be {' or '.join(allowed)}, got {self.direction!r}"
            )
        _check_range("move speed", self.speed, SPEED_RANGE, "×")
        if self.easing not in EASINGS:
            raise ValueError(f"easing must be one of {', '.join(EASINGS)}, got {self.easing!r}")

    @classmethod
    def make(cls, kind: str, direction: str | None = None, **kwargs: Any) -> CameraMove:
        """A move with its default direction when none is given."""
        if kind not in MOVE_DIRECTIONS:
            raise ValueError(f"camera move must be one of {', '.join(MOVE_KINDS)}, got {kind!r}")
        return cls(kind=kind, direction=direction or MOVE_DIRECTIONS[kind][0], **kwargs)

    @property
    def label(self) -> str:
        return self.kind if self.direction == "none" else f"{self.kind} {self.direction}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "direction": self.direction,
            "speed": float(self.speed),
            "easing": self.easing,
            "seed": int(self.seed),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CameraMove:
        return cls(
            kind=str(data.get("kind", "static")),
            direction=str(
                data.get("direction") or MOVE_DIRECTIONS.get(data.get("kind"), ("none",))[0]
            ),
            speed=float(data.get("speed", 1.0)),
            easing=str(data.get("easing", "linear")),
            seed=int(data.get("seed", 0)),
        )


@dataclass(frozen=True)
class Keyframe:
    """A custom keyframe: where the camera is, what it looks at, and its lens at time `t` (s)."""

    t: float
    position: tuple[float, float, float]
    look_at: tuple[float, float, float]
    focal_mm: float | None = None
    focus_m: float | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.t, int | float) or not math.isfinite(self.t) or self.t < 0:
            raise ValueError(f"keyframe time must be a number of seconds ≥ 0, got {self.t!r}")
        if self.t > KEYFRAME_TIME_MAX_S:
            raise ValueError(
                f"keyframe time must be at most {KEYFRAME_TIME_MAX_S:g} s, got {self.t:g}"
            )
        object.__setattr__(self, "position", _vec3("keyframe position", self.position))
        object.__setattr__(self, "look_at", _vec3("keyframe look_at", self.look_at))
        if math.dist(self.position, self.look_at) < 1e-6:
            raise ValueError("keyframe look_at must differ from its position")
        if self.focal_mm is not None:
            _check_range("keyframe focal length", self.focal_mm, FOCAL_RANGE_MM, " mm")
        if self.focus_m is not None:
            _check_range("keyframe focus distance", self.focus_m, FOCUS_RANGE_M, " m")

    def to_dict(self) -> dict[str, Any]:
        return {
            "t": float(self.t),
            "position": list(self.position),
            "look_at": list(self.look_at),
            "focal_mm": self.focal_mm,
            "focus_m": self.focus_m,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Keyframe:
        return cls(
            t=float(data["t"]),
            position=tuple(data["position"]),
            look_at=tuple(data["look_at"]),
            focal_mm=None if data.get("focal_mm") is None else float(data["focal_mm"]),
            focus_m=None if data.get("focus_m") is None else float(data["focus_m"]),
        )


@dataclass(frozen=True)
class CameraSpec:
    """Everything the camera panel sets for one shot. Validated on construction.

    Args:
        focal_mm: focal length on the full-frame gate, 14–200 mm.
        aperture: f-number, f/1.2–f/16 (smaller = shallower depth of field).
        focus_m: focus distance in metres; None focuses on the subject.
        shutter_deg: shutter angle, 45–360° (exposure = angle / 360 of the frame interval).
        aspect: one of `ASPECT_RATIOS`.
        moves: composable moves applied together over the whole shot.
        keyframes: optional custom path; when given it replaces the scene's base pose and the
            moves are applied on top of it.
        interpolation: "linear" or "smooth" (Catmull-Rom) between keyframes.
    """

    focal_mm: float = 35.0
    aperture: float = 5.6
    focus_m: float | None = None
    shutter_deg: float = 180.0
    aspect: str = "16:9"
    moves: tuple[CameraMove, ...] = field(default_factory=lambda: (CameraMove(),))
    keyframes: tuple[Keyframe, ...] = ()
    interpolation: str = "smooth"

    def __post_init__(self) -> None:
        _check_range("focal length", self.focal_mm, FOCAL_RANGE_MM, " mm")
        _check_range("aperture", self.aperture, (0.0, math.inf), "")
        if not APERTURE_RANGE[0] <= self.aperture <= APERTURE_RANGE[1]:
            raise ValueError(f"aperture must be f/1.2–f/16, got f/{self.aperture:g}")
        if self.focus_m is not None:
            _check_range("focus distance", self.focus_m, FOCUS_RANGE_M, " m")
        _check_range("shutter angle", self.shutter_deg, SHUTTER_RANGE_DEG, "°")
        if self.aspect not in ASPECT_RATIOS:
            raise ValueError(
                f"aspect ratio must be one of {', '.join(ASPECT_RATIOS)}, got {self.aspect!r}"
            )
        object.__setattr__(self, "moves", tuple(self.moves))
        object.__setattr__(self, "keyframes", tuple(sorted(self.keyframes, key=lambda k: k.t)))
        if not all(isinstance(m, CameraMove) for m in self.moves):
            raise ValueError("moves must be CameraMove values")
        kinds = [m.kind for m in self.moves if m.kind != "static"]
        if len(kinds) != len(set(kinds)):
            raise ValueError(f"each move kind may appear once, got {', '.join(kinds)}")
        if len(self.keyframes) > MAX_KEYFRAMES:
            raise ValueError(
                f"a path has at most {MAX_KEYFRAMES} keyframes, got {len(self.keyframes)}"
            )
        times = [k.t for k in self.keyframes]
        if len(times) != len(set(times)):
            raise ValueError("keyframes must have distinct times")
        if self.interpolation not in INTERPOLATIONS:
            raise ValueError(f"interpolation must be linear or smooth, got {self.interpolation!r}")

    @property
    def aspect_ratio(self) -> float:
        return ASPECT_RATIOS[self.aspect]

    @property
    def primary_move(self) -> CameraMove:
        """The move a caption leads with: the first non-static one (static when there is none)."""
        for move in self.moves:
            if move.kind != "static":
                return move
        return CameraMove()

    def with_moves(self, *moves: CameraMove) -> CameraSpec:
        return replace(self, moves=tuple(moves))

    def to_dict(self) -> dict[str, Any]:
        return {
            "focal_mm": float(self.focal_mm),
            "aperture": float(self.aperture),
            "focus_m": None if self.focus_m is None else float(self.focus_m),
            "shutter_deg": float(self.shutter_deg),
            "aspect": self.aspect,
            "moves": [m.to_dict() for m in self.moves],
            "keyframes": [k.to_dict() for k in self.keyframes],
            "interpolation": self.interpolation,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CameraSpec:
        if not isinstance(data, dict):
            raise ValueError(f"camera spec must be an object, got {type(data).__name__}")
        default = cls()
        return cls(
            focal_mm=float(data.get("focal_mm", default.focal_mm)),
            aperture=float(data.get("aperture", default.aperture)),
            focus_m=None if data.get("focus_m") is None else float(data["focus_m"]),
            shutter_deg=float(data.get("shutter_deg", default.shutter_deg)),
            aspect=str(data.get("aspect", default.aspect)),
            moves=tuple(CameraMove.from_dict(m) for m in data.get("moves", [{}])),
            keyframes=tuple(Keyframe.from_dict(k) for k in data.get("keyframes", [])),
            interpolation=str(data.get("interpolation", default.interpolation)),
        )


# ---------------------------------------------------------------------------------------------
# Optics


def sensor_size_mm(aspect_ratio: float) -> tuple[float, float]:
    """Width and height (mm) of the largest `aspect_ratio` rectangle on the 36 x 24 mm gate.

    Portrait frames (ratio < 1) turn the camera on its side, so their long side spans 36 mm.
    """
    if aspect_ratio <= 0:
        raise ValueError(f"aspect ratio must be positive, got {aspect_ratio}")
    long_mm, short_mm = SENSOR_WIDTH_MM, SENSOR_HEIGHT_MM
    if aspect_ratio >= 1:
        width = min(long_mm, short_mm * aspect_ratio)
        return width, width / aspect_ratio
    height = min(long_mm, short_mm / aspect_ratio)
    return height * aspect_ratio, height


def focal_length_px(focal_mm: float | torch.Tensor, width: int, height: int) -> Any:
    """Focal length in pixels for a `width` x `height` frame (square pixels): f · W / sensor_w."""
    sensor_w, _ = sensor_size_mm(width / height)
    return focal_mm * (width / sensor_w)


def field_of_view_deg(focal_mm: float, aspect_ratio: float) -> tuple[float, float]:
    """Horizontal and vertical field of view in degrees for a lens on the cropped gate."""
    w, h = sensor_size_mm(aspect_ratio)
    return (
        math.degrees(2 * math.atan(w / (2 * focal_mm))),
        math.degrees(2 * math.atan(h / (2 * focal_mm))),
    )


def project_points(
    points: torch.Tensor,
    position: torch.Tensor,
    rotation: torch.Tensor,
    focal_mm: float,
    width: int,
    height: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Pinhole projection of world points to pixel coordinates (pixel centres at i + 0.5).

    Args:
        points: (N, 3) world points.
        position: (3,) camera centre; rotation: (3, 3) world-from-camera.
    Returns:
        uv (N, 2) pixel coordinates and z (N,) depth along the optical axis.
    """
    cam = (points - position) @ rotation  # (N, 3): R^T (p - c) for each row
    f_px = focal_length_px(focal_mm, width, height)
    z = cam[:, 2]
    u = f_px * cam[:, 0] / z + width / 2
    v = f_px * cam[:, 1] / z + height / 2
    return torch.stack([u, v], dim=-1), z


def circle_of_confusion_px(
    depth_m: torch.Tensor, focus_m: float, focal_mm: float, aperture: float, width: int, height: int
) -> torch.Tensor:
    """Thin-lens blur-circle diameter in pixels for objects at `depth_m` (inf allowed).

    c = (f / N) · f · |d − s| / (d · (s − f)) on the sensor, converted with the pixel pitch.
    """
    f = focal_mm / 1000.0
    s = max(focus_m, f * 1.01)
    d = depth_m.clamp(min=f * 1.01)
    ratio = torch.where(torch.isinf(d), torch.ones_like(d), (d - s).abs() / d)
    coc_m = (f / aperture) * f * ratio / (s - f)
    sensor_w, _ = sensor_size_mm(width / height)
    return coc_m * 1000.0 * (width / sensor_w)


# ---------------------------------------------------------------------------------------------
# Paths


@dataclass(frozen=True)
class BasePose:
    """Where the scene puts the camera before any move: its position and what it looks at."""

    position: tuple[float, float, float] = (0.0, 1.6, -6.0)
    look_at: tuple[float, float, float] = (0.0, 1.0, 0.0)


@dataclass(frozen=True)
class CameraPoses:
    """Per-frame (or per-sample) camera poses.

    Args:
        times: (T,) seconds.
        position: (T, 3) camera centres (m).
        rotation: (T, 3, 3) world-from-camera rotations, columns (right, down, forward).
        focal_mm: (T,) focal lengths; focus_m: (T,) focus distances.
    """

    times: torch.Tensor
    position: torch.Tensor
    rotation: torch.Tensor
    focal_mm: torch.Tensor
    focus_m: torch.Tensor

    def to_dict(self) -> dict[str, list]:
        return {
            "times": self.times.tolist(),
            "position": self.position.tolist(),
            "rotation": self.rotation.tolist(),
            "focal_mm": self.focal_mm.tolist(),
            "focus_m": self.focus_m.tolist(),
        }


def ease(u: torch.Tensor, easing: str) -> torch.Tensor:
    """Progress profile in [0, 1] over normalised time u in [0, 1]; all have mean slope 1."""
    u = u.clamp(0.0, 1.0)
    if easing == "linear":
        return u
    if easing == "ease_in":
        return u * u
    if easing == "ease_out":
        return 1 - (1 - u) ** 2
    return u * u * (3 - 2 * u)


def _rot_y(angle: torch.Tensor) -> torch.Tensor:
    c, s = torch.cos(angle), torch.sin(angle)
    z, o = torch.zeros_like(angle), torch.ones_like(angle)
    return torch.stack([c, z, s, z, o, z, -s, z, c], -1).reshape(*angle.shape, 3, 3)


def look_rotation(forward: torch.Tensor, roll: torch.Tensor | None = None) -> torch.Tensor:
    """World-from-camera rotation (..., 3, 3) for a forward vector, y-up world, optional roll."""
    f = forward / forward.norm(dim=-1, keepdim=True)
    up = torch.tensor([0.0, 1.0, 0.0], dtype=f.dtype, device=f.device).expand_as(f)
    right = torch.linalg.cross(f, up)
    right = right / right.norm(dim=-1, keepdim=True).clamp(min=1e-8)
    down = torch.linalg.cross(f, right)
    if roll is not None:
        c, s = torch.cos(roll)[..., None], torch.sin(roll)[..., None]
        right, down = c * right + s * down, -s * right + c * down
    return torch.stack([right, down, f], dim=-1)


def _yaw_pitch(direction: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    d = direction / direction.norm(dim=-1, keepdim=True)
    return torch.atan2(d[..., 0], d[..., 2]), torch.asin(d[..., 1].clamp(-1, 1))


def _forward(yaw: torch.Tensor, pitch: torch.Tensor) -> torch.Tensor:
    cp = torch.cos(pitch)
    return torch.stack([torch.sin(yaw) * cp, torch.sin(pitch), torch.cos(yaw) * cp], -1)


def _band_limited(
    t: torch.Tensor, seed: int, channels: int, f_lo: float, f_hi: float
) -> torch.Tensor:
    """(T, channels) smooth noise in [-1, 1]-ish: a few sinusoids with seeded frequencies/phases."""
    gen = torch.Generator().manual_seed(int(seed) & 0x7FFFFFFF)
    n = 4
    freqs = f_lo + (f_hi - f_lo) * torch.rand(channels, n, generator=gen, dtype=torch.float64)
    phases = 2 * math.pi * torch.rand(channels, n, generator=gen, dtype=torch.float64)
    waves = torch.sin(2 * math.pi * freqs * t.double()[:, None, None] + phases)  # (T, C, n)
    return (waves.sum(-1) / math.sqrt(n / 2)).to(t.dtype)


def _keyframe_track(spec: CameraSpec, t: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Interpolated (position, look_at, focal, focus-or-nan) at times t from the keyframes."""
    kf = spec.keyframes
    kt = torch.tensor([k.t for k in kf], dtype=torch.float64)
    pos = torch.tensor([k.position for k in kf], dtype=torch.float64)
    look = torch.tensor([k.look_at for k in kf], dtype=torch.float64)
    focal = torch.tensor([spec.focal_mm if k.focal_mm is None else k.focal_mm for k in kf])
    # A key without a focus distance focuses on its own look-at point.
    focus = torch.tensor(
        [math.dist(k.position, k.look_at) if k.focus_m is None else k.focus_m for k in kf]
    )
    values = torch.cat([pos, look, focal[:, None].double(), focus[:, None].double()], 1)  # (K, 8)
    if len(kf) == 1:
        return tuple(values[0].expand(len(t), 8).T)
    td = t.double().clamp(float(kt[0]), float(kt[-1]))
    i = torch.searchsorted(kt, td, right=True).clamp(1, len(kf) - 1) - 1  # segment index
    u = ((td - kt[i]) / (kt[i + 1] - kt[i]))[:, None]
    p1, p2 = values[i], values[i + 1]
    if spec.interpolation == "linear":
        out = p1 + (p2 - p1) * u
    else:
        # Catmull-Rom with clamped ends: passes exactly through every keyframe.
        p0 = values[(i - 1).clamp(min=0)]
        p3 = values[(i + 2).clamp(max=len(kf) - 1)]
        u2, u3 = u * u, u * u * u
        out = 0.5 * (
            2 * p1
            + (-p0 + p2) * u
            + (2 * p0 - 5 * p1 + 4 * p2 - p3) * u2
            + (-p0 + 3 * p1 - 3 * p2 + p3) * u3
        )
        # Lens values interpolate linearly so focal/focus never overshoot their keyed range.
        out[:, 6:] = (p1 + (p2 - p1) * u)[:, 6:]
    return out[:, 0:3], out[:, 3:6], out[:, 6], out[:, 7]


def camera_pose_at(
    spec: CameraSpec,
    times: torch.Tensor,
    duration: float,
    base: BasePose = BasePose(),  # noqa: B008 - frozen, so a shared default is safe
    *,
    dtype: torch.dtype = torch.float32,
) -> CameraPoses:
    """Camera poses at arbitrary times (seconds) of a shot lasting `duration` seconds.

    Moves progress from 0 at t = 0 to their full amount at t = duration, shaped by their easing;
    their amount is `rate x speed x duration`, so speed means the same in a short and a long shot.

    Args:
        times: (N,) seconds. base: the scene's pose, used when the spec has no keyframes.
    """
    t = times.to(torch.float64)
    n = t.shape[0]
    if spec.keyframes:
        pos0, look, focal, focus = _keyframe_track(spec, t)
    else:
        pos0 = torch.tensor(base.position, dtype=torch.float64).expand(n, 3)
        look = torch.tensor(base.look_at, dtype=torch.float64).expand(n, 3)
        focal = torch.full((n,), float(spec.focal_mm), dtype=torch.float64)
        focus = torch.full((n,), math.nan, dtype=torch.float64)
    yaw, pitch = _yaw_pitch(look - pos0)
    roll = torch.zeros(n, dtype=torch.float64)
    offset = pos0 - look  # camera relative to its target
    trans = torch.zeros(n, 3, dtype=torch.float64)  # in the (orbited) base frame: right, up, fwd
    up = torch.tensor([0.0, 1.0, 0.0], dtype=torch.float64)
    dur = max(float(duration), 1e-6)
    u = t / dur
    for move in spec.moves:
        amount = move.speed * dur * ease(u, move.easing)  # rate-free progress in seconds
        sign = -1.0 if move.direction in ("right", "down", "out", "backward") else 1.0
        if move.kind == "pan":
            yaw = yaw + sign * math.radians(PAN_DEG_PER_S) * amount
        elif move.kind == "tilt":
            pitch = pitch + sign * math.radians(TILT_DEG_PER_S) * amount
        elif move.kind == "dolly":
            trans[:, 2] += sign * DOLLY_M_PER_S * amount
        elif move.kind == "truck":
            # Truck left moves the camera towards its own left.
            trans[:, 0] -= sign * TRUCK_M_PER_S * amount
        elif move.kind == "crane":
            trans[:, 1] += sign * CRANE_M_PER_S * amount
        elif move.kind == "orbit":
            # Orbit left: the camera travels to its left around the target, turning to face it.
            theta = -sign * math.radians(ORBIT_DEG_PER_S) * amount
            offset = (_rot_y(theta) @ offset[..., None])[..., 0]
            yaw = yaw + theta
        elif move.kind == "zoom":
            focal = focal * torch.exp(sign * ZOOM_LOG_PER_S * amount)
        elif move.kind == "handheld":
            # Band-limited shake (2–7 Hz) scaled with speed; no drift, so the shot stays framed.
            shake = _band_limited(t, move.seed, 6, 2.0, 7.0)
            trans = trans + HANDHELD_POS_M * move.speed * shake[:, :3]
            ang = math.radians(HANDHELD_ANGLE_DEG) * move.speed
            yaw = yaw + ang * shake[:, 3]
            pitch = pitch + ang * shake[:, 4]
            roll = roll + 0.5 * ang * shake[:, 5]
        elif move.kind == "steadicam":
            # A smoothed follow: a steady glide along the view plus a slow ~1 Hz float.
            trans[:, 2] += sign * STEADICAM_M_PER_S * amount
            sway = _band_limited(t, move.seed, 3, 0.8, 1.4)
            trans[:, 0] += 0.06 * move.speed * sway[:, 0]
            trans[:, 1] += 0.03 * move.speed * sway[:, 1]
            roll = roll + math.radians(1.0) * move.speed * sway[:, 2]
    base_yaw, _ = _yaw_pitch(-offset)
    forward_h = torch.stack(
        [torch.sin(base_yaw), torch.zeros_like(base_yaw), torch.cos(base_yaw)], -1
    )
    right_h = torch.linalg.cross(forward_h, up.expand_as(forward_h))
    view_fwd = -offset / offset.norm(dim=-1, keepdim=True)
    position = (
        look + offset + trans[:, 0:1] * right_h + trans[:, 1:2] * up + trans[:, 2:3] * view_fwd
    )
    rotation = look_rotation(_forward(yaw, pitch), roll)
    focal = focal.clamp(*FOCAL_RANGE_MM)
    if spec.focus_m is not None:
        focus = torch.where(torch.isnan(focus), torch.full_like(focus, spec.focus_m), focus)
    # Unset focus follows the subject: the distance to the look-at point along the path.
    focus = torch.where(torch.isnan(focus), (look - position).norm(dim=-1), focus)
    return CameraPoses(
        times=t.to(dtype),
        position=position.to(dtype),
        rotation=rotation.to(dtype),
        focal_mm=focal.to(dtype),
        focus_m=focus.clamp(*FOCUS_RANGE_M).to(dtype),
    )


def camera_poses(
    spec: CameraSpec,
    num_frames: int,
    fps: float,
    base: BasePose = BasePose(),  # noqa: B008 - frozen, so a shared default is safe
    *,
    dtype: torch.dtype = torch.float32,
) -> CameraPoses:
    """Per-frame poses at the shutter opening of each of `num_frames` frames at `fps`."""
    if num_frames < 1:
        raise ValueError(f"a shot needs at least one frame, got {num_frames}")
    if not fps > 0:
        raise ValueError(f"fps must be positive, got {fps}")
    times = torch.arange(num_frames, dtype=torch.float64) / fps
    return camera_pose_at(spec, times, num_frames / fps, base, dtype=dtype)
