"""Does a frame show the colours its caption names? A hue count, no network.

A colour is found when its hue covers at least 0.3 % of the pixels and twice the median
coverage of the eight chromatic hues: noise covers every hue alike, so a clip of noise finds
nothing, and a frame painted in every colour finds them all (the false-positive control asks
for a colour the scene does not have).
"""

from __future__ import annotations

import colorsys
import statistics

import torch

from generation.engine.world.characters import COLOURS

CHROMATIC = ("red", "blue", "green", "yellow", "orange", "purple", "pink", "teal")
MIN_FRACTION = 0.003


def colour_fraction(video: torch.Tensor, colour: str) -> float:
    """Fraction of pixels whose hue is within 15 degrees of `colour`'s and that are saturated
    and bright enough to have a hue; uint8 (T, H, W, 3)."""
    x = video.float() / 255.0
    mx, mn = x.max(-1).values, x.min(-1).values
    sat = (mx - mn) / mx.clamp(min=1e-6)
    r, g, b = x.unbind(-1)
    d = (mx - mn).clamp(min=1e-6)
    h = torch.where(
        mx == r, ((g - b) / d) % 6, torch.where(mx == g, (b - r) / d + 2, (r - g) / d + 4)
    )
    h = h / 6.0
    target = colorsys.rgb_to_hsv(*COLOURS[colour])[0]
    dh = (h - target).abs()
    dh = torch.minimum(dh, 1 - dh)
    hit = (dh < 15 / 360) & (sat > 0.35) & (mx > 0.12)
    return float(hit.float().mean())


def colour_probe(video: torch.Tensor, colours: list[str]) -> bool:
    """Every colour in `colours` is found in `video` (uint8 (T, H, W, 3))."""
    cover = {c: colour_fraction(video, c) for c in CHROMATIC}
    median = statistics.median(cover.values())
    return all(cover[c] >= max(MIN_FRACTION, 2 * median) for c in colours)


def named_colours(phrase: str) -> list[str]:
    """The chromatic colours a phrase names ("a red ball" → ["red"])."""
    words = phrase.lower().replace(",", " ").split()
    return [c for c in CHROMATIC if c in words]


def absent_colours(labels: dict, caption: str) -> list[str]:
    """Chromatic colours neither the scene's objects nor the caption mention: the control."""
    present = " ".join(labels["objects"]).split() + caption.lower().split()
    return [c for c in CHROMATIC if c not in present]
