from __future__ import annotations

import pytest
import torch

from generation.backends.base import BackendRequest, UnsupportedRequest
from generation.backends.ltx import LTXBackend
from generation.engine.sampling import SamplingCancelled

SMALL = {"height": 32, "width": 32, "num_frames": 9, "steps": 3}


def test_text_to_video_at_ltx_fps_with_every_step_reported(ltx: LTXBackend):
    seen: list[tuple[int, int]] = []
    result = ltx.generate(
        BackendRequest("a lighthouse at dusk", **SMALL), progress=lambda s, t: seen.append((s, t))
    )
    assert result.frames.dtype == torch.uint8
    assert tuple(result.frames.shape) == (9, 32, 32, 3)
    assert result.fps == 25.0
    assert seen == [(1, 3), (2, 3), (3, 3)]
    assert result.metadata["models"] == {"condition": "Lightricks/LTX-Video-0.9.5"}
    assert result.metadata["guidance_scale"] == 3.0


def test_frames_round_up_to_one_plus_eight_k(ltx: LTXBackend):
    result = ltx.generate(
        BackendRequest("a lighthouse", height=32, width=32, num_frames=10, steps=1)
    )
    assert result.metadata["rendered_frames"] == 17
    assert result.frames.shape[0] == 10


def test_image_to_video_follows_the_image(ltx: LTXBackend, image, other_image):
    a = ltx.generate(BackendRequest("a lighthouse", mode="i2v", image=image, **SMALL))
    b = ltx.generate(BackendRequest("a lighthouse", mode="i2v", image=other_image, **SMALL))
    assert not torch.equal(a.frames, b.frames)


def test_a_keyframe_pinned_mid_clip_changes_the_clip(ltx: LTXBackend, image, other_image):
    base = {"mode": "keyframes", "image": image, "end_image": image, **SMALL}
    a = ltx.generate(BackendRequest("a lighthouse", **base))
    b = ltx.generate(BackendRequest("a lighthouse", keyframes=((4, other_image),), **base))
    assert tuple(b.frames.shape) == (9, 32, 32, 3)
    assert not torch.equal(a.frames, b.frames)
    with pytest.raises(UnsupportedRequest, match="outside the clip"):
        ltx.generate(BackendRequest("a lighthouse", keyframes=((9, other_image),), **base))


def test_extend_returns_the_new_frames_after_the_source(ltx: LTXBackend):
    g = torch.Generator().manual_seed(3)
    source = torch.randint(0, 256, (20, 40, 56, 3), generator=g, dtype=torch.uint8)
    a = ltx.generate(BackendRequest("a lighthouse", mode="extend", video=source, **SMALL))
    assert a.metadata["context_frames"] == 17  # 1 + 8 * 2
    assert a.metadata["rendered_frames"] == 33  # 17 + 9 rounded up to 1 + 8k
    assert tuple(a.frames.shape) == (9, 32, 32, 3)
    b = ltx.generate(BackendRequest("a lighthouse", mode="extend", video=255 - source, **SMALL))
    assert not torch.equal(a.frames, b.frames)


def test_cancel_mid_run(ltx: LTXBackend):
    seen: list[int] = []
    with pytest.raises(SamplingCancelled):
        ltx.generate(
            BackendRequest("a lighthouse", **{**SMALL, "steps": 6}),
            progress=lambda s, t: seen.append(s),
            is_cancelled=lambda: len(seen) == 3,
        )
    assert seen == [1, 2, 3]


def test_restyle_is_refused_with_the_reason(ltx: LTXBackend):
    video = torch.zeros((9, 32, 32, 3), dtype=torch.uint8)
    with pytest.raises(UnsupportedRequest, match="restyling a clip is offered on Wan"):
        ltx.generate(BackendRequest("a lighthouse", mode="v2v", video=video, **SMALL))
