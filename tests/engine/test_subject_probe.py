"""The shipped subject probe reads world keyframes it never saw, every kind of subject."""

from __future__ import annotations

import torch

from generation.engine.native import KEYFRAME_SIZES
from generation.engine.subject_probe import (
    KINDS,
    load_probe,
    probe_input,
    read_subject,
    subject_kind,
)
from generation.engine.training.keyframe_data import HELD_OUT_SEED, render_keyframe


def test_keyframes_pass_unscaled_and_larger_frames_come_to_their_aspects_keyframe_size() -> None:
    for height, width in KEYFRAME_SIZES.values():
        frames = torch.randint(0, 256, (2, height, width, 3), dtype=torch.uint8)
        x = probe_input(frames)
        assert torch.equal(x, frames.permute(0, 3, 1, 2).float() / 127.5 - 1)
        assert probe_input(frames.repeat_interleave(2, 1).repeat_interleave(2, 2)).shape == x.shape


def test_shipped_probe_reads_held_out_keyframes_of_every_kind() -> None:
    torch.set_num_threads(1)
    probe = load_probe()
    truth, read = [], []
    for i in range(60):
        s = render_keyframe(HELD_OUT_SEED, i)
        truth.append(subject_kind(s["labels"]))
        read += read_subject(probe, s["rgb"][None])
    assert set(truth) == set(KINDS)
    right = sum(t == r for t, r in zip(truth, read, strict=True))
    assert right / len(truth) >= 0.85, f"{right}/{len(truth)}"
    for kind in KINDS:  # a probe that answers one kind for every frame never passes
        assert any(t == r == kind for t, r in zip(truth, read, strict=True)), kind
