"""Integer-hash value noise on tensors: deterministic, seedable, no lookup tables."""

from __future__ import annotations

import torch

_MASK = 0xFFFFFFFF


def hash2(ix: torch.Tensor, iz: torch.Tensor, seed: int) -> torch.Tensor:
    """Uniform [0, 1) per integer lattice point. Masking after each product keeps int64 exact."""
    h = (ix * 374761393 + iz * 668265263 + (seed & 0xFFFF) * 1442695041) & _MASK
    h = ((h ^ (h >> 13)) * 1274126177) & _MASK
    h = h ^ (h >> 16)
    return (h & 0xFFFFFF).to(torch.float32) / float(0x1000000)


def value_noise(x: torch.Tensor, z: torch.Tensor, seed: int) -> torch.Tensor:
    """Smooth value noise in [0, 1] at continuous coordinates (any shape)."""
    fx, fz = torch.floor(x), torch.floor(z)
    ix, iz = fx.to(torch.int64), fz.to(torch.int64)
    tx, tz = x - fx, z - fz
    tx = tx * tx * (3 - 2 * tx)
    tz = tz * tz * (3 - 2 * tz)
    a = hash2(ix, iz, seed)
    b = hash2(ix + 1, iz, seed)
    c = hash2(ix, iz + 1, seed)
    d = hash2(ix + 1, iz + 1, seed)
    out = (a + (b - a) * tx) * (1 - tz) + (c + (d - c) * tx) * tz
    return out.to(x.dtype)


def fbm(
    x: torch.Tensor,
    z: torch.Tensor,
    seed: int,
    octaves: int = 3,
    footprint: torch.Tensor | None = None,
) -> torch.Tensor:
    """Fractal noise in [0, 1]; octaves finer than the pixel `footprint` fade to their mean (0.5)
    so distant texture does not alias into flicker (which the motion estimator would read as
    motion)."""
    total = torch.zeros_like(x)
    amp, freq, norm = 0.5, 1.0, 0.0
    for o in range(octaves):
        n = value_noise(x * freq, z * freq, seed + 17 * o) - 0.5
        if footprint is not None:
            n = n * (1 - footprint * freq).clamp(0, 1)
        total = total + amp * n
        norm += amp
        amp *= 0.5
        freq *= 2.0
    return 0.5 + total / (2 * norm) * 2
