"""What a shot's subject is (figure, ball, box or cylinder), read from a frame by a small CNN
trained on world keyframes: the benchmark's probe for whether a generated clip drew the object
its caption names."""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from generation.engine.native import KEYFRAME_SIZES

KINDS = ("figure", "ball", "box", "cylinder")
WEIGHTS = Path(__file__).resolve().parents[2] / "weights" / "subject_probe.safetensors"
# (out channels as multiples of width, stride): three halvings, so a 64 x 64 keyframe ends at 8 x 8.
LAYERS = ((1, 1), (2, 2), (2, 1), (4, 2), (4, 1), (6, 2), (6, 1))


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
    """forward(x (B, 3, H, W) in [-1, 1]) -> (B, 4) logits over `KINDS`.

    Fully convolutional with global average pooling, so it reads a frame at its own aspect;
    `probe_input` brings frames to the keyframe size of their aspect (about 64 x 64 pixels).
    """

    def __init__(self, width: int = 16) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c = 3
        for mult, stride in LAYERS:
            out = mult * width
            layers += [nn.Conv2d(c, out, 3, stride, 1), nn.BatchNorm2d(out), nn.SiLU()]
            c = out
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(c, len(KINDS))

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.body(x).mean(dim=(2, 3)))  # (B, C, H/8, W/8) -> (B, 4)


def probe_size(height: int, width: int) -> tuple[int, int]:
    """The keyframe (height, width) whose aspect is nearest to a `height` x `width` frame's."""
    ratio = width / height
    return min(KEYFRAME_SIZES.values(), key=lambda hw: abs(hw[1] / hw[0] / ratio - 1))


def probe_input(frames: Tensor) -> Tensor:
    """uint8 (B, H, W, 3) frames of any size -> (B, 3, h, w) in [-1, 1] at the keyframe size of
    the nearest aspect; keyframes pass through unscaled."""
    x = frames.permute(0, 3, 1, 2).float() / 127.5 - 1  # (B, 3, H, W)
    size = probe_size(*x.shape[-2:])
    if tuple(x.shape[-2:]) == size:
        return x
    return F.interpolate(x, size=size, mode="bilinear", antialias=True, align_corners=False)


def load_probe(path: Path = WEIGHTS) -> SubjectProbe:
    from safetensors.torch import load_file

    probe = SubjectProbe()
    probe.load_state_dict(load_file(str(path)))
    return probe.eval()


@torch.inference_mode()
def read_subject(probe: SubjectProbe, frames: Tensor) -> list[str]:
    """The subject kind of each uint8 (B, H, W, 3) frame."""
    return [KINDS[i] for i in probe(probe_input(frames)).argmax(-1).tolist()]
