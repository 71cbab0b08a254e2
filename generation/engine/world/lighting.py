"""Lighting moods: sun (or lamp) direction and colour, sky gradient, clouds and stars."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from generation.engine.world.noise import fbm, hash2


@dataclass(frozen=True)
class Lighting:
    """How a scene is lit.

    Args:
        mood: one of `MOODS`.
        sun_elevation_deg / sun_azimuth_deg: direction towards the sun (or moon at night).
        sun_colour / sun_intensity: direct light; ambient: sky light colour on every surface.
        sun_radius_deg: angular radius of the light, which sets shadow softness.
        lamp: at night a warm point light (position, colour, intensity) lights the subject.
        cloud_cover: 0..1, how much of the sky is cloud (texture at infinity helps the motion
            estimator tell rotation from translation).
    """

    mood: str = "daylight"
    sun_elevation_deg: float = 50.0
    sun_azimuth_deg: float = 30.0
    sun_colour: tuple[float, float, float] = (1.0, 0.97, 0.92)
    sun_intensity: float = 1.0
    sun_radius_deg: float = 2.0
    ambient: tuple[float, float, float] = (0.35, 0.40, 0.50)
    zenith: tuple[float, float, float] = (0.25, 0.45, 0.85)
    horizon: tuple[float, float, float] = (0.70, 0.80, 0.95)
    cloud_cover: float = 0.4
    lamp_position: tuple[float, float, float] | None = None
    lamp_colour: tuple[float, float, float] = (1.0, 0.75, 0.45)
    lamp_intensity: float = 0.0
    seed: int = 0

    @property
    def sun_direction(self) -> tuple[float, float, float]:
        el, az = math.radians(self.sun_elevation_deg), math.radians(self.sun_azimuth_deg)
        return (math.cos(el) * math.sin(az), math.sin(el), math.cos(el) * math.cos(az))


@dataclass(frozen=True)
class _MoodLook:
    """A mood's fixed colours and the ranges its random draws come from."""

    elevation_deg: tuple[float, float]
    sun_colour: tuple[float, float, float]
    sun_intensity: float
    sun_radius_deg: float
    ambient: tuple[float, float, float]
    zenith: tuple[float, float, float]
    horizon: tuple[float, float, float]
    cloud_cover: tuple[float, float]


_LOOKS: dict[str, _MoodLook] = {
    "daylight": _MoodLook(
        (35, 70), (1.0, 0.97, 0.92), 1.0, 1.5,
        (0.30, 0.36, 0.48), (0.22, 0.42, 0.85), (0.68, 0.78, 0.95), (0.2, 0.6),
    ),
    "golden hour": _MoodLook(
        (6, 16), (1.0, 0.62, 0.30), 1.1, 2.0,
        (0.30, 0.24, 0.28), (0.30, 0.32, 0.58), (1.0, 0.62, 0.35), (0.2, 0.6),
    ),
    "overcast": _MoodLook(
        (40, 70), (0.85, 0.86, 0.88), 0.35, 12.0,
        (0.55, 0.56, 0.60), (0.55, 0.57, 0.62), (0.75, 0.76, 0.78), (0.8, 1.0),
    ),
    # The moon, dim and blue; a warm lamp near the subject does the lighting.
    "night": _MoodLook(
        (30, 60), (0.55, 0.62, 0.85), 0.18, 1.0,
        (0.05, 0.06, 0.10), (0.01, 0.015, 0.04), (0.05, 0.07, 0.14), (0.0, 0.3),
    ),
}  # fmt: skip


MOODS = tuple(_LOOKS)


def lighting_for_mood(mood: str, generator: torch.Generator) -> Lighting:
    """A randomised lighting setup of the given mood."""
    if mood not in _LOOKS:
        raise ValueError(f"lighting mood must be one of {', '.join(MOODS)}, got {mood!r}")
    look = _LOOKS[mood]

    def r(lo: float, hi: float) -> float:
        return lo + (hi - lo) * float(torch.rand((), generator=generator))

    # Draw order (seed, azimuth, elevation, clouds, lamp) keeps every dataset seed's scenes.
    seed = int(torch.randint(0, 2**16, (), generator=generator))
    azimuth = r(-180, 180)
    elevation = r(*look.elevation_deg)
    cloud_cover = r(*look.cloud_cover)
    lamp = {}
    if mood == "night":
        lamp = {"lamp_position": (r(-2, 2), 3.0, r(-2, 1)), "lamp_intensity": 9.0}
    return Lighting(
        mood,
        elevation,
        azimuth,
        look.sun_colour,
        look.sun_intensity,
        look.sun_radius_deg,
        look.ambient,
        look.zenith,
        look.horizon,
        cloud_cover,
        seed=seed,
        **lamp,
    )


def sky_colour(lighting: Lighting, d: torch.Tensor, pixel_angle: torch.Tensor) -> torch.Tensor:
    """Radiance (..., 3) of the sky along unit directions d (..., 3).

    Args:
        pixel_angle: (...) angular size of a pixel (rad), to filter clouds and stars.
    """
    dev, dt = d.device, d.dtype
    zen = torch.tensor(lighting.zenith, device=dev, dtype=dt)
    hor = torch.tensor(lighting.horizon, device=dev, dtype=dt)
    up = d[..., 1].clamp(min=0)
    g = (1 - up).clamp(0, 1) ** 3
    col = zen * (1 - g[..., None]) + hor * g[..., None]
    sun = torch.tensor(lighting.sun_direction, device=dev, dtype=dt)
    cos_sun = (d * sun).sum(-1)
    if lighting.mood != "overcast":
        # exp of a clamped argument instead of pow: no denormals, same falloff.
        glow = torch.exp((200.0 * (cos_sun - 1)).clamp(min=-30.0))
        halo = torch.exp((8.0 * (cos_sun - 1)).clamp(min=-30.0))
        sc = torch.tensor(lighting.sun_colour, device=dev, dtype=dt)
        col = col + sc * (0.25 * halo + 1.5 * glow)[..., None] * lighting.sun_intensity
    # Clouds on a plane 1 unit up: texture at infinity, moving only when the camera rotates.
    hy = d[..., 1].clamp(min=0.03)
    px, pz = d[..., 0] / hy * 1.5, d[..., 2] / hy * 1.5
    footprint = pixel_angle * 1.5 / (hy * hy)
    n = fbm(px, pz, lighting.seed + 101, octaves=4, footprint=footprint)
    cover = ((n - (1 - lighting.cloud_cover)) * 3).clamp(0, 1)
    cover = cover * (d[..., 1] * 8).clamp(0, 1)
    cloud = hor * 0.6 + 0.5 if lighting.mood != "night" else hor * 1.5
    col = col * (1 - cover[..., None]) + cloud.clamp(max=1.2) * cover[..., None]
    if lighting.mood == "night":
        cell = 0.02  # about a pixel at 64 px wide, so stars do not alias
        ix = torch.floor(d[..., 0] / cell).to(torch.int64)
        iz = torch.floor((d[..., 2] + d[..., 1]) / cell).to(torch.int64)
        star = (hash2(ix, iz, lighting.seed) > 0.97).to(dt) * (d[..., 1] > 0.05).to(dt)
        col = col + 0.8 * star[..., None]
    return col
