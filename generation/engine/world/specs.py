"""Random camera specs for training and evaluation: every move, lens, aperture, shutter, aspect."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from generation.engine.camera import ASPECT_RATIOS, EASINGS, MOVE_DIRECTIONS, CameraMove, CameraSpec

FOCALS_MM = (14.0, 18.0, 24.0, 28.0, 35.0, 50.0, 85.0, 100.0, 135.0, 200.0)
APERTURES = (1.2, 1.4, 2.0, 2.8, 4.0, 5.6, 8.0, 11.0, 16.0)
SHUTTERS_DEG = (45.0, 90.0, 180.0, 270.0, 360.0)
SPEEDS = (0.5, 1.0, 2.0)
# Moves that compose naturally with a primary move into one path (crane up + push-in).
_COMPOSABLE = {
    "dolly": ("crane", "pan"),
    "crane": ("dolly", "tilt"),
    "orbit": ("crane",),
    "truck": ("pan",),
    "zoom": ("dolly",),
}


def _pick(g: torch.Generator, options):
    return options[int(torch.randint(0, len(options), (), generator=g))]


def random_move(g: torch.Generator, kind: str | None = None) -> CameraMove:
    kind = kind or _pick(g, tuple(MOVE_DIRECTIONS))
    if kind == "static":
        return CameraMove()
    speed = _pick(g, SPEEDS + ((5.0,) if kind == "pan" else ()))
    return CameraMove(
        kind=kind,
        direction=_pick(g, MOVE_DIRECTIONS[kind]),
        speed=speed,
        easing=_pick(g, EASINGS),
        seed=int(torch.randint(0, 2**31 - 1, (), generator=g)),
    )


def focals_with_room(moves: Sequence[CameraMove]) -> tuple[float, ...]:
    """Lenses a zoom can leave in its direction: zooming in from 200 mm (or out from 14 mm) would
    clamp at the lens's end and show a still frame under a caption that says zoom."""
    zooms = {m.direction for m in moves if m.kind == "zoom"}
    return tuple(
        f for f in FOCALS_MM if not ("in" in zooms and f > 100) and not ("out" in zooms and f < 28)
    )


def random_camera_spec(
    g: torch.Generator,
    *,
    move: str | None = None,
    compose_probability: float = 0.15,
    aspect: str | None = None,
) -> CameraSpec:
    """A random spec; `move` fixes the primary move kind, otherwise it is uniform over kinds."""
    primary = random_move(g, move)
    moves = [primary]
    extra = _COMPOSABLE.get(primary.kind, ())
    if extra and float(torch.rand((), generator=g)) < compose_probability:
        second = random_move(g, _pick(g, extra))
        moves.append(CameraMove(second.kind, second.direction, second.speed, primary.easing))
    return CameraSpec(
        focal_mm=_pick(g, focals_with_room(moves)),
        aperture=_pick(g, APERTURES),
        shutter_deg=_pick(g, SHUTTERS_DEG),
        aspect=aspect or _pick(g, tuple(ASPECT_RATIOS)),
        moves=tuple(moves),
    )
