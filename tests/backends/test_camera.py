from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch

from generation.backends.base import BackendRequest, BackendSettings, UnsupportedRequest
from generation.backends.camera import cache_guide, camera_words, with_camera_words
from generation.backends.depth import (
    SUBJECT_DISTANCE_M,
    BuiltinDepth,
    DepthAnything,
    builtin_depth_model,
    depth_model,
)
from generation.backends.ltx import LTXBackend
from generation.backends.wan import WanBackend
from generation.engine.camera import CameraMove, CameraSpec
from generation.engine.camera_language import parse_camera_language
from generation.engine.weights import WeightsNotInstalled
from tests.backends import tiny
from tests.backends.conftest import settings_for

SMALL = {"height": 32, "width": 32, "num_frames": 9, "steps": 2}
DOLLY_OUT = CameraSpec(moves=(CameraMove.make("dolly", "out"),))


@pytest.mark.parametrize(
    "spec",
    [
        CameraSpec(moves=(CameraMove.make("pan", "left", speed=0.5),), focal_mm=85.0),
        CameraSpec(moves=(CameraMove.make("crane", "up"), CameraMove.make("dolly", "in"))),
        CameraSpec(moves=(CameraMove.make("orbit", "right", speed=2.0),), aperture=1.8),
        CameraSpec(moves=(CameraMove(),), aperture=11.0, shutter_deg=90.0, focus_m=4.0),
        CameraSpec(moves=(CameraMove.make("zoom", "in"),), focal_mm=24.0),
    ],
)
def test_camera_words_parse_back_to_the_spec(spec: CameraSpec):
    parsed = parse_camera_language(camera_words(spec))
    assert parsed.errors == ()
    assert {(m.kind, m.direction, m.speed) for m in parsed.moves} == {
        (m.kind, m.direction, m.speed) for m in spec.moves
    }
    assert parsed.focal_mm == spec.focal_mm
    if spec.aperture <= 2.8 or spec.aperture >= 8:
        assert parsed.aperture == spec.aperture
    if spec.shutter_deg != 180:
        assert parsed.shutter_deg == spec.shutter_deg
    assert parsed.focus_m == spec.focus_m


def test_words_the_prompt_already_says_are_not_repeated():
    spec = CameraSpec(moves=(CameraMove.make("pan", "left"), CameraMove.make("tilt", "up")))
    prompt = "A harbour at dawn, pan left, 50mm"
    out = with_camera_words(prompt, dataclasses.replace(spec, focal_mm=50.0))
    assert out == "A harbour at dawn, pan left, 50mm, tilt up"
    assert with_camera_words("", spec).startswith("pan left and tilt up")


def test_a_camera_on_a_model_without_geometry_goes_into_the_prompt(wan22: WanBackend):
    result = wan22.generate(BackendRequest("a red ball", camera=DOLLY_OUT, **SMALL))
    meta = result.metadata
    assert meta["camera_route"] == "prompt"
    assert meta["camera_note"] == wan22.capabilities.why_not("camera_geometry")
    assert meta["prompt_sent"] == "a red ball, pull-out, 35mm lens"
    assert meta["pipelines"] == {"t2v": "WanPipeline"}
    with pytest.raises(UnsupportedRequest, match="no VACE control model"):
        wan22.generate(BackendRequest("a ball", camera=DOLLY_OUT, camera_route="geometry", **SMALL))


def test_words_can_be_asked_for_where_geometry_is_possible(wan13: WanBackend):
    meta = wan13.generate(
        BackendRequest("a red ball", camera=DOLLY_OUT, camera_route="prompt", **SMALL)
    ).metadata
    assert meta["camera_route"] == "prompt" and meta["camera_note"] is None
    assert meta["pipelines"] == {"t2v": "WanPipeline"}


def test_a_static_camera_is_said_not_rendered(wan13: WanBackend):
    meta = wan13.generate(BackendRequest("a red ball", camera=CameraSpec(), **SMALL)).metadata
    assert meta["camera_route"] == "prompt"
    assert meta["prompt_sent"] == "a red ball, static shot, 35mm lens"


