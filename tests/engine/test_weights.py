from __future__ import annotations

import pytest
import torch

from generation.engine import weights
from generation.engine.models.keyframe import PRESETS, KeyframeConfig, KeyframeModel
from generation.engine.models.refiner import PRESETS as REFINER_PRESETS
from generation.engine.models.refiner import Refiner, RefinerConfig


def test_save_and_load_round_trip_config_and_tensors(tmp_path):
    torch.manual_seed(0)
    model = KeyframeModel(PRESETS["tiny"])
    weights.save_weights(model, model.cfg, tmp_path, "keyframe", metadata={"steps": 12})
    cfg, meta = weights.read_config(tmp_path, "keyframe", KeyframeConfig)
    assert cfg == PRESETS["tiny"]  # nested configs and their tuples survive JSON
    assert meta == {"steps": 12}
    torch.manual_seed(1)
    other = weights.load_weights(KeyframeModel(cfg), tmp_path, "keyframe")
    for (name, a), (_, b) in zip(
        model.state_dict().items(), other.state_dict().items(), strict=True
    ):
        assert torch.equal(a, b), name
    # Readable by the workers of other users of the machine, like the shipped files.
    assert (tmp_path / "keyframe.safetensors").stat().st_mode & 0o777 == 0o644


def test_missing_weights_say_not_installed_with_the_path(tmp_path):
    with pytest.raises(weights.WeightsNotInstalled, match=f"weights not installed at {tmp_path}"):
        weights.read_config(tmp_path, "refiner", RefinerConfig)
    with pytest.raises(weights.WeightsNotInstalled, match="weights not installed"):
        weights.load_weights(Refiner(REFINER_PRESETS["tiny"]), tmp_path, "refiner")
    assert not weights.has_weights(tmp_path, "refiner")
    assert not weights.has_weights(None, "refiner")


def test_unknown_config_fields_are_rejected():
    with pytest.raises(ValueError, match="unknown"):
        weights.config_from_dict(RefinerConfig, {"unet": {}, "flux_capacitor": 1})


def test_bf16_storage_halves_the_file(tmp_path):
    model = Refiner(REFINER_PRESETS["tiny"])
    full = weights.save_weights(model, model.cfg, tmp_path / "a", "refiner")
    half = weights.save_weights(model, model.cfg, tmp_path / "b", "refiner", dtype=torch.bfloat16)
    assert half.stat().st_size < 0.6 * full.stat().st_size
    loaded = weights.load_weights(Refiner(REFINER_PRESETS["tiny"]), tmp_path / "b", "refiner")
    w = loaded.unet.stem.weight
    assert w.dtype == torch.float32  # cast back into the model's dtype
    torch.testing.assert_close(w, model.unet.stem.weight, atol=1e-2, rtol=1e-2)


def test_int8_storage_is_a_quarter_of_float32_and_loads_back_close(tmp_path):
    torch.manual_seed(0)
    model = KeyframeModel(PRESETS["tiny"])
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    full = weights.save_weights(model, model.cfg, tmp_path / "a", "keyframe")
    small = weights.save_weights(model, model.cfg, tmp_path / "b", "keyframe", dtype=torch.int8)
    assert small.stat().st_size < 0.35 * full.stat().st_size
    loaded = weights.load_weights(KeyframeModel(PRESETS["tiny"]), tmp_path / "b", "keyframe")
    for (name, a), (_, b) in zip(
        model.state_dict().items(), loaded.state_dict().items(), strict=True
    ):
        assert b.dtype == a.dtype, name
        # Each weight within half a quantisation step of its channel's scale.
        step = a.reshape(a.shape[0], -1).abs().amax(1).max() / 127 if a.ndim >= 2 else 0
        assert (a - b).abs().max() <= step / 2 + 1e-6, name
