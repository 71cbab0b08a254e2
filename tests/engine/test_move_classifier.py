from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from generation.engine.camera import MOVE_DIRECTIONS, ZOOM_LOG_PER_S, CameraMove, CameraSpec
from generation.engine.metrics import camera_conformance, detect_move
from generation.engine.move_classifier import (
    BASE_CHANNELS,
    CHANNELS,
    GRID,
    LABELS,
    MIRROR_LABELS,
    REVERSE_LABELS,
    WEIGHTS,
    MoveNet,
    flow_features,
    load_move_nets,
    mirror_features,
    move_probabilities,
    symmetric_probabilities,
    widen_net,
)
from generation.engine.training import move_classifier as move_training
from generation.engine.training.move_classifier import export
from generation.engine.world.renderer import render_clip
from generation.engine.world.scene import sample_scene


def _clip(move: CameraMove, seed: int, *, height: int = 64, width: int = 64, focal: float = 35.0):
    g = torch.Generator().manual_seed(seed)
    spec = CameraSpec(focal_mm=focal, aperture=8.0, moves=(move,))
    scene = sample_scene(g, focal_mm=focal)
    return render_clip(scene, spec, num_frames=16, fps=24, height=height, width=width).video, spec


def test_every_move_and_direction_is_one_label_with_its_mirror_and_its_reverse():
    assert len(LABELS) == sum(len(d) for d in MOVE_DIRECTIONS.values()) == len(set(LABELS))
    every = torch.arange(len(LABELS))
    assert torch.equal(MIRROR_LABELS[MIRROR_LABELS], every)
    assert LABELS[MIRROR_LABELS[LABELS.index(("pan", "left"))]] == ("pan", "right")
    assert LABELS[MIRROR_LABELS[LABELS.index(("dolly", "in"))]] == ("dolly", "in")
    assert LABELS[MIRROR_LABELS[LABELS.index(("orbit", "right"))]] == ("orbit", "left")
    assert torch.equal(REVERSE_LABELS[REVERSE_LABELS], every)
    reversed_ = {LABELS[i]: LABELS[j] for i, j in enumerate(REVERSE_LABELS.tolist())}
    assert reversed_[("dolly", "in")] == ("dolly", "out")
    assert reversed_[("tilt", "up")] == ("tilt", "down")
    assert reversed_[("steadicam", "backward")] == ("steadicam", "forward")
    assert reversed_[("pan", "left")] == ("pan", "right")
    assert reversed_[("handheld", "none")] == ("handheld", "none")


def test_mirrored_features_are_the_features_of_the_mirrored_clip():
    # Training augments with mirror_features; it must be what the flow of a mirrored clip gives.
    video, _ = _clip(CameraMove("truck", "left", speed=2.0), seed=11)
    direct = flow_features(video.flip(2))
    assert torch.allclose(mirror_features(flow_features(video)), direct, atol=1e-3)


def test_features_take_any_length_and_aspect_and_refuse_a_single_frame():
    video, _ = _clip(CameraMove("pan", "right"), seed=13, height=72, width=40)
    assert flow_features(video).shape == (CHANNELS, GRID, GRID)
    long = video.repeat_interleave(5, 0)  # 80 frames: resampled to 16
    assert flow_features(long).shape == (CHANNELS, GRID, GRID)
    floats = video.permute(0, 3, 1, 2).float() / 255
    assert torch.allclose(flow_features(floats), flow_features(video), atol=1e-4)
    with pytest.raises(ValueError, match="at least 2 frames"):
        flow_features(video[:1])


def test_networks_that_do_not_read_the_spans_get_the_same_answer_without_them():
    # Detection computes the span flows only when a loaded network reads them.
    video, _ = _clip(CameraMove("dolly", "in", speed=2.0), seed=17)
    full = flow_features(video)
    base = flow_features(video, BASE_CHANNELS)
    assert torch.equal(base, full[:BASE_CHANNELS])
    assert torch.equal(mirror_features(base), mirror_features(full)[:BASE_CHANNELS])
    torch.manual_seed(0)
    old, new = MoveNet(channels=BASE_CHANNELS).eval(), MoveNet().eval()
    assert torch.allclose(
        move_probabilities(video, (old,)), _full_width_probabilities((old,), video), atol=1e-6
    )
    # With a network that reads the spans loaded, every network gets them.
    assert torch.allclose(
        move_probabilities(video, (old, new)),
        _full_width_probabilities((old, new), video),
        atol=1e-6,
    )
    with pytest.raises(ValueError, match="not 61"):
        flow_features(video, BASE_CHANNELS + 1)


def _full_width_probabilities(nets: tuple[MoveNet, ...], video: torch.Tensor) -> torch.Tensor:
    x, xr = flow_features(video)[None], flow_features(video.flip(0))[None]
    return symmetric_probabilities(nets, x, xr)[0]


