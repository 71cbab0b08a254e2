from __future__ import annotations

import numpy as np
import pytest
import torch

from generation.engine import camera as cam
from generation.engine.camera_features import camera_features, to_latent_frames
from generation.engine.svt_pipeline import (
    QUALITY_MODES,
    GenerationRequest,
    Mode,
    Quality,
    SamplingCancelled,
    build_pipeline,
)
from generation.engine.weights import WeightsNotInstalled, save_weights


def _jitter(model: torch.nn.Module, seed: int) -> None:
    """Untrained SVTs predict zero velocity; perturb so every path changes the output."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=gen) * 0.05)


@pytest.fixture(scope="module")
def pipe():
    pipe = build_pipeline("tiny")
    _jitter(pipe.transformer, 0)
    return pipe


class CallLog:
    """Records what the transformer is called with (a forward hook, the model is unchanged)."""

    def __init__(self, pipe) -> None:
        self.calls: list[tuple[torch.Tensor, torch.Tensor, object]] = []
        self.handle = pipe.transformer.register_forward_hook(self._hook)

    def _hook(self, module, args, output) -> None:
        x, t, cond = args
        self.calls.append((x.clone(), t.clone(), cond))

    def __enter__(self) -> CallLog:
        return self

    def __exit__(self, *exc) -> None:
        self.handle.remove()


def _image(seed: int, h: int = 24, w: int = 40) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (h, w, 3), dtype=np.uint8)


def test_fixed_seed_reproduces_a_clip_bit_for_bit(pipe):
    req = GenerationRequest("a red ball bounces", quality=Quality.FLASH, seed=42)
    a, b = pipe(req), pipe(req)
    assert a.frames.dtype == torch.uint8 and a.frames.shape == (9, 24, 40, 3)
    assert torch.equal(a.frames, b.frames)
    # A rebuilt pipeline (same init seed) gives the same clip too.
    other = build_pipeline("tiny")
    _jitter(other.transformer, 0)
    assert torch.equal(other(req).frames, a.frames)
    assert not torch.equal(pipe(GenerationRequest("a red ball bounces", seed=43)).frames, a.frames)


def test_progress_is_monotonic_and_flash_is_three_times_cheaper(pipe):
    counts = {}
    for quality in Quality:
        seen: list[tuple[int, int]] = []
        with CallLog(pipe) as log:
            result = pipe(
                GenerationRequest("x", quality=quality),
                progress=lambda s, n, seen=seen: seen.append((s, n)),
            )
        total = QUALITY_MODES[quality].steps
        assert seen == [(i, total) for i in range(1, total + 1)]
        assert len(log.calls) == result.metadata["model_evaluations"]
        counts[quality] = len(log.calls)
    assert counts[Quality.STANDARD] >= 3 * counts[Quality.FLASH]
    assert counts[Quality.PRO] == 2 * counts[Quality.STANDARD]


def test_cancellation_from_progress_stops_at_once(pipe):
    def cancel_at_3(step, total):
        if step == 3:
            raise SamplingCancelled

    with CallLog(pipe) as log, pytest.raises(SamplingCancelled):
        pipe(GenerationRequest("x"), progress=cancel_at_3)
    assert len(log.calls) == 3


def test_is_cancelled_flag_stops_before_the_next_model_call(pipe):
    polls = iter([False, False, True])
    with CallLog(pipe) as log, pytest.raises(SamplingCancelled):
        pipe(GenerationRequest("x"), is_cancelled=lambda: next(polls, True))
    assert len(log.calls) == 1


def test_guidance_batches_conditional_and_null_text(pipe):
    with CallLog(pipe) as log:
        pipe(GenerationRequest("x", quality=Quality.FLASH, guidance_scale=4.0))
    x, _, cond = log.calls[0]
    assert x.shape[0] == 2 and torch.equal(x[0], x[1])
    assert cond.drop_text.tolist() == [False, True]
    with CallLog(pipe) as log:
        pipe(GenerationRequest("x", quality=Quality.FLASH, guidance_scale=1.0))
    assert log.calls[0][0].shape[0] == 1


def test_image_to_video_injects_the_first_frame_latent_at_time_zero(pipe):
    image = _image(1)
    with CallLog(pipe) as log:
        result = pipe(GenerationRequest("x", mode=Mode.IMAGE, image=image, quality=Quality.FLASH))
    expected = pipe._encode(torch.from_numpy(image)[None], (24, 40))[0, :, 0]  # (C, h', w')
    for x, t, _ in log.calls:
        assert torch.equal(x[:, :, 0], expected.expand_as(x[:, :, 0]))  # clean, every step
        assert torch.all(t[:, 0] == 0) and torch.all(t[:, 1:] > 0)
    assert torch.equal(result.latents[:, 0], expected)
    # The generated frames differ from text-to-video with the same seed: the image matters.
    t2v = pipe(GenerationRequest("x", quality=Quality.FLASH))
    assert not torch.equal(result.frames, t2v.frames)


def test_keyframes_hold_both_ends(pipe):
    start, end = _image(2), _image(3)
    with CallLog(pipe) as log:
        result = pipe(
            GenerationRequest(
                "x", mode=Mode.KEYFRAMES, image=start, end_image=end, quality=Quality.FLASH
            )
        )
    _, t, _ = log.calls[-1]
    assert t[0, 0] == 0 and t[0, -1] == 0 and torch.all(t[0, 1:-1] > 0)
    held = pipe._encode(torch.from_numpy(end)[None].expand(3, -1, -1, -1), (24, 40))
    assert torch.equal(result.latents[:, -1], held[0, :, 1])


def test_extend_conditions_on_the_last_frames_and_returns_new_ones(pipe):
    source = pipe(GenerationRequest("x", quality=Quality.FLASH, seed=5)).frames  # (9, ...)
    with CallLog(pipe) as log:
        result = pipe(
            GenerationRequest(
                "x", mode=Mode.EXTEND, video=source, num_frames=8, quality=Quality.FLASH
            )
        )
    assert result.frames.shape[0] == 8 and result.metadata["context_frames"] == 3
    ctx = pipe._encode(source[-3:], (24, 40))  # (1, C, 2, h', w')
    assert torch.equal(result.latents[:, :2], ctx[0])
    assert torch.all(log.calls[0][1][:, :2] == 0)


def test_restyle_strength_sets_where_the_solve_starts(pipe):
    source = pipe(GenerationRequest("x", quality=Quality.FLASH, seed=6)).frames
    untouched = pipe(GenerationRequest("x", mode=Mode.RESTYLE, video=source, strength=0.0))
    assert untouched.metadata["steps"] == 0
    z0 = pipe._encode(source, (24, 40))[0]
    assert torch.equal(untouched.latents, z0)
    with CallLog(pipe) as log:
        light = pipe(GenerationRequest("x", mode=Mode.RESTYLE, video=source, strength=0.3))
    assert float(log.calls[0][1].max()) == pytest.approx(0.3)
    heavy = pipe(GenerationRequest("x", mode=Mode.RESTYLE, video=source, strength=0.9))
    assert (
        0
        < light.metadata["steps"]
        < heavy.metadata["steps"]
        <= QUALITY_MODES[Quality.STANDARD].steps
    )
    # Less noise keeps the clip closer to its source latent.
    assert (light.latents - z0).abs().mean() < (heavy.latents - z0).abs().mean()


def test_camera_spec_reaches_the_model_per_latent_frame(pipe):
    spec = cam.CameraSpec(moves=(cam.CameraMove.make("pan", "right"),))
    with CallLog(pipe) as log:
        panned = pipe(GenerationRequest("x", quality=Quality.FLASH, camera=spec))
    cond = log.calls[0][2]
    feats = camera_features(spec, 9, pipe.preset.fps)
    assert torch.equal(cond.camera[0], feats.clip)
    assert torch.equal(cond.camera_path[0], to_latent_frames(feats.path, 2))
    static = pipe(GenerationRequest("x", quality=Quality.FLASH, camera=cam.CameraSpec()))
    assert not torch.equal(panned.frames, static.frames)
    as_dict = pipe(GenerationRequest("x", quality=Quality.FLASH, camera=spec.to_dict()))
    assert torch.equal(as_dict.frames, panned.frames)


def test_aspects_give_their_native_grids(pipe):
    for aspect, size in [("9:16", (40, 24)), ("1:1", (32, 32)), ("2.39:1", (24, 48))]:
        frames = pipe(GenerationRequest("x", aspect=aspect, quality=Quality.FLASH, steps=1)).frames
        assert tuple(frames.shape[1:3]) == size


def test_weights_round_trip_through_a_directory(tmp_path, pipe):
    save_weights(pipe.transformer, pipe.transformer.cfg, tmp_path, "transformer")
    save_weights(pipe.vae, pipe.vae.cfg, tmp_path, "vae")
    loaded = build_pipeline("tiny", tmp_path, text_encoder=pipe.text_encoder)
    req = GenerationRequest("a", quality=Quality.FLASH)
    assert torch.equal(loaded(req).frames, pipe(req).frames)


def test_missing_weights_and_bad_requests_are_clear_errors(tmp_path, pipe):
    with pytest.raises(WeightsNotInstalled, match="weights not installed at"):
        build_pipeline("tiny", tmp_path / "nowhere")
    with pytest.raises(WeightsNotInstalled, match="only offered for 'tiny'"):
        build_pipeline("small")
    with pytest.raises(ValueError, match="needs an image"):
        pipe(GenerationRequest("x", mode=Mode.IMAGE))
    with pytest.raises(ValueError, match="uint8"):
        pipe(GenerationRequest("x", mode=Mode.IMAGE, image=np.zeros((8, 8, 3), np.float32)))
    with pytest.raises(ValueError, match="aspect"):
        pipe(GenerationRequest("x", aspect="5:4"))
