"""Which camera move a clip shows, read by a small network from the clip's optical-flow field.

The evidence that separates the moves is geometric and lives in the flow field: a rotation (pan,
tilt) or a zoom moves every pixel by one homography whatever its depth, a translation (truck,
crane, dolly) moves near content more than far content, an orbit moves near and far content in
opposite directions about a still subject, handheld shakes at 2–7 Hz, steadicam glides with a slow
roll float. At 64 px the differences are fractions of a pixel spread over the whole field, which
thresholds on a few summary numbers cannot separate (they identified 46 % of held-out clips); a
convolutional network over the pooled field, trained on the world's exact labels, reads them.

Input: flow between consecutive frames and over 4-frame hops, pooled to a `GRID` x `GRID` grid
weighted by texture confidence (a flat or defocused region gets no say), with the grid's own
coordinates (in half-widths, so the aspect ratio is visible) and the first frame's coarse luma
(where the sky and ground are); then flow measured directly across long spans of the clip (first
to last frame, and each half). A slow move on a long lens shifts the image by well under a pixel
per hop, and summing hops sums their noise; one long span measures the whole displacement, and
the parallax in it, at once. Any clip length is resampled to `FRAMES` frames.
"""

from __future__ import annotations

import functools
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from generation.engine.camera import MOVE_DIRECTIONS
from generation.engine.optical_flow import (
    flow_between,
    hop_indices,
    optical_flow,
    texture_weight,
    to_gray,
)

GRID = 16
FRAMES = 16
_FLOW_GAIN = 128.0  # half-widths -> roughly pixels of a 64 px frame, x2, before asinh

