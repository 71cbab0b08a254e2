"""Procedural ground textures, filtered by the pixel footprint so far ground does not alias."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from generation.engine.world.noise import fbm, value_noise

GROUND_KINDS = ("checker", "tiles", "grass", "sand", "wood", "concrete")

# Two base colours per ground kind (linear RGB); scenes jitter them a little.
GROUND_PALETTES: dict[str, tuple[tuple[float, float, float], tuple[float, float, float]]] = {
    "checker": ((0.80, 0.80, 0.78), (0.12, 0.12, 0.14)),
    "tiles": ((0.62, 0.42, 0.30), (0.85, 0.82, 0.75)),
    "grass": ((0.16, 0.36, 0.08), (0.32, 0.52, 0.14)),
    "sand": ((0.76, 0.64, 0.42), (0.58, 0.46, 0.28)),
    "wood": ((0.48, 0.28, 0.13), (0.30, 0.16, 0.07)),
    "concrete": ((0.55, 0.55, 0.53), (0.40, 0.40, 0.40)),
}


@dataclass(frozen=True)
class GroundMaterial:
    """A textured ground plane (y = 0). `scale` is the feature size in metres."""

    kind: str = "checker"
    colour_a: tuple[float, float, float] = GROUND_PALETTES["checker"][0]
    colour_b: tuple[float, float, float] = GROUND_PALETTES["checker"][1]
    scale: float = 1.0
    seed: int = 0


def _smooth_pulse(v: torch.Tensor, width: float, footprint: torch.Tensor) -> torch.Tensor:
    """1 near integer lines of v (grout, plank gaps), anti-aliased by the footprint."""
    d = (v - torch.round(v)).abs()
    soft = width + footprint
    return (1 - (d / soft).clamp(0, 1)) * (width / soft)


def ground_colour(
    material: GroundMaterial, x: torch.Tensor, z: torch.Tensor, footprint: torch.Tensor
) -> torch.Tensor:
    """Albedo (..., 3) of the ground at world (x, z).

    Args:
        x, z: world coordinates (m), any shape. footprint: pixel size on the ground (m), same shape.
    """
    a = torch.tensor(material.colour_a, dtype=x.dtype, device=x.device)
    b = torch.tensor(material.colour_b, dtype=x.dtype, device=x.device)
    s = material.scale
    u, v = x / s, z / s
    fp = footprint / s
    kind = material.kind
    if kind == "checker":
        sx = torch.sin(torch.pi * u)
        sz = torch.sin(torch.pi * v)
        # A smooth checker: sign(sin·sin) blurred over the footprint keeps edges anti-aliased.
        mix = 0.5 + 0.5 * torch.tanh((sx * sz) / (0.08 + 2.5 * fp))
        mix = 0.5 + (mix - 0.5) * (1 - fp).clamp(0, 1)
    elif kind == "tiles":
        grout = torch.maximum(_smooth_pulse(u, 0.04, fp), _smooth_pulse(v, 0.04, fp))
        tone = value_noise(torch.floor(u), torch.floor(v), material.seed) * (1 - fp).clamp(0, 1)
        base = a * (0.85 + 0.3 * tone[..., None])
        return base * (1 - grout[..., None]) + b * grout[..., None]
    elif kind == "grass":
        mix = fbm(u * 3, v * 3, material.seed, octaves=4, footprint=fp * 3)
        mix = (mix - 0.5) * 1.8 + 0.5
    elif kind == "sand":
        ripples = 0.5 + 0.5 * torch.sin(6.0 * u + 2.0 * fbm(u, v, material.seed, 2, fp) * 3)
        ripples = 0.5 + (ripples - 0.5) * (1 - 6 * fp).clamp(0, 1)
        mix = 0.6 * ripples + 0.4 * fbm(u * 4, v * 4, material.seed + 5, 3, fp * 4)
    elif kind == "wood":
        plank = torch.floor(u * 4)
        gap = _smooth_pulse(u * 4, 0.05, fp * 4)
        grain = fbm(u * 16, v * 1.5 + plank * 7.3, material.seed, 3, fp * 16)
        rings = 0.5 + 0.5 * torch.sin(v * 9 + grain * 6 + plank)
        rings = 0.5 + (rings - 0.5) * (1 - 2 * fp).clamp(0, 1)
        mix = (0.6 * rings + 0.4 * value_noise(plank, plank * 0 + 3, material.seed)) * (1 - gap)
        mix = mix + gap
    else:  # concrete
        mix = fbm(u * 2, v * 2, material.seed, octaves=4, footprint=fp * 2)
        mix = 0.5 + (mix - 0.5) * 2.0
    mix = mix.clamp(0, 1)[..., None]
    return a * (1 - mix) + b * mix