def test_text_to_video_by_geometry_renders_a_keyframe_then_vace(wan13: WanBackend):
    seen: list[tuple[int, int]] = []
    result = wan13.generate(
        BackendRequest("a red ball", camera=DOLLY_OUT, **SMALL),
        progress=lambda s, t: seen.append((s, t)),
    )
    meta = result.metadata
    assert meta["camera_route"] == "geometry"
    assert meta["pipelines"] == {"keyframe": "WanPipeline", "vace": "WanVACEPipeline"}
    assert meta["depth_source"] == tiny.DEPTH_FOLDER
    assert 0.5 < meta["cache_seen"] < 1.0  # pulling out uncovers the frame's edges
    assert seen == [(1, 4), (2, 4), (3, 4), (4, 4)]  # both stages count
    assert tuple(result.frames.shape) == (9, 32, 32, 3)


def test_vace_control_is_the_cache_render_with_its_holes_to_generate(wan13: WanBackend, image):
    request = BackendRequest("a ball", mode="i2v", image=image, camera=DOLLY_OUT, **SMALL)
    plan = wan13.plan(request)
    assert plan.route == "geometry"
    video, generate = wan13.control(request, plan, {}, None, {})
    keyframe = wan13.fitted(request, plan, "image")
    fn, name = wan13.depth()
    guide = cache_guide(DOLLY_OUT, keyframe, num_frames=9, fps=16.0, depth=fn, depth_source=name)
    assert torch.equal(video[0], keyframe) and not generate[0].any()
    assert torch.equal(generate[1:], ~guide.seen[1:])
    assert torch.equal(video[1:], guide.holes_grey()[1:])
    assert generate[-1].any() and not generate[-1].all()


def test_ltx_takes_the_render_as_a_conditioning_clip(ltx: LTXBackend, image):
    plain = ltx.generate(BackendRequest("a lighthouse", mode="i2v", image=image, **SMALL))
    moved = ltx.generate(
        BackendRequest("a lighthouse", mode="i2v", image=image, camera=DOLLY_OUT, **SMALL)
    )
    assert moved.metadata["camera_route"] == "geometry"
    assert moved.metadata["camera_strength"] == LTXBackend.default_camera_strength
    assert not torch.equal(plain.frames, moved.frames)
    text = ltx.generate(BackendRequest("a lighthouse", camera=DOLLY_OUT, **SMALL))
    assert text.metadata["pipelines"] == {
        "keyframe": "LTXConditionPipeline",
        "condition": "LTXConditionPipeline",
    }


def test_extend_by_geometry_continues_from_the_source_last_frame(ltx: LTXBackend):
    source = torch.randint(
        0, 256, (20, 40, 56, 3), generator=torch.Generator().manual_seed(4), dtype=torch.uint8
    )
    result = ltx.generate(
        BackendRequest("a lighthouse", mode="extend", video=source, camera=DOLLY_OUT, **SMALL)
    )
    assert result.metadata["camera_route"] == "geometry"
    assert tuple(result.frames.shape) == (9, 32, 32, 3)


def test_depth_anything_gives_metres_with_the_median_at_the_subject(models_dir: Path, image):
    depth = DepthAnything(models_dir / tiny.DEPTH_FOLDER)
    metres = depth(image, 35.0)
    assert metres.shape == (40, 56) and metres.dtype == torch.float32
    assert metres.median().item() == pytest.approx(SUBJECT_DISTANCE_M, rel=0.05)
    assert (metres >= 0.3).all()


def test_depth_falls_back_to_the_builtin_depth_network(tmp_path: Path, models_dir: Path, image):
    found, name = depth_model(settings_for(models_dir, "wan2.1-1.3b"))
    assert isinstance(found, DepthAnything) and name == tiny.DEPTH_FOLDER
    fallback, name = depth_model(settings_for(tmp_path, "wan2.1-1.3b"))
    assert isinstance(fallback, BuiltinDepth) and name == "builtin"
    # The network of the built-in pipeline with the same (random, seeded) weights.
    builtin = builtin_depth_model(None, "tiny")
    assert all(
        torch.equal(a, b)
        for a, b in zip(
            fallback.model.state_dict().values(), builtin.state_dict().values(), strict=True
        )
    )
    metres = fallback(image, 50.0)
    assert metres.shape == (40, 56) and torch.isfinite(metres).all() and (metres > 0).all()


def test_a_missing_builtin_depth_file_names_its_path(tmp_path: Path):
    settings = BackendSettings(
        backend="wan2.1-1.3b", models_dir=tmp_path, device="cpu", weights_dir=tmp_path / "w"
    )
    with pytest.raises(WeightsNotInstalled, match=str(tmp_path / "w")):
        depth_model(settings)
