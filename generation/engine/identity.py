"""Who a figure is, as a unit vector: the identity encoder, and the drift score built on it.

A small CNN embeds a square crop of a figure so that two views of one character (another pose,
light, lens or camera move) land close and two characters land far; it was trained
contrastively on world characters (``generation.engine.training.identity``). The drift score
compares the figure in a take's frames with a character's reference crops: the take frames are
whole frames, so each is searched with square windows at several sizes and the best-matching
window stands for the figure (:func:`figure_similarity`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from generation.engine.weights import load_weights, read_config

WEIGHTS_DIR = Path(__file__).resolve().parents[2] / "weights"
NAME = "identity_encoder"
WINDOW_SIZES = (1.0, 0.8, 0.62, 0.46, 0.34)
"""Window sides as fractions of the frame's shorter side, searched at a third of a side's step."""
SEARCH_HEIGHT = 96
"""Take frames taller than this are scaled down to it first: the figure is found at the
model's native scale, whatever size the take was delivered at."""


@dataclass(frozen=True)
class IdentityConfig:
    size: int = 48
    widths: tuple[int, ...] = (24, 48, 96, 128)
    dim: int = 64


class IdentityEncoder(nn.Module):
    """forward(x (B, 3, size, size) in [-1, 1]) -> (B, dim) unit vectors."""

    def __init__(self, cfg: IdentityConfig = IdentityConfig()) -> None:  # noqa: B008 - frozen
        super().__init__()
        self.cfg = cfg
        layers: list[nn.Module] = []
        c = 3
        for out in cfg.widths:
            layers += [nn.Conv2d(c, out, 3, padding=1), nn.BatchNorm2d(out), nn.SiLU()]
            layers += [nn.Conv2d(out, out, 3, padding=1, stride=2), nn.BatchNorm2d(out), nn.SiLU()]
            c = out
        self.body = nn.Sequential(*layers)
        # Mean and max pooling: a hat or a shirt's colour is a few pixels and must not wash out.
        self.head = nn.Linear(2 * c, cfg.dim)

    def forward(self, x: Tensor) -> Tensor:
        h = self.body(x)
        pooled = torch.cat([h.mean(dim=(2, 3)), h.amax(dim=(2, 3))], dim=1)
        return F.normalize(self.head(pooled), dim=-1)


def square_pad(image: Tensor) -> Tensor:
    """uint8 (H, W, 3) -> (S, S, 3), S = max(H, W): the crop centred, its edges repeated
    outwards, so a tall box keeps the figure's proportions."""
    h, w = image.shape[:2]
    s = max(h, w)
    top, left = (s - h) // 2, (s - w) // 2
    x = image.permute(2, 0, 1)[None].float()
    x = F.pad(x, (left, s - w - left, top, s - h - top), mode="replicate")
    return x[0].permute(1, 2, 0)


def encoder_input(crops: Sequence[Tensor], size: int = 48) -> Tensor:
    """Figure crops, uint8 (H, W, 3) of any sizes -> (B, 3, size, size) in [-1, 1]."""
    out = []
    for crop in crops:
        if crop.ndim != 3 or crop.shape[2] != 3 or min(crop.shape[:2]) < 1:
            raise ValueError(f"a crop must be (H, W, 3) with H, W >= 1, got {tuple(crop.shape)}")
        x = square_pad(crop).permute(2, 0, 1)[None] / 127.5 - 1
        out.append(
            F.interpolate(
                x, size=(size, size), mode="bilinear", antialias=True, align_corners=False
            )
        )
    return torch.cat(out)


def load_encoder(directory: str | Path = WEIGHTS_DIR) -> IdentityEncoder:
    cfg, _ = read_config(directory, NAME, IdentityConfig)
    model = IdentityEncoder(cfg)
    load_weights(model, directory, NAME)
    return model.eval()


@torch.inference_mode()
def embed(model: IdentityEncoder, crops: Sequence[Tensor], batch: int = 256) -> Tensor:
    """(B, dim) unit embeddings of figure crops (uint8 (H, W, 3) each)."""
    x = encoder_input(crops, model.cfg.size)
    return torch.cat([model(x[i : i + batch]) for i in range(0, len(x), batch)])


def windows(frame: Tensor) -> list[Tensor]:
    """Square windows over a uint8 (H, W, 3) frame at `WINDOW_SIZES`, a third of a side apart
    (the frame scaled to `SEARCH_HEIGHT` first when it is taller)."""
    h, w = frame.shape[:2]
    if h > SEARCH_HEIGHT:
        x = frame.permute(2, 0, 1)[None].float()
        nh, nw = SEARCH_HEIGHT, max(1, round(w * SEARCH_HEIGHT / h))
        x = F.interpolate(x, size=(nh, nw), mode="bilinear", antialias=True, align_corners=False)
        frame = x[0].permute(1, 2, 0).round().clamp(0, 255).to(torch.uint8)
        h, w = nh, nw
    out = []
    for frac in WINDOW_SIZES:
        s = max(8, round(frac * min(h, w)))
        step = max(1, s // 3)
        for top in sorted({*range(0, h - s + 1, step), h - s}):
            for left in sorted({*range(0, w - s + 1, step), w - s}):
                out.append(frame[top : top + s, left : left + s])
    return out


@torch.inference_mode()
def figure_similarity(
    model: IdentityEncoder, frames: Sequence[Tensor], references: Sequence[Tensor]
) -> float:
    """How much the figure in `frames` looks like the character of `references`, in [0, 1].

    The references' embeddings are averaged into one direction. Every frame is searched with
    :func:`windows`; its score is the best window's cosine to that direction (the window that
    frames the figure). The take's score is the median over frames, so one frame where the
    figure is hidden does not decide it; cosines below zero count as zero.
    """
    if not frames:
        raise ValueError("character similarity needs at least one frame")
    if not references:
        raise ValueError("character similarity needs at least one reference image")
    ref = F.normalize(embed(model, references).mean(0), dim=0)
    per_frame = []
    for frame in frames:
        if frame.ndim != 3 or frame.shape[2] != 3:
            raise ValueError(f"a frame must be (H, W, 3), got {tuple(frame.shape)}")
        emb = embed(model, windows(frame))
        per_frame.append(float((emb @ ref).max()))
    return min(1.0, max(0.0, float(torch.tensor(per_frame).median())))