def test_an_ensemble_mixes_networks_that_read_different_feature_channels(tmp_path: Path):
    # Networks trained before the long-span channels existed read the first BASE_CHANNELS; an
    # exported ensemble keeps each network's width, and the span channels change only the
    # networks that read them.
    torch.manual_seed(0)
    path = tmp_path / "mixed.safetensors"
    export([MoveNet(channels=BASE_CHANNELS), MoveNet()], path)
    old, new = load_move_nets(path)
    assert (old.channels, new.channels) == (BASE_CHANNELS, CHANNELS)
    x = torch.randn(3, CHANNELS, GRID, GRID)
    other_spans = x.clone()
    other_spans[:, BASE_CHANNELS:] = torch.randn(3, CHANNELS - BASE_CHANNELS, GRID, GRID)
    assert torch.equal(old(x), old(other_spans))
    assert not torch.equal(new(x), new(other_spans))
    p = symmetric_probabilities((old, new), x, x.flip(-1))
    assert torch.allclose(p.sum(-1), torch.ones(3))


def test_a_widened_network_starts_as_the_network_and_can_learn_the_new_channels():
    # Training on from a shipped network that predates the spans: it must begin answering exactly
    # as before, whatever the spans hold, and the spans must get a gradient.
    torch.manual_seed(0)
    old = MoveNet(channels=BASE_CHANNELS).eval()
    wide = widen_net(old).eval()
    assert wide.channels == CHANNELS
    x = torch.randn(4, CHANNELS, GRID, GRID)
    assert torch.allclose(wide(x), old(x), atol=1e-6)
    wide(x).logsumexp(-1).sum().backward()
    assert wide.body[0].weight.grad[:, BASE_CHANNELS:].abs().sum() > 0
    with pytest.raises(ValueError, match="cannot narrow"):
        widen_net(wide, BASE_CHANNELS)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--ensemble", "99"], "fewer than 99 networks"),
        (["--channels", str(BASE_CHANNELS)], f"wider than --channels {BASE_CHANNELS}"),
    ],
)
def test_resuming_from_an_ensemble_that_cannot_serve_is_refused_before_any_work(
    args, message, tmp_path: Path, monkeypatch, capsys
):
    # The shipped file holds four networks that read every channel. The refusal comes
    # before the feature caches, which take minutes per chunk: this unreadable chunk is never
    # opened.
    chunk = tmp_path / "chunk-0000.npz"
    chunk.write_bytes(b"not a chunk")
    argv = ["move_training", "--data", str(tmp_path), "--resume", str(WEIGHTS), *args]
    monkeypatch.setattr("sys.argv", argv)
    with pytest.raises(SystemExit):
        move_training.main()
    assert message in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == [chunk]


def test_missing_weights_name_the_path(tmp_path: Path):
    missing = tmp_path / "nope.safetensors"
    with pytest.raises(FileNotFoundError, match=r"nope\.safetensors"):
        load_move_nets(missing)


CLEAR_MOVES = [
    CameraMove("pan", "left", speed=2.0),
    CameraMove("tilt", "down", speed=2.0),
    CameraMove("dolly", "in", speed=2.0),
    CameraMove("truck", "right", speed=2.0),
    CameraMove("crane", "up", speed=2.0),
    CameraMove("orbit", "left", speed=2.0),
    CameraMove("zoom", "out", speed=2.0),
    CameraMove("handheld", speed=2.0, seed=5),
    CameraMove(),
    CameraMove("steadicam", "forward", speed=2.0, seed=3),
]


def test_the_shipped_classifier_reads_clear_moves_from_the_frames():
    # Fast moves at 35 mm, f/8, in random scenes: held-out accuracy over the full range of
    # speeds and lenses is in bench/results/camera_conformance.md; here most must be right.
    kind_ok = direction_ok = 0
    for i, move in enumerate(CLEAR_MOVES * 2):
        guess = detect_move(_clip(move, seed=40 + i)[0])
        if guess.kind == move.kind:
            kind_ok += 1
            direction_ok += guess.direction == move.direction
    assert kind_ok >= 16, f"{kind_ok} of 20 moves identified"
    assert direction_ok >= kind_ok - 1, f"{direction_ok} of {kind_ok} directions right"


def test_a_mirrored_clip_gets_exactly_the_mirrored_answer():
    video, _ = _clip(CameraMove("pan", "left", speed=2.0), seed=41)
    p = move_probabilities(video)
    assert torch.allclose(move_probabilities(video.flip(2)), p[MIRROR_LABELS], atol=1e-3)
    assert LABELS[int(p.argmax())] == ("pan", "left")


def test_a_clip_played_backwards_gets_exactly_the_opposite_direction():
    video, _ = _clip(CameraMove("dolly", "in", speed=2.0), seed=42)
    p = move_probabilities(video)
    assert torch.allclose(move_probabilities(video.flip(0)), p[REVERSE_LABELS], atol=1e-3)
    assert LABELS[int(p.argmax())] == ("dolly", "in")


def test_conformance_scores_the_requested_move_against_the_detected_one():
    video, spec = _clip(CameraMove("zoom", "out", speed=2.0), seed=41)
    score = camera_conformance(video, spec)
    assert score.move_match and score.direction_match and score.score > 0.75
    # Linear easing: frame 15 of 16 is 15/24 s into a x1.6-per-second zoom at double speed.
    expected = math.exp(-ZOOM_LOG_PER_S * 2.0 * 15 / 24)
    assert score.expected_focal_change == pytest.approx(expected)
    assert abs(math.log(score.focal_change / expected)) < 0.2
    wrong = camera_conformance(video, CameraSpec(moves=(CameraMove("pan", "left"),)))
    assert not wrong.move_match and wrong.score < 0.5
