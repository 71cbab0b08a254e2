"""What a figure in a frame wears: shirt colour, trouser colour and hat, hair or bald head.

A small CNN of its own reads a whole frame at the refiner's size of its aspect, and each
attribute pools the feature map with its own spatial attention (a softmax over positions): the
shirt head learns to look at a torso, the trouser head at legs and the headwear head at a head,
wherever the figure stands. It was trained on world renders of characters, softened the way
generated frames are (``generation.engine.training.attribute_probe``). No reference takes part,
so the read is the same for a locked and an unlocked take: it is the character-lock benchmark's
probe for whether a shot kept a locked character's look.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from generation.engine.native import nearest_aspect, render_size
from generation.engine.weights import load_weights, read_config
from generation.engine.world.characters import COLOURS, HEADWEAR

WEIGHTS_DIR = Path(__file__).resolve().parents[2] / "weights"
NAME = "attribute_probe"
ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "shirt": tuple(COLOURS),
    "trousers": tuple(COLOURS),
    "headwear": HEADWEAR,
}


@dataclass(frozen=True)
class AttributeProbeConfig:
    width: int = 24
    # (out channels as multiples of width, stride): two halvings, so a head of 4 pixels at the
    # refiner's size is still one feature position; the first layer strides because a full-size
    # layer costs four times the rest on a CPU.
    layers: tuple[tuple[int, int], ...] = ((1, 2), (2, 1), (2, 2), (4, 1), (4, 1), (4, 1))


class AttributeProbe(nn.Module):
    """forward(x (B, 3, H, W) in [-1, 1]) -> {attribute: (B, classes) logits}."""

    def __init__(self, cfg: AttributeProbeConfig = AttributeProbeConfig()) -> None:  # noqa: B008
        super().__init__()
        self.cfg = cfg
        layers: list[nn.Module] = []
        c = 3
        for mult, stride in cfg.layers:
            out = mult * cfg.width
            layers += [nn.Conv2d(c, out, 3, stride, 1), nn.BatchNorm2d(out), nn.SiLU()]
            c = out
        self.body = nn.Sequential(*layers)
        self.attention = nn.Conv2d(c, len(ATTRIBUTES), 1)
        self.heads = nn.ModuleDict({k: nn.Linear(c, len(v)) for k, v in ATTRIBUTES.items()})

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        h = self.body(x)  # (B, C, H/4, W/4)
        weights = self.attention(h).flatten(2).softmax(-1)  # (B, attributes, positions)
        pooled = torch.einsum("bap,bcp->bac", weights, h.flatten(2))
        return {k: head(pooled[:, i]) for i, (k, head) in enumerate(self.heads.items())}


def probe_input(frames: Tensor) -> Tensor:
    """uint8 (B, H, W, 3) frames of any size -> (B, 3, h, w) in [-1, 1] at the refiner's size
    of the nearest aspect; frames of that size pass through unscaled."""
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"frames must be (B, H, W, 3), got {tuple(frames.shape)}")
    x = frames.permute(0, 3, 1, 2).float() / 127.5 - 1
    size = render_size(nearest_aspect(*x.shape[-2:]))
    if tuple(x.shape[-2:]) == size:
        return x
    return F.interpolate(x, size=size, mode="bilinear", antialias=True, align_corners=False)


def load_probe(directory: str | Path = WEIGHTS_DIR) -> AttributeProbe:
    cfg, _ = read_config(directory, NAME, AttributeProbeConfig)
    probe = AttributeProbe(cfg)
    load_weights(probe, directory, NAME)
    return probe.eval()


@torch.inference_mode()
def read_attributes(probe: AttributeProbe, frames: Tensor) -> list[dict[str, str]]:
    """The attributes of the figure in each uint8 (B, H, W, 3) frame."""
    logits = probe(probe_input(frames))
    picks = {k: logits[k].argmax(-1).tolist() for k in ATTRIBUTES}
    return [{k: ATTRIBUTES[k][picks[k][i]] for k in ATTRIBUTES} for i in range(len(frames))]