# Every (kind, direction) the network can answer, in a fixed order.
LABELS: tuple[tuple[str, str], ...] = tuple(
    (kind, direction) for kind, directions in MOVE_DIRECTIONS.items() for direction in directions
)
PAIRS = FRAMES - 1
HOPS = len(hop_indices(FRAMES)) - 1
SPANS = ((0, FRAMES - 1), (0, FRAMES // 2), (FRAMES // 2, FRAMES - 1))  # (from, to) frames
_GRID_X = 3 * (PAIRS + HOPS)  # channel of the grid's x coordinate
# (u, v, confidence) per pair and hop; x, y; luma. Networks trained before the spans existed
# read only these, so the spans come after them.
BASE_CHANNELS = _GRID_X + 3
CHANNELS = BASE_CHANNELS + 3 * len(SPANS)  # (u, v, confidence) per span

WEIGHTS = Path(__file__).resolve().parents[2] / "weights" / "move_classifier.safetensors"


def _pool(flow: torch.Tensor, conf: torch.Tensor, width: int) -> torch.Tensor:
    """(N, 3, GRID, GRID): confidence-weighted mean flow (compressed) and mean confidence."""
    weight = texture_weight(conf)[:, None]
    num = F.adaptive_avg_pool2d(flow * weight, GRID)
    den = F.adaptive_avg_pool2d(weight, GRID)
    mean = num / (den + 1e-6) / (width / 2)
    return torch.cat([torch.asinh(mean * _FLOW_GAIN), den], 1)


def flow_features(frames: torch.Tensor, channels: int = CHANNELS) -> torch.Tensor:
    """(channels, GRID, GRID) input for `MoveNet` from uint8 (T, H, W, 3) or float (T, 3, H, W).

    A clip of any length (>= 2 frames) is resampled to `FRAMES` frames spread over its duration.
    `channels` is `CHANNELS`, or `BASE_CHANNELS` to skip the span flows when no network reads
    them (about a sixth of the feature time).
    """
    if channels not in (BASE_CHANNELS, CHANNELS):
        raise ValueError(f"features have {BASE_CHANNELS} or {CHANNELS} channels, not {channels}")
    if frames.shape[0] < 2:
        raise ValueError(f"a camera move needs at least 2 frames, got {frames.shape[0]}")
    gray = to_gray(frames)
    t, h, w = gray.shape
    if t != FRAMES:
        gray = gray[torch.linspace(0, t - 1, FRAMES).round().long()]
    flow, conf = optical_flow(gray)
    hop_flow, hop_conf = optical_flow(gray[hop_indices(FRAMES)])
    xs = (torch.arange(GRID, dtype=gray.dtype) + 0.5) / GRID * 2 - 1
    ys = xs * (h / w)
    yy, xx = torch.meshgrid(ys, xs, indexing="ij")
    luma = F.adaptive_avg_pool2d(gray[:1, None], GRID)[0, 0]
    parts = [
        _pool(flow, conf, w).reshape(-1, GRID, GRID),
        _pool(hop_flow, hop_conf, w).reshape(-1, GRID, GRID),
        torch.stack([xx, yy, (luma - luma.mean()) * 4]),
    ]
    if channels == CHANNELS:
        start, end = zip(*SPANS, strict=True)
        span_flow, span_conf = flow_between(gray[list(start)], gray[list(end)])
        parts.append(_pool(span_flow, span_conf, w).reshape(-1, GRID, GRID))
    return torch.cat(parts)


def _swap(direction: str, pair: tuple[str, str]) -> str:
    a, b = pair
    return b if direction == a else a if direction == b else direction


def _label_map(mapping) -> torch.Tensor:
    return torch.tensor([LABELS.index((k, mapping(k, d))) for k, d in LABELS])


# Label permutations under the two symmetries used to augment training and to average predictions:
# a mirrored clip shows the same move with left and right swapped, and a clip played backwards
# shows the opposite direction (a dolly in becomes a dolly out with its easing reversed). Both act
# on the frames, so the features of the transformed clip are computed, never guessed; mirroring
# the features themselves is exact too (`mirror_features`), reversing them is not (the flow of
# a→b is not minus that of b→a at the same pixels).
MIRROR_LABELS = _label_map(lambda k, d: _swap(d, ("left", "right")))
_OPPOSITES = (("left", "right"), ("up", "down"), ("in", "out"), ("forward", "backward"))
REVERSE_LABELS = _label_map(lambda k, d: next((_swap(d, p) for p in _OPPOSITES if d in p), d))


def mirror_features(x: torch.Tensor) -> torch.Tensor:
    """Features (..., CHANNELS or BASE_CHANNELS, GRID, GRID) of the left-right mirrored clip."""
    y = x.flip(-1).clone()
    for first, last in ((0, _GRID_X), (BASE_CHANNELS, CHANNELS)):
        y[..., first:last:3, :, :] *= -1  # u of every (u, v, confidence)
    y[..., _GRID_X, :, :] = x[..., _GRID_X, :, :]  # the grid's x coordinate stays put
    return y


class MoveNet(nn.Module):
    """Flow field (CHANNELS, GRID, GRID) -> logits over `LABELS`, reading the first `channels`
    feature channels (fewer for networks trained before later channels existed)."""

    def __init__(
        self, channels: int = CHANNELS, width: int = 64, hidden: int = 256, dropout: float = 0.2
    ):
        super().__init__()
        self.channels = channels
        self.body = nn.Sequential(
            nn.Conv2d(channels, width, 3, padding=1),
            nn.GELU(),
            nn.Conv2d(width, width, 3, padding=1),
            nn.GELU(),
            nn.Conv2d(width, 2 * width, 3, stride=2, padding=1),  # 8 x 8
            nn.GELU(),
            nn.Conv2d(2 * width, 2 * width, 3, stride=2, padding=1),  # 4 x 4
            nn.GELU(),
            nn.Flatten(),
            nn.Linear(2 * width * (GRID // 4) ** 2, hidden),
            nn.GELU(),
            nn.Dropout(dropout),
            nn.Linear(hidden, len(LABELS)),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x[:, : self.channels])


@functools.cache
def load_move_nets(path: Path = WEIGHTS) -> tuple[MoveNet, ...]:
    """The shipped classifiers (an ensemble, keys prefixed "net<i>."; fp16 on disk, fp32 in
    memory), loaded once per process."""
    from safetensors.torch import load_file

    if not path.exists():
        raise FileNotFoundError(f"camera-move classifier weights not found at {path}")
    tensors = load_file(str(path))
    nets = []
    for i in sorted({int(k.split(".")[0][3:]) for k in tensors}):
        prefix = f"net{i}."
        state = {k[len(prefix) :]: v.float() for k, v in tensors.items() if k.startswith(prefix)}
        nets.append(net_from_state(state).eval())
    return tuple(nets)


def net_from_state(state: dict[str, torch.Tensor]) -> MoveNet:
    """A network with the weights of `state`, as wide as its first layer says."""
    net = MoveNet(channels=state["body.0.weight"].shape[1])
    net.load_state_dict(state)
    return net


def widen_net(net: MoveNet, channels: int = CHANNELS) -> MoveNet:
    """A copy of `net` reading `channels` feature channels, that answers exactly as `net` does:
    the weights of the added inputs start at zero, so training on from it begins where `net` is
    and learns what the new channels add."""
    if channels < net.channels:
        raise ValueError(f"cannot narrow a {net.channels}-channel network to {channels}")
    state = {k: v.clone() for k, v in net.state_dict().items()}
    first = state["body.0.weight"]
    pad = first.new_zeros(first.shape[0], channels - first.shape[1], *first.shape[2:])
    state["body.0.weight"] = torch.cat([first, pad], 1)
    return net_from_state(state)


def symmetric_probabilities(
    nets: tuple[MoveNet, ...], x: torch.Tensor, x_reversed: torch.Tensor
) -> torch.Tensor:
    """(N, len(LABELS)) probabilities from features of clips (N, C, G, G) and of the same clips
    played backwards, averaged over the ensemble and the four views (as is, mirrored, reversed,
    both)."""
    views = (
        (x, None),
        (mirror_features(x), MIRROR_LABELS),
        (x_reversed, REVERSE_LABELS),
        (mirror_features(x_reversed), MIRROR_LABELS[REVERSE_LABELS]),
    )
    with torch.no_grad():
        p = sum(
            net(v).softmax(-1) if perm is None else net(v).softmax(-1)[:, perm]
            for net in nets
            for v, perm in views
        )
    return p / (len(views) * len(nets))


def move_probabilities(
    frames: torch.Tensor, nets: tuple[MoveNet, ...] | None = None
) -> torch.Tensor:
    """(len(LABELS),) probabilities of one clip's move: a mirrored clip gets exactly the mirrored
    answer, and the clip played backwards exactly the opposite direction."""
    nets = nets or load_move_nets()
    channels = max(net.channels for net in nets)  # the widest network's input, no more
    x = flow_features(frames, channels)[None]
    x_reversed = flow_features(frames.flip(0), channels)[None]
    return symmetric_probabilities(nets, x, x_reversed)[0]
