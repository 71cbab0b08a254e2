"""The built-in model behind the backend contract: every mode, loops, the camera as geometry,
progress and cancel, and character adapters on its keyframe model."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import pytest
import torch

from generation.backends.base import (
    Adapter,
    BackendRequest,
    BackendSettings,
    UnsupportedRequest,
    adapter_meta,
)
from generation.backends.builtin import WEIGHTS_FILE, BuiltinBackend
from generation.backends.registry import load_backend
from generation.engine.camera import CameraMove, CameraSpec
from generation.engine.lora import lora_layers
from generation.engine.modes import Mode, Quality
from generation.engine.native import render_size
from generation.engine.pipeline.request import GenerationRequest
from generation.engine.pipeline.video import build_pipeline
from generation.engine.sampling import SamplingCancelled

DOLLY = CameraSpec(moves=(CameraMove.make("dolly", "in"),))
FAST = {"quality": Quality.FLASH, "num_frames": 6}


@pytest.fixture(scope="module")
def builtin(tmp_path_factory: pytest.TempPathFactory) -> BuiltinBackend:
    settings = BackendSettings(
        backend="builtin", models_dir=tmp_path_factory.mktemp("none"), device="cpu"
    )
    return BuiltinBackend(settings)


@pytest.fixture(scope="module")
def jittered(tmp_path_factory: pytest.TempPathFactory) -> BuiltinBackend:
    """Random weights without the zero-initialised output layers of a fresh model, whose
    velocity is zero whatever its attention does (a trained model's is not)."""
    pipe = build_pipeline(None, preset="tiny")
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in pipe.keyframe.parameters():
            p.add_(torch.randn(p.shape, generator=gen) * 0.05)
    settings = BackendSettings(
        backend="builtin", models_dir=tmp_path_factory.mktemp("none"), device="cpu"
    )
    return BuiltinBackend(settings, pipeline=pipe)


def _clip(frames: int, h: int = 48, w: int = 86, seed: int = 3) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (frames, h, w, 3), generator=g, dtype=torch.uint8)


def test_the_registry_builds_the_builtin_backend_once(tmp_path: Path):
    settings = BackendSettings(backend="builtin", models_dir=tmp_path, device="cpu")
    assert isinstance(load_backend(settings), BuiltinBackend)
    assert load_backend(settings) is load_backend(settings)


@pytest.mark.parametrize("mode", list(Mode))
def test_every_mode_renders_at_the_native_size(builtin: BuiltinBackend, mode: Mode, image):
    inputs: dict = {}
    if mode in (Mode.IMAGE, Mode.KEYFRAMES):
        inputs["image"] = image
    if mode is Mode.KEYFRAMES:
        inputs["end_image"] = image.flip(1)
    if mode in (Mode.RESTYLE, Mode.EXTEND, Mode.REFRAME):
        inputs["video"] = _clip(6)
    aspect = "1:1" if mode is Mode.REFRAME else "16:9"
    result = builtin.generate(
        BackendRequest("a red ball", mode=mode, aspect=aspect, camera=DOLLY, **FAST, **inputs)
    )
    assert result.frames.dtype == torch.uint8
    assert tuple(result.frames.shape) == (6, *render_size(aspect), 3)
    meta = result.metadata
    assert meta["backend"] == "builtin" and meta["mode"] == mode.value
    assert meta["camera_route"] == "geometry" and meta["prompt_sent"] == "a red ball"


def test_the_same_request_reproduces_the_pipeline_bit_for_bit(builtin: BuiltinBackend):
    request = BackendRequest("a red ball", camera=DOLLY, seed=4, **FAST)
    direct = builtin.pipeline()(
        GenerationRequest("a red ball", camera=DOLLY, seed=4, quality=Quality.FLASH, num_frames=6)
    )
    assert torch.equal(builtin.generate(request).frames, direct.frames)


def test_a_loop_ends_where_it_starts(builtin: BuiltinBackend):
    request = BackendRequest("a red ball", camera=DOLLY, loop=True, quality=Quality.FLASH)
    result = builtin.generate(dataclasses.replace(request, num_frames=9))
    assert result.metadata["loop"]
    frames = result.frames.float()
    assert (frames[0] - frames[-1]).abs().mean() < (frames[0] - frames[4]).abs().mean()


def test_progress_counts_up_and_cancel_stops_with_sampling_cancelled(builtin: BuiltinBackend):
    seen: list[tuple[int, int]] = []
    builtin.generate(
        BackendRequest("a red ball", **FAST), progress=lambda s, t: seen.append((s, t))
    )
    assert (
        seen and seen[-1][0] == seen[-1][1] and [s for s, _ in seen] == sorted(s for s, _ in seen)
    )
    with pytest.raises(SamplingCancelled):
        builtin.generate(BackendRequest("a red ball", **FAST), is_cancelled=lambda: True)


