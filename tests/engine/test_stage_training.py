"""Each stage's trainer on a few world samples: it learns, checkpoints, resumes and exports
weights the pipeline loads."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file

from generation.engine.models.depth import DepthConfig
from generation.engine.models.keyframe import KeyframeConfig, KeyframeModel
from generation.engine.models.refiner import RefinerConfig
from generation.engine.modes import Quality
from generation.engine.native import KEYFRAME_SIZES
from generation.engine.pipeline.request import GenerationRequest
from generation.engine.pipeline.video import build_pipeline
from generation.engine.training import depth, keyframe, keyframe_data, refiner, refiner_data
from generation.engine.weights import load_weights, read_config


@pytest.fixture(scope="module")
def keyframe_shards(tmp_path_factory):
    out = tmp_path_factory.mktemp("keyframes")
    old = keyframe_data.SHARD
    keyframe_data.SHARD = 4
    try:
        keyframe_data.write_shard(out, 0)
    finally:
        keyframe_data.SHARD = old
    return out


def _log(out) -> list[dict]:
    return [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]


def test_a_keyframe_shard_holds_sharp_frames_exact_depth_and_captions(keyframe_shards):
    samples = keyframe_data.read_shard(next(keyframe_shards.glob("keyframes-*.pt")))
    assert len(samples) == 4
    for s in samples:
        h, w = s["rgb"].shape[:2]
        assert s["depth"].shape == (h, w) and s["rgb"].dtype == torch.uint8
        assert bool((s["depth"] > 0).all()) and s["caption"]
        assert (h, w) == KEYFRAME_SIZES[s["camera"]["aspect"]]
        # The subject mask covers a small part of the frame, where the subject is drawn.
        assert s["subject"].shape == (h, w) and 0 < float(s["subject"].mean()) < 0.3
        assert float(s["subject"].max()) == 1.0


def test_a_closeup_is_the_same_scene_through_a_longer_lens_showing_more_subject():
    for index in range(3):
        wide = keyframe_data.render_keyframe(keyframe_data.TRAIN_SEED, index)
        close = keyframe_data.render_keyframe(keyframe_data.TRAIN_SEED, index, "closeup")
        assert close["labels"] == wide["labels"]
        assert close["camera"]["moves"] == wide["camera"]["moves"]
        assert close["camera"]["focal_mm"] > wide["camera"]["focal_mm"]
        # The caption names the lens when the wide one does, and names the lens it was shot on.
        said = f"{wide['camera']['focal_mm']:g}mm" in wide["caption"]
        assert said == (f"{close['camera']['focal_mm']:g}mm" in close["caption"])
        assert close["subject"].mean() > 2 * wide["subject"].mean()


def test_closeup_shards_sit_beside_wide_ones_in_one_bank(tmp_path, monkeypatch):
    monkeypatch.setattr(keyframe_data, "SHARD", 2)
    keyframe_data.write_shard(tmp_path, 0)
    keyframe_data.write_shard(tmp_path, 0, view="closeup")
    assert sorted(p.name for p in tmp_path.glob("*.pt")) == [
        "keyframes-1-00000.pt",
        "keyframes-1-closeup-00000.pt",
    ]
    assert len(keyframe.KeyframeBank(tmp_path)) == 4


def test_the_subject_weighted_loss_is_mse_at_weight_zero_and_favours_the_subject():
    g = torch.Generator().manual_seed(0)
    target = torch.randn(2, 4, 8, 8, generator=g)
    subject = torch.zeros(2, 1, 8, 8)
    subject[:, :, 2:4, 2:4] = 1.0
    off_subject = target + 0.5 * (1 - subject)  # wrong everywhere but on the subject
    on_subject = target + 0.5 * subject  # wrong only on the subject
    plain, _ = keyframe.subject_weighted_mse(off_subject, target, subject, 0.0)
    assert torch.allclose(plain, torch.nn.functional.mse_loss(off_subject, target))
    a, a_subject = keyframe.subject_weighted_mse(off_subject, target, subject, 20.0)
    b, b_subject = keyframe.subject_weighted_mse(on_subject, target, subject, 20.0)
    # Unweighted the background error costs 15x the subject's; weighted, the subject's costs more.
    assert float(b) > float(a)
    assert float(a_subject) == 0.0 and abs(float(b_subject) - 0.25) < 1e-6


def test_the_keyframe_trainer_resumes_and_exports_what_the_pipeline_loads(
    keyframe_shards, tmp_path, monkeypatch
):
    monkeypatch.setattr(keyframe, "held_out_prompts", lambda n: [])
    monkeypatch.setattr(keyframe, "sample_sheet", lambda *a, **k: None)
    out = tmp_path / "run"
    args = ["--data", str(keyframe_shards), "--out", str(out), "--preset", "tiny", "--batch", "4"]
    args += ["--colour-prompts", "0"]
    keyframe.main([*args, "--max-steps", "3", "--threads", "1"])
    assert _log(out)[-1]["step"] == 3
    keyframe.main([*args, "--max-steps", "5", "--threads", "1", "--resume"])
    assert _log(out)[-1]["step"] == 5
    keyframe.main(["--out", str(out), "--export", str(tmp_path / "w"), "--export-dtype", "int8"])
    cfg, meta = read_config(tmp_path / "w", "keyframe", KeyframeConfig)
    assert cfg.unet.channels == (16, 32) and meta["step"] == _log(out)[-1]["step"]
    stored = load_file(tmp_path / "w" / "keyframe.safetensors")
    assert any(t.dtype == torch.int8 for t in stored.values())
    # The int8 file loads back to the run's EMA within a quantisation step.
    ema = torch.load(out / "checkpoint.pt", weights_only=False)["ema"]
    loaded = KeyframeModel(cfg)
    load_weights(loaded, tmp_path / "w", "keyframe")
    for key, value in loaded.state_dict().items():
        assert torch.allclose(value, ema[key], atol=ema[key].abs().max().item() / 100 + 1e-6), key
    # A machine with no checkpoint carries on from the exported weights and their counters.
    fresh = tmp_path / "carried-on"
    init = ["--init", str(tmp_path / "w"), "--max-steps", "7", "--threads", "1"]
    init += ["--colour-prompts", "0"]
    keyframe.main(["--data", str(keyframe_shards), "--out", str(fresh), "--batch", "4", *init])
    assert _log(fresh)[0]["step"] == 5 and _log(fresh)[-1]["step"] == 7


def test_the_depth_trainer_trains_and_exports(keyframe_shards, tmp_path):
    out = tmp_path / "depth"
    depth.main(
        [
            "--data",
            str(keyframe_shards),
            "--out",
            str(out),
            "--preset",
            "tiny",
            "--batch",
            "4",
            "--max-steps",
            "40",
            "--threads",
            "1",
            "--lr",
            "3e-3",
        ]
    )
    torch.manual_seed(0)
    depth.main(["--out", str(out), "--export", str(tmp_path / "w")])
    assert read_config(tmp_path / "w", "depth", DepthConfig)[1]["step"] == 40


def test_refiner_samples_pair_a_cache_render_with_the_true_frames(tmp_path, monkeypatch):
    monkeypatch.setattr(refiner_data, "SHARD", 2)
    path = refiner_data.write_shard(tmp_path / "data", 0)
    data = refiner_data.read_shard(path)
    cache, target, mask = data["cache"][0], data["target"][0], data["mask"][0]
    assert cache.shape == target.shape and mask.shape == cache.shape[:3]
    # Frame 0 is the keyframe seen from its own pose: covered, and close to the truth where
    # the keyframe was not degraded (the render is at twice the keyframe's size).
    assert bool(mask[0].float().mean() > 0.95)
    out = tmp_path / "run"
    refiner.main(
        [
            "--data",
            str(tmp_path / "data"),
            "--out",
            str(out),
            "--preset",
            "tiny",
            "--batch",
            "2",
            "--max-steps",
            "2",
            "--threads",
            "1",
        ]
    )
    refiner.main(["--out", str(out), "--export", str(tmp_path / "w"), "--export-dtype", "bfloat16"])
    assert read_config(tmp_path / "w", "refiner", RefinerConfig)[1]["step"] == 2


def test_the_three_exports_make_a_pipeline_that_renders(keyframe_shards, tmp_path):
    """The shipping recipe: keyframe int8, depth and refiner bf16, one folder, one pipeline."""
    common = ["--preset", "tiny", "--batch", "2", "--max-steps", "1", "--threads", "1"]
    data = refiner_data.write_shard(tmp_path / "refiner", 0)
    assert data.is_file()
    for stage, source, dtype in (
        (keyframe, keyframe_shards, "int8"),
        (depth, keyframe_shards, "bfloat16"),
        (refiner, tmp_path / "refiner", "bfloat16"),
    ):
        out = tmp_path / stage.__name__.rsplit(".", 1)[1]
        stage.main(["--data", str(source), "--out", str(out), *common])
        stage.main(["--out", str(out), "--export", str(tmp_path / "w"), "--export-dtype", dtype])
    pipe = build_pipeline(tmp_path / "w", autocast=False)
    clip = pipe(
        GenerationRequest(prompt="a red ball on grass", num_frames=4, quality=Quality.FLASH, seed=3)
    )
    assert clip.frames.shape[0] == 4 and clip.frames.dtype == torch.uint8


def test_the_keyframe_trainer_logs_the_colour_measure_and_keeps_its_best_weights(
    keyframe_shards, tmp_path, monkeypatch
):
    monkeypatch.setattr(keyframe, "held_out_prompts", lambda n: [])
    monkeypatch.setattr(keyframe, "sample_sheet", lambda *a, **k: None)
    out = tmp_path / "run"
    args = ["--data", str(keyframe_shards), "--out", str(out), "--preset", "tiny", "--batch", "4"]
    keyframe.main([*args, "--max-steps", "2", "--colour-minutes", "0", "--colour-prompts", "2"])
    measured = [e for e in _log(out) if e.get("event") == "colour"]
    assert measured and all(0 <= e["colour_found"] <= 1 for e in measured)
    best = max(measured, key=lambda e: e["colour_found"] - e["colour_false_positive"])
    _, meta = read_config(out / "best-colour", "keyframe", KeyframeConfig)
    assert meta["colour_found"] == best["colour_found"]


def test_the_keyframe_bank_takes_in_shards_written_after_it_started(tmp_path, monkeypatch):
    monkeypatch.setattr(keyframe_data, "SHARD", 4)
    keyframe_data.write_shard(tmp_path, 0)
    bank = keyframe.KeyframeBank(tmp_path)
    assert len(bank) == 4
    keyframe_data.write_shard(tmp_path, 1)
    assert bank.refresh() == 4 and len(bank) == 8 and int(bank.counts.sum()) == 8
    assert bank.refresh() == 0
