"""What a figure in a frame wears: shirt colour, trouser colour and hat, hair or bald head.

Linear heads on the identity encoder's pooled features (``IdentityEncoder.features``), trained
on world renders of characters; one more head says whether a window holds a figure at all. A
whole frame is searched with the drift score's windows (``identity.windows``), the window the
figure head is surest of stands for the figure, and the attribute heads read it. No reference
takes part, so the read is the same for a locked and an unlocked take. The character-lock
benchmark's probe for whether a shot kept a locked character's look.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor, nn

from generation.engine.identity import IdentityEncoder, encoder_input, load_encoder, windows
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
    features: int = 256


class AttributeProbe(nn.Module):
    """forward(features (B, F)) -> {attribute: (B, classes) logits, "figure": (B,) logit}."""

    def __init__(self, cfg: AttributeProbeConfig = AttributeProbeConfig()) -> None:  # noqa: B008
        super().__init__()
        self.cfg = cfg
        self.norm = nn.LayerNorm(cfg.features)
        self.heads = nn.ModuleDict(
            {k: nn.Linear(cfg.features, len(v)) for k, v in ATTRIBUTES.items()}
        )
        self.figure = nn.Linear(cfg.features, 1)

    def forward(self, features: Tensor) -> dict[str, Tensor]:
        h = self.norm(features)
        out = {k: head(h) for k, head in self.heads.items()}
        out["figure"] = self.figure(h)[:, 0]
        return out


@dataclass
class AttributeReader:
    encoder: IdentityEncoder
    probe: AttributeProbe


def load_probe(directory: str | Path = WEIGHTS_DIR) -> AttributeReader:
    cfg, _ = read_config(directory, NAME, AttributeProbeConfig)
    probe = AttributeProbe(cfg)
    load_weights(probe, directory, NAME)
    return AttributeReader(load_encoder(directory), probe.eval())


@torch.inference_mode()
def read_crops(reader: AttributeReader, crops: list[Tensor]) -> dict[str, Tensor]:
    """Head outputs for figure crops (uint8 (H, W, 3) each)."""
    x = encoder_input(crops, reader.encoder.cfg.size)
    return reader.probe(reader.encoder.features(x))


@torch.inference_mode()
def read_attributes(reader: AttributeReader, frames: Tensor) -> list[dict[str, str]]:
    """The attributes of the figure in each uint8 (B, H, W, 3) frame: read in the window the
    figure head is surest of."""
    out = []
    for frame in frames:
        logits = read_crops(reader, windows(frame))
        best = int(logits["figure"].argmax())
        out.append({k: ATTRIBUTES[k][int(logits[k][best].argmax())] for k in ATTRIBUTES})
    return out
