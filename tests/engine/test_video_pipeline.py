"""The built-in pipeline end to end with tiny random networks: every mode, seeding, progress,
cancel, and the geometry that holds whatever the networks have learned."""

from __future__ import annotations

import math

import pytest
import torch

from generation.engine.camera import CameraMove, CameraSpec
from generation.engine.modes import Mode, Quality
from generation.engine.native import render_size
from generation.engine.pipeline.request import GenerationRequest
from generation.engine.pipeline.video import build_pipeline
from generation.engine.sampling import SamplingCancelled
from generation.engine.weights import WeightsNotInstalled

DOLLY = CameraSpec(aperture=16.0, moves=(CameraMove("dolly", "in"),))


@pytest.fixture(scope="module")
def pipe():
    return build_pipeline(None, preset="tiny")


def _image(h: int, w: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    base = torch.rand(h // 8 + 1, w // 8 + 1, 3, generator=g)
    big = torch.nn.functional.interpolate(
        base.permute(2, 0, 1)[None], size=(h, w), mode="bilinear", align_corners=False
    )[0].permute(1, 2, 0)
    return (big * 255).to(torch.uint8)


def _psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = float(((a.float() - b.float()) / 255).pow(2).mean())
    return 10 * math.log10(1 / max(mse, 1e-12))


@pytest.mark.parametrize("aspect", ["16:9", "9:16", "1:1", "2.39:1", "4:3"])
def test_text_to_video_renders_every_aspect_at_its_native_size(pipe, aspect):
    req = GenerationRequest("a red ball", aspect=aspect, num_frames=6, quality=Quality.FLASH)
    out = pipe(req)
    assert out.frames.shape == (6, *render_size(aspect), 3)
    assert out.frames.dtype == torch.uint8


def test_the_same_request_gives_the_same_frames_and_another_seed_others(pipe):
    req = GenerationRequest("a red ball", num_frames=4, quality=Quality.FLASH, camera=DOLLY)
    a, b = pipe(req), pipe(req)
    assert torch.equal(a.frames, b.frames)
    c = pipe(GenerationRequest("a red ball", num_frames=4, quality=Quality.FLASH, seed=1))
    assert not torch.equal(a.frames, c.frames)


def test_progress_counts_up_to_its_total_and_cancel_stops_the_render(pipe):
    calls: list[tuple[int, int]] = []
    req = GenerationRequest("a blue box", num_frames=20, quality=Quality.STANDARD)
    pipe(req, progress=lambda s, t: calls.append((s, t)))
    steps = [s for s, _ in calls]
    assert steps == sorted(steps) and calls[-1][0] == calls[-1][1] == len(calls)
    seen: list[int] = []
    with pytest.raises(SamplingCancelled):
        pipe(req, progress=lambda s, t: seen.append(s), is_cancelled=lambda: len(seen) >= 3)
    assert len(seen) == 3


def test_image_to_video_starts_on_the_given_image(pipe):
    image = _image(300, 520)
    req = GenerationRequest(
        "", mode=Mode.IMAGE, image=image, num_frames=8, camera=DOLLY, quality=Quality.FLASH
    )
    out = pipe(req)
    given = (
        torch.nn.functional.interpolate(
            image.permute(2, 0, 1)[None].float(),
            size=render_size("16:9"),
            mode="bilinear",
            antialias=True,
            align_corners=False,
        )[0]
        .permute(1, 2, 0)
        .round()
        .to(torch.uint8)
    )
    assert _psnr(out.frames[0], given) >= 35.0
    assert _psnr(out.frames[-1], given) < 30.0, "a dolly moves the picture"


def test_start_and_end_keyframes_open_and_close_the_clip(pipe):
    start, end = _image(96, 172, 1), _image(96, 172, 2)
    req = GenerationRequest(
        "",
        mode=Mode.KEYFRAMES,
        image=start,
        end_image=end,
        num_frames=6,
        camera=DOLLY,
        quality=Quality.FLASH,
    )
    out = pipe(req)
    assert _psnr(out.frames[0], start) >= 35.0
    assert _psnr(out.frames[-1], end) >= 35.0


def test_an_extension_continues_from_the_source_without_a_jump(pipe):
    source = _image(96, 172, 3)[None].expand(5, -1, -1, -1).contiguous()
    req = GenerationRequest(
        "", mode=Mode.EXTEND, video=source, num_frames=8, camera=DOLLY, quality=Quality.FLASH
    )
    out = pipe(req)
    seam = (out.frames[0].float() - source[-1].float()).abs().mean()
    within = (out.frames[1:].float() - out.frames[:-1].float()).abs().mean()
    assert seam <= 1.5 * within + 1.0


def test_a_loop_ends_where_it_began(pipe):
    req = GenerationRequest(
        "",
        mode=Mode.IMAGE,
        image=_image(96, 172, 4),
        num_frames=12,
        camera=DOLLY,
        loop=True,
        quality=Quality.FLASH,
    )
    out = pipe(req).frames.float()
    wrap = (out[-1] - out[0]).abs().mean()
    within = (out[1:] - out[:-1]).abs().mean(dim=(1, 2, 3)).mean()
    assert wrap <= 1.5 * within


def test_reframe_keeps_the_original_picture_inside_the_new_gate(pipe):
    source = _image(96, 172, 5)[None].expand(3, -1, -1, -1).contiguous()
    req = GenerationRequest(
        "",
        mode=Mode.REFRAME,
        video=source,
        aspect="4:3",
        camera=CameraSpec(aperture=16.0),
        quality=Quality.FLASH,
    )
    out = pipe(req)
    h, w = render_size("4:3")
    assert out.frames.shape == (3, h, w, 3)
    assert 0.5 < float(out.coverage.mean()) < 1.0, "4:3 sees more height and less width"


def test_restyle_repaints_the_keyframe_from_the_source(pipe):
    source = _image(96, 172, 6)[None].expand(4, -1, -1, -1).contiguous()
    out = pipe(GenerationRequest("at night", mode=Mode.RESTYLE, video=source, num_frames=4))
    assert out.frames.shape[0] == 4


@pytest.mark.parametrize(
    ("mode", "kwargs", "message"),
    [
        (Mode.IMAGE, {}, "needs an image"),
        (Mode.KEYFRAMES, {"image": torch.zeros(8, 8, 3, dtype=torch.uint8)}, "end image"),
        (Mode.EXTEND, {}, "source video"),
        (Mode.TEXT, {"num_frames": 0}, "num_frames"),
        (Mode.TEXT, {"aspect": "3:1"}, "aspect"),
        (Mode.IMAGE, {"image": torch.zeros(8, 8)}, r"uint8 \(H, W, 3\)"),
    ],
)
def test_bad_requests_are_refused_with_a_sentence(pipe, mode, kwargs, message):
    with pytest.raises(ValueError, match=message):
        pipe(GenerationRequest("x", mode=mode, **kwargs))


def test_missing_weights_name_the_file(tmp_path):
    with pytest.raises(WeightsNotInstalled, match="keyframe"):
        build_pipeline(tmp_path)
