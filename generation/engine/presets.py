"""Engine presets: which VAE and transformer go together, and the native clip they make.

A model preset fixes the latent channels (VAE and SVT must agree), the native frame rate and
the native pixel area per frame; each aspect ratio gets its own native size of about that area,
rounded to what the VAE and the patch size divide.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from generation.engine import transformer, vae

ASPECTS: dict[str, float] = {
    "16:9": 16 / 9,
    "2.39:1": 2.39,
    "1:1": 1.0,
    "9:16": 9 / 16,
    "4:3": 4 / 3,
}


@dataclass(frozen=True)
class EnginePreset:
    """A VAE + SVT pairing and its native output.

    Args:
        name: preset name.
        vae: VAE config.
        svt: transformer config (``in_channels == vae.latent_channels``).
        fps: native frame rate.
        area: native pixels per frame (height x width), before rounding per aspect.
        frames: default native clip length (``1 + r k`` frames).
    """

    name: str
    vae: vae.VAEConfig
    svt: transformer.SVTConfig
    fps: float
    area: int
    frames: int

    def __post_init__(self) -> None:
        if self.svt.in_channels != self.vae.latent_channels:
            raise ValueError(f"{self.name}: SVT in_channels must equal the VAE latent channels")

    @property
    def pixel_multiple(self) -> int:
        """Height and width must be multiples of this (VAE factor x patch size)."""
        _, ph, pw = self.svt.patch_size
        return self.vae.spatial_factor * math.lcm(ph, pw)

    def native_size(self, aspect: str) -> tuple[int, int]:
        """(height, width) of about ``area`` pixels at ``aspect``, divisible by the multiple."""
        if aspect not in ASPECTS:
            raise ValueError(f"aspect must be one of {', '.join(ASPECTS)}, got {aspect!r}")
        ratio, m = ASPECTS[aspect], self.pixel_multiple
        height = math.sqrt(self.area / ratio)
        h = max(m, round(height / m) * m)
        w = max(m, round(height * ratio / m) * m)
        return h, w

    def fit_frames(self, frames: int) -> int:
        """The nearest valid length ``1 + r k`` not below ``frames`` (at least 1)."""
        r = self.vae.temporal_factor
        return 1 + r * math.ceil(max(frames - 1, 0) / r)


PRESETS: dict[str, EnginePreset] = {
    "tiny": EnginePreset(
        "tiny", vae.PRESETS["tiny"], transformer.PRESETS["tiny"], fps=8, area=32 * 32, frames=9
    ),
    "small": EnginePreset(
        "small",
        vae.PRESETS["small"],
        transformer.PRESETS["small"],
        fps=16,
        area=128 * 128,
        frames=33,
    ),
    "base": EnginePreset(
        "base", vae.PRESETS["base"], transformer.PRESETS["base"], fps=16, area=256 * 144, frames=81
    ),
    # Sized for training on two CPU cores (the shipped weights in weights/builtin/train):
    # 64x64 clips of 17 frames at 12 fps, the smallest size the camera metric is validated at.
    "train": EnginePreset(
        "train",
        vae.VAEConfig(latent_channels=8, channels=(16, 32, 32), temporal_downsample=(True, False)),
        transformer.SVTConfig(in_channels=8, patch_size=(1, 2, 2), dim=128, depth=4, heads=4),
        fps=12,
        area=64 * 64,
        frames=17,
    ),
}