def test_what_the_builtin_model_cannot_do_is_refused_with_the_reason(
    builtin: BuiltinBackend, image
):
    refusals = [
        (BackendRequest("x", keyframes=((3, image),), **FAST), "first and last frame"),
        (BackendRequest("x", height=480, width=832, **FAST), "native 172×96"),
        (BackendRequest("x", steps=30, **FAST), "quality tier"),
        (BackendRequest("x", camera=DOLLY, camera_route="prompt", **FAST), "geometry"),
        (BackendRequest("x", num_frames=721), "at most 720 frames"),
        (BackendRequest("x", mode=Mode.REFRAME, **FAST), "needs video"),
    ]
    for request, reason in refusals:
        with pytest.raises(UnsupportedRequest, match=reason):
            builtin.generate(request)


def _weights(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_a_character_adapter_trains_loads_for_a_job_and_leaves_the_model_as_it_was(
    jittered: BuiltinBackend, image, other_image, tmp_path: Path
):
    builtin = jittered
    keyframe = builtin.pipeline().keyframe
    before = _weights(keyframe)
    seen: list[tuple[int, int, float]] = []
    folder = builtin.train_character(
        [image, other_image],
        "Mara, a red-haired pilot",
        tmp_path / "mara",
        steps=4,
        rank=2,
        batch_size=2,
        learning_rate=5e-2,
        progress=lambda s, t, loss: seen.append((s, t, loss)),
    )
    assert [(s, t) for s, t, _ in seen] == [(1, 4), (2, 4), (3, 4), (4, 4)]
    assert (folder / WEIGHTS_FILE).is_file()
    record = adapter_meta(folder)
    # Every step reports the running loss, and the last report is what the record keeps.
    assert all(math.isfinite(loss) and loss > 0 for _, _, loss in seen)
    assert round(seen[0][2], 6) == record["loss_first"]
    assert round(seen[-1][2], 6) == record["loss_last"]
    assert record["backend"] == "builtin" and record["references"] == 2 and record["rank"] == 2
    assert not lora_layers(keyframe) and all(
        torch.equal(before[k], v) for k, v in keyframe.state_dict().items()
    )
    request = BackendRequest("Mara, a red-haired pilot", **FAST)
    plain = builtin.generate(request).frames
    with_adapter = builtin.generate(
        BackendRequest("Mara, a red-haired pilot", adapters=(Adapter(folder),), **FAST)
    )
    assert not torch.equal(plain, with_adapter.frames)
    [lora] = with_adapter.metadata["loras"]
    assert lora["rank"] == 2 and lora["applied"]
    off = builtin.generate(
        BackendRequest("Mara, a red-haired pilot", adapters=(Adapter(folder, 0.0),), **FAST)
    ).frames
    assert torch.equal(plain, off)
    assert not lora_layers(keyframe) and all(
        torch.equal(before[k], v) for k, v in keyframe.state_dict().items()
    )
    with pytest.raises(SamplingCancelled):
        builtin.generate(
            BackendRequest("Mara", adapters=(Adapter(folder),), **FAST), is_cancelled=lambda: True
        )
    assert not lora_layers(keyframe)


def test_two_characters_apply_both_adapters_each_at_its_scale_and_leave_the_model_as_it_was(
    jittered: BuiltinBackend, image, other_image, tmp_path: Path
):
    builtin = jittered
    keyframe = builtin.pipeline().keyframe
    before = _weights(keyframe)
    options = {"steps": 3, "rank": 2, "learning_rate": 5e-2}
    mara = builtin.train_character([image], "Mara", tmp_path / "mara", **options)
    nell = builtin.train_character([other_image], "Nell", tmp_path / "nell", seed=1, **options)

    def render(*adapters: Adapter) -> torch.Tensor:
        return builtin.generate(BackendRequest("Mara and Nell", adapters=adapters, **FAST)).frames

    only_mara, only_nell = render(Adapter(mara)), render(Adapter(nell))
    both = builtin.generate(
        BackendRequest("Mara and Nell", adapters=(Adapter(mara), Adapter(nell, 0.5)), **FAST)
    )
    assert not torch.equal(both.frames, only_mara) and not torch.equal(both.frames, only_nell)
    assert [(lora["path"], lora["scale"]) for lora in both.metadata["loras"]] == [
        (str(mara), 1.0),
        (str(nell), 0.5),
    ]
    # Each adapter keeps its own scale: Nell at full weight is another take.
    assert not torch.equal(render(Adapter(mara), Adapter(nell)), both.frames)
    assert torch.equal(render(Adapter(mara), Adapter(nell, 0.5)), both.frames)
    assert not lora_layers(keyframe)
    assert all(torch.equal(before[k], v) for k, v in keyframe.state_dict().items())


def test_an_adapter_trained_for_another_backend_is_refused(builtin: BuiltinBackend, tmp_path):
    (tmp_path / "adapter.json").write_text('{"backend": "wan2.1-1.3b"}')
    with pytest.raises(UnsupportedRequest, match=r"trained for wan2\.1-1\.3b"):
        builtin.generate(BackendRequest("Mara", adapters=(Adapter(tmp_path),), **FAST))


def test_cancelling_a_training_writes_nothing(builtin: BuiltinBackend, image, tmp_path: Path):
    with pytest.raises(SamplingCancelled):
        builtin.train_character([image], "Mara", tmp_path / "a", steps=3, is_cancelled=lambda: True)
    assert not (tmp_path / "a" / WEIGHTS_FILE).exists()
    assert not lora_layers(builtin.pipeline().keyframe)
