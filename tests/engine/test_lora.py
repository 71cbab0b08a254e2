from __future__ import annotations

import pytest
import torch

from generation.engine.lora import (
    LoRALinear,
    inject_lora,
    load_lora,
    lora_layers,
    lora_parameters,
    merge_lora,
    read_lora_metadata,
    remove_lora,
    save_lora,
    set_lora_enabled,
    unmerge_lora,
)
from generation.engine.models.keyframe import PRESETS, KeyframeModel


def _jitter(model: torch.nn.Module, scale: float = 0.05, seed: int = 0) -> None:
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=gen) * scale)


def _model_and_inputs() -> tuple[KeyframeModel, tuple]:
    torch.manual_seed(0)
    model = KeyframeModel(PRESETS["tiny"]).eval()
    _jitter(model)
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(1, 4, 16, 24, generator=gen)
    t = torch.rand(1, generator=gen)
    tokens = torch.randn(1, 5, 384, generator=gen)
    mask = torch.ones(1, 5, dtype=torch.bool)
    pooled = torch.randn(1, 384, generator=gen)
    return model, (x, t, tokens, mask, pooled, torch.tensor([50.0]))


def _train_like(model: torch.nn.Module) -> None:
    """Give the adapters non-zero B, as training would."""
    gen = torch.Generator().manual_seed(5)
    with torch.no_grad():
        for layer in lora_layers(model).values():
            layer.lora_b.copy_(torch.randn(layer.lora_b.shape, generator=gen) * 0.1)


def test_injection_targets_the_attention_projections():
    model, _ = _model_and_inputs()
    names = inject_lora(model, rank=4)
    # The tiny U-Net has attention at its coarse level: one block down, two up, one in the middle.
    attentions = [n for n, m in model.named_modules() if type(m).__name__ == "Attention"]
    assert len(attentions) == 4
    per_block = ("qkv", "out", "q", "k", "v", "cross_out")
    assert sorted(names) == sorted(f"{a}.{p}" for a in attentions for p in per_block)
    assert all(isinstance(model.get_submodule(n), LoRALinear) for n in names)
    only_q = inject_lora(KeyframeModel(PRESETS["tiny"]), rank=2, targets=("q",))
    assert len(only_q) == 4


def test_zero_initialised_b_leaves_outputs_unchanged():
    model, inputs = _model_and_inputs()
    before = model(*inputs)
    inject_lora(model, rank=4, alpha=8)
    assert torch.equal(model(*inputs), before)


def test_trained_adapter_changes_output_and_merged_equals_unmerged():
    model, inputs = _model_and_inputs()
    base = model(*inputs)
    inject_lora(model, rank=4, alpha=8)
    _train_like(model)
    adapted = model(*inputs)
    assert not torch.allclose(adapted, base, atol=1e-4)
    merge_lora(model)
    torch.testing.assert_close(model(*inputs), adapted, atol=1e-5, rtol=1e-5)
    unmerge_lora(model)
    torch.testing.assert_close(model(*inputs), adapted, atol=1e-5, rtol=1e-5)
    set_lora_enabled(model, False)
    torch.testing.assert_close(model(*inputs), base, atol=1e-5, rtol=1e-5)
    set_lora_enabled(model, True)
    remove_lora(model)
    assert lora_layers(model) == {}
    torch.testing.assert_close(model(*inputs), base, atol=1e-5, rtol=1e-5)


def test_only_adapter_parameters_train():
    model, inputs = _model_and_inputs()
    inject_lora(model, rank=2)
    params = lora_parameters(model)
    assert all(p.requires_grad for p in params)
    frozen_ids = {id(p) for n, p in model.named_parameters() if "lora_" not in n and "base" in n}
    assert frozen_ids and not any(
        p.requires_grad for p in model.parameters() if id(p) in frozen_ids
    )
    _train_like(model)
    model(*inputs).square().sum().backward()
    assert all(p.grad is not None for p in params)


def test_save_then_load_reproduces_outputs_exactly(tmp_path):
    model, inputs = _model_and_inputs()
    inject_lora(model, rank=4, alpha=4, targets=("q", "k", "v", "cross_out"))
    _train_like(model)
    expected = model(*inputs)
    path = save_lora(model, tmp_path / "char.safetensors", metadata={"character": "ada"})
    assert read_lora_metadata(path)["character"] == "ada"

    fresh, _ = _model_and_inputs()  # same base weights, no adapters yet
    names = load_lora(fresh, path)
    assert names == sorted(lora_layers(model))
    assert torch.equal(fresh(*inputs), expected)


def test_loading_a_missing_file_is_a_clear_error(tmp_path):
    model, _ = _model_and_inputs()
    with pytest.raises(FileNotFoundError, match="not found"):
        load_lora(model, tmp_path / "nope.safetensors")
