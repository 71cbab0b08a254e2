from __future__ import annotations

import pytest
import torch
from diffusers import WanImageToVideoPipeline, WanPipeline

from generation.backends.base import BackendRequest, UnsupportedRequest
from generation.backends.stages import fit_video
from generation.backends.wan import WanBackend
from generation.engine.sampling import SamplingCancelled

SMALL = {"height": 32, "width": 32, "num_frames": 9, "steps": 3}


def _video(seed: int, frames: int = 12) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (frames, 40, 56, 3), generator=g, dtype=torch.uint8)


def test_text_to_video_gives_uint8_frames_at_wan_fps_and_reports_every_step(wan13: WanBackend):
    seen: list[tuple[int, int]] = []
    result = wan13.generate(
        BackendRequest("a red ball on grass", seed=3, **SMALL),
        progress=lambda step, total: seen.append((step, total)),
    )
    assert result.frames.dtype == torch.uint8
    assert tuple(result.frames.shape) == (9, 32, 32, 3)
    assert result.fps == 16.0
    assert seen == [(1, 3), (2, 3), (3, 3)]
    meta = result.metadata
    assert meta["models"] == {"t2v": "Wan-AI/Wan2.1-T2V-1.3B-Diffusers"}
    assert meta["pipelines"] == {"t2v": "WanPipeline"}
    assert (meta["seed"], meta["steps"], meta["denoising_steps"]) == (3, 3, 3)
    assert meta["negative_prompt"] == WanBackend.default_negative
    assert meta["camera_route"] == "none" and meta["prompt_sent"] == "a red ball on grass"


def test_same_seed_same_clip_other_seed_other_clip(wan13: WanBackend):
    a = wan13.generate(BackendRequest("a red ball", seed=1, **SMALL)).frames
    b = wan13.generate(BackendRequest("a red ball", seed=1, **SMALL)).frames
    c = wan13.generate(BackendRequest("a red ball", seed=2, **SMALL)).frames
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_frames_round_up_to_wan_lengths(wan13: WanBackend):
    result = wan13.generate(BackendRequest("a ball", height=32, width=32, num_frames=6, steps=1))
    assert result.frames.shape[0] == 6  # rendered 9 (1 + 4k), returned as asked
    assert result.metadata["rendered_frames"] == 9


def test_cancel_mid_run_stops_at_that_step(wan13: WanBackend):
    seen: list[int] = []
    with pytest.raises(SamplingCancelled):
        wan13.generate(
            BackendRequest("a ball", **{**SMALL, "steps": 5}),
            progress=lambda step, total: seen.append(step),
            is_cancelled=lambda: len(seen) >= 2,
        )
    assert seen == [1, 2]


def test_progress_raising_cancels_too(wan13: WanBackend):
    def progress(step: int, total: int) -> None:
        if step == 1:
            raise SamplingCancelled

    with pytest.raises(SamplingCancelled):
        wan13.generate(BackendRequest("a ball", **SMALL), progress=progress)


def test_image_to_video_on_vace_keeps_the_image_as_frame_zero(
    wan13: WanBackend, image, other_image
):
    a = wan13.generate(BackendRequest("a ball", mode="i2v", image=image, **SMALL))
    b = wan13.generate(BackendRequest("a ball", mode="i2v", image=other_image, **SMALL))
    assert a.metadata["pipelines"] == {"vace": "WanVACEPipeline"}
    assert tuple(a.frames.shape) == (9, 32, 32, 3)
    assert not torch.equal(a.frames, b.frames)


def test_vace_control_keeps_given_frames_and_generates_the_rest(wan13: WanBackend, image):
    request = BackendRequest("a ball", mode="keyframes", image=image, end_image=image, **SMALL)
    plan = wan13.plan(request)
    video, generate = wan13.control(request, plan, {}, None, {})  # no stage runs for these
    assert tuple(video.shape) == (9, 32, 32, 3) and tuple(generate.shape) == (9, 32, 32)
    assert not generate[0].any() and not generate[-1].any() and generate[1:-1].all()
    assert torch.equal(video[0], wan13.fitted(request, plan, "image"))
    assert (video[1:-1] == 127).all()


