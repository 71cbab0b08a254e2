"""What a shot's subject is (figure, ball, box or cylinder), read from a frame by a small CNN
trained on world keyframes: the benchmark's probe for whether a generated clip drew the object
its caption names."""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

KINDS = ("figure", "ball", "box", "cylinder")
SIZE = 64
WEIGHTS = Path(__file__).resolve().parents[2] / "weights" / "subject_probe.safetensors"


def subject_kind(labels: dict) -> str:
    """The probe's class for a world scene's labels (`Scene.labels()`)."""
    kind, phrase = labels["subject"], labels["subject_phrase"]
    if kind == "character":
        return "figure"
    if "ball" in phrase or "sphere" in phrase:
        return "ball"
    if "box" in phrase or "cube" in phrase:
        return "box"
    return "cylinder"


class SubjectProbe(nn.Module):
    """forward(x (B, 3, 64, 64) in [-1, 1]) -> (B, 4) logits over `KINDS`."""

    def __init__(self, width: int = 32) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c = 3
        for out in (width, 2 * width, 4 * width, 4 * width):
            layers += [nn.Conv2d(c, out, 3, padding=1), nn.BatchNorm2d(out), nn.SiLU()]
            layers += [nn.Conv2d(out, out, 3, padding=1, stride=2), nn.BatchNorm2d(out), nn.SiLU()]
            c = out
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(c, len(KINDS))

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.body(x).mean(dim=(2, 3)))


def probe_input(frames: Tensor) -> Tensor:
    """uint8 (B, H, W, 3) frames of any size -> (B, 3, 64, 64) in [-1, 1]."""
    x = frames.permute(0, 3, 1, 2).float() / 127.5 - 1
    return F.interpolate(x, size=(SIZE, SIZE), mode="bilinear", antialias=True, align_corners=False)


def load_probe(path: Path = WEIGHTS) -> SubjectProbe:
    from safetensors.torch import load_file

    probe = SubjectProbe()
    probe.load_state_dict(load_file(str(path)))
    return probe.eval()


@torch.inference_mode()
def read_subject(probe: SubjectProbe, frames: Tensor) -> list[str]:
    """The subject kind of each uint8 (B, H, W, 3) frame."""
    return [KINDS[i] for i in probe(probe_input(frames)).argmax(-1).tolist()]
