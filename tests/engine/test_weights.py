from __future__ import annotations

import pytest
import torch

from generation.engine import vae, weights
from generation.engine.transformer import PRESETS, SVT, SVTConfig


def test_save_and_load_round_trip_config_and_tensors(tmp_path):
    torch.manual_seed(0)
    model = SVT(PRESETS["tiny"])
    weights.save_weights(model, model.cfg, tmp_path, "transformer", metadata={"steps": 12})
    cfg, meta = weights.read_config(tmp_path, "transformer", SVTConfig)
    assert cfg == PRESETS["tiny"]  # tuples survive JSON
    assert meta == {"steps": 12}
    torch.manual_seed(1)
    other = weights.load_weights(SVT(cfg), tmp_path, "transformer")
    for (name, a), (_, b) in zip(
        model.state_dict().items(), other.state_dict().items(), strict=True
    ):
        assert torch.equal(a, b), name


def test_missing_weights_say_not_installed_with_the_path(tmp_path):
    with pytest.raises(weights.WeightsNotInstalled, match=f"weights not installed at {tmp_path}"):
        weights.read_config(tmp_path, "vae", vae.VAEConfig)
    with pytest.raises(weights.WeightsNotInstalled, match="weights not installed"):
        weights.load_weights(vae.CausalVAE(vae.PRESETS["tiny"]), tmp_path, "vae")
    assert not weights.has_weights(tmp_path, "vae")
    assert not weights.has_weights(None, "vae")


def test_unknown_config_fields_are_rejected():
    with pytest.raises(ValueError, match="unknown"):
        weights.config_from_dict(SVTConfig, {"dim": 8, "flux_capacitor": 1})


def test_bf16_storage_halves_the_file(tmp_path):
    model = vae.CausalVAE(vae.PRESETS["tiny"])
    full = weights.save_weights(model, model.cfg, tmp_path / "a", "vae")
    half = weights.save_weights(model, model.cfg, tmp_path / "b", "vae", dtype=torch.bfloat16)
    assert half.stat().st_size < 0.6 * full.stat().st_size
    loaded = weights.load_weights(vae.CausalVAE(vae.PRESETS["tiny"]), tmp_path / "b", "vae")
    w = loaded.encoder.conv_in.conv.weight
    assert w.dtype == torch.float32  # cast back into the model's dtype
    torch.testing.assert_close(w, model.encoder.conv_in.conv.weight, atol=1e-2, rtol=1e-2)
