from __future__ import annotations

import json

import pytest
import torch

from generation.engine.lora import (
    LoRALinear,
    inject_lora,
    load_lora,
    load_loras,
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


def _saved(tmp_path, name: str, seed: int, targets: tuple[str, ...]):
    model, _ = _model_and_inputs()
    inject_lora(model, rank=2 + seed % 2, alpha=4, targets=targets)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for layer in lora_layers(model).values():
            layer.lora_b.copy_(torch.randn(layer.lora_b.shape, generator=gen) * 0.1)
    return save_lora(model, tmp_path / f"{name}.safetensors")


def _layers(path) -> list[str]:
    return json.loads(read_lora_metadata(path)["layers"])


def _state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_two_adapters_add_their_updates_at_their_own_weights_and_come_off_bit_exactly(tmp_path):
    mara = _saved(tmp_path, "mara", seed=3, targets=("q", "k", "v", "cross_out"))
    nell = _saved(tmp_path, "nell", seed=4, targets=("qkv", "out", "q"))
    model, inputs = _model_and_inputs()
    before = _state(model)
    base = model(*inputs)

    names = load_loras(model, [(mara, 1.0), (nell, 0.5)])
    # Layers of either adapter are adapted; one both adapt sums both updates.
    assert names == sorted(set(_layers(mara)) | set(_layers(nell)))
    shared = next(n for n in names if n.endswith(".q"))
    layer = model.get_submodule(shared)
    assert layer.rank == 2 + 3
    x = torch.randn(3, layer.base.in_features, generator=torch.Generator().manual_seed(9))

    def delta(path, name: str) -> torch.Tensor:
        """One adapter's update of layer `name` on `x`, as load_lora applies it."""
        probe, _ = _model_and_inputs()
        load_lora(probe, path)
        return probe.get_submodule(name)(x) - probe.get_submodule(name).base(x)

    expected = layer.base(x) + delta(mara, shared) + 0.5 * delta(nell, shared)
    torch.testing.assert_close(layer(x), expected, atol=1e-5, rtol=1e-5)
    both = model(*inputs)
    assert not torch.allclose(both, base, atol=1e-4)
    with pytest.raises(RuntimeError, match="remove the model's adapters"):
        load_loras(model, [(mara, 1.0)])

    remove_lora(model)
    assert lora_layers(model) == {}
    after = model.state_dict()
    assert list(after) == list(before)
    assert all(torch.equal(before[k], after[k]) for k in before)  # bit for bit
    assert torch.equal(model(*inputs), base)


def test_loading_two_adapters_one_missing_changes_nothing(tmp_path):
    mara = _saved(tmp_path, "mara", seed=3, targets=("q",))
    model, _ = _model_and_inputs()
    with pytest.raises(FileNotFoundError, match="not found"):
        load_loras(model, [(mara, 1.0), (tmp_path / "gone.safetensors", 1.0)])
    assert lora_layers(model) == {}