def test_extend_returns_only_new_frames_and_sees_the_source_tail(wan13: WanBackend):
    source = _video(1)
    a = wan13.generate(BackendRequest("a ball", mode="extend", video=source, **SMALL))
    assert tuple(a.frames.shape) == (9, 32, 32, 3)
    assert a.metadata["context_frames"] == 9  # 1 + 4 * 2 of the source's last frames
    assert a.metadata["rendered_frames"] == 21  # 9 + 9 rounded up to 1 + 4k
    b = wan13.generate(BackendRequest("a ball", mode="extend", video=255 - source, **SMALL))
    assert not torch.equal(a.frames, b.frames)


def test_extend_control_holds_the_source_tail_then_generates(wan13: WanBackend):
    request = BackendRequest("a ball", mode="extend", video=_video(1), **SMALL)
    plan = wan13.plan(request)
    video, generate = wan13.control(request, plan, {}, None, {})
    fitted = fit_video(request.video, (32, 32))
    assert torch.equal(video[:9], fitted[-9:])
    assert not generate[:9].any() and generate[9:].all()


def test_restyle_runs_fewer_steps_by_strength(wan13: WanBackend):
    seen: list[tuple[int, int]] = []
    result = wan13.generate(
        BackendRequest(
            "a ball", mode="v2v", video=_video(2, 9), strength=0.5, **{**SMALL, "steps": 4}
        ),
        progress=lambda s, t: seen.append((s, t)),
    )
    assert result.metadata["pipelines"] == {"v2v": "WanVideoToVideoPipeline"}
    assert seen == [(1, 2), (2, 2)]
    assert tuple(result.frames.shape) == (9, 32, 32, 3)


def test_image_to_video_on_its_own_model(wan14: WanBackend, image, other_image):
    a = wan14.generate(BackendRequest("a ball", mode="i2v", image=image, **SMALL))
    b = wan14.generate(BackendRequest("a ball", mode="i2v", image=other_image, **SMALL))
    assert a.metadata["models"] == {"i2v": "Wan-AI/Wan2.1-I2V-14B-720P-Diffusers"}
    assert tuple(a.frames.shape) == (9, 32, 32, 3)
    assert not torch.equal(a.frames, b.frames)


def test_first_and_last_frame_follow_the_end_image(wan14: WanBackend, image, other_image):
    a = wan14.generate(
        BackendRequest("a ball", mode="keyframes", image=image, end_image=image, **SMALL)
    )
    b = wan14.generate(
        BackendRequest("a ball", mode="keyframes", image=image, end_image=other_image, **SMALL)
    )
    assert a.metadata["models"] == {"flf2v": "Wan-AI/Wan2.1-FLF2V-14B-720P-diffusers"}
    assert a.metadata["pipelines"] == {"flf2v": "WanImageToVideoPipeline"}
    assert not torch.equal(a.frames, b.frames)


def test_requests_the_backend_cannot_do_say_why(wan13: WanBackend, image):
    with pytest.raises(UnsupportedRequest, match="built-in"):
        wan13.generate(BackendRequest("a ball", mode="reframe", **SMALL))
    with pytest.raises(UnsupportedRequest, match="LTX-Video pins"):
        wan13.generate(BackendRequest("a ball", keyframes=((3, image),), **SMALL))
    with pytest.raises(UnsupportedRequest, match="needs image"):
        wan13.generate(BackendRequest("a ball", mode="i2v", **SMALL))
    with pytest.raises(UnsupportedRequest, match="at most 81 frames"):
        wan13.generate(BackendRequest("a ball", height=32, width=32, num_frames=200))


def test_wan22_serves_text_and_image_to_video_from_one_folder(
    wan22: WanBackend, image, other_image
):
    seen: list[tuple[int, int]] = []
    t2v = wan22.generate(
        BackendRequest("a ball", **SMALL), progress=lambda s, t: seen.append((s, t))
    )
    assert tuple(t2v.frames.shape) == (9, 32, 32, 3) and t2v.fps == 24.0
    assert seen == [(1, 3), (2, 3), (3, 3)]
    a = wan22.generate(BackendRequest("a ball", mode="i2v", image=image, **SMALL))
    b = wan22.generate(BackendRequest("a ball", mode="i2v", image=other_image, **SMALL))
    assert a.metadata["pipelines"] == {"i2v": "WanImageToVideoPipeline"}
    assert not torch.equal(a.frames, b.frames)
    i2v = wan22.pipe("i2v", WanImageToVideoPipeline)
    assert i2v.transformer is wan22.pipe("t2v", WanPipeline).transformer
    assert i2v.config.expand_timesteps  # the TI2V conditioning, carried over from the folder
