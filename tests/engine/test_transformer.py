from __future__ import annotations

import dataclasses

import pytest
import torch

from generation.engine.transformer import PRESETS, SVT, SVTCondition, rope_3d


def _jitter(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Perturb every parameter, so zero-initialised gates no longer hide the paths under test."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=gen) * 0.05)
    return model


def _cond(
    batch: int = 2, length: int = 6, frames: int | None = None, seed: int = 1
) -> SVTCondition:
    gen = torch.Generator().manual_seed(seed)
    mask = torch.ones(batch, length, dtype=torch.bool)
    mask[0, length - 2 :] = False
    return SVTCondition(
        text_tokens=torch.randn(batch, length, 384, generator=gen),
        text_mask=mask,
        text_pooled=torch.randn(batch, 384, generator=gen),
        camera=torch.randn(batch, 16, generator=gen),
        camera_path=None if frames is None else torch.randn(batch, frames, 13, generator=gen),
    )


@pytest.fixture
def model() -> SVT:
    torch.manual_seed(0)
    return _jitter(SVT(PRESETS["tiny"]).eval())


def test_untrained_model_predicts_zero_velocity():
    torch.manual_seed(0)
    m = SVT(PRESETS["tiny"])
    v = m(torch.randn(1, 4, 3, 8, 8), torch.rand(1), _cond(1))
    assert torch.equal(v, torch.zeros_like(v))


@pytest.mark.parametrize("shape", [(3, 8, 14), (3, 14, 8), (2, 8, 8), (1, 6, 16)])
def test_every_aspect_gets_its_own_grid(model, shape):
    x = torch.randn(2, 4, *shape)
    v = model(x, torch.rand(2), _cond(2, frames=shape[0]))
    assert v.shape == x.shape
    assert torch.isfinite(v).all()


def test_patchify_round_trips(model):
    x = torch.randn(2, 4, 3, 8, 12)
    assert torch.equal(model.unpatchify(model.patchify(x), model.grid_for(x.shape)), x)


def test_rope_changes_with_position_but_not_norm():
    cos, sin = rope_3d((2, 3, 4), 16, 10000.0, torch.device("cpu"))
    assert cos.shape == (24, 8)
    assert torch.allclose(cos**2 + sin**2, torch.ones_like(cos))
    # Distinct (t, h, w) positions get distinct angles.
    assert torch.unique(torch.cat([cos, sin], dim=1), dim=0).shape[0] == 24


def test_padding_tokens_are_ignored(model):
    x, t = torch.randn(2, 4, 2, 8, 8), torch.rand(2)
    cond = _cond()
    v = model(x, t, cond)
    noisy = dataclasses.replace(cond, text_tokens=cond.text_tokens.clone())
    noisy.text_tokens[0, -2:] = 100.0  # masked positions of sample 0
    torch.testing.assert_close(model(x, t, noisy), v)


def test_each_condition_reaches_the_output(model):
    x, t = torch.randn(2, 4, 2, 8, 8), torch.rand(2)
    cond = _cond(frames=2)
    v = model(x, t, cond)
    for field, value in [
        ("text_pooled", torch.randn(2, 384)),
        ("camera", torch.randn(2, 16)),
        ("camera_path", torch.randn(2, 2, 13)),
        ("identity", torch.randn(2, 3, 384)),
    ]:
        other = model(x, t, dataclasses.replace(cond, **{field: value}))
        assert not torch.allclose(other, v), field
    assert not torch.allclose(model(x, t * 0.5, cond), v)


def test_dropped_conditions_use_the_learned_nulls(model):
    x, t = torch.randn(2, 4, 2, 8, 8), torch.rand(2)
    a, b = _cond(seed=1), _cond(seed=2)
    drop = torch.ones(2, dtype=torch.bool)
    # With text and camera dropped, what the prompt and camera were no longer matters.
    va = model(x, t, dataclasses.replace(a, drop_text=drop, drop_camera=drop))
    vb = model(x, t, dataclasses.replace(b, drop_text=drop, drop_camera=drop))
    torch.testing.assert_close(va, vb)
    # Dropping is per sample: sample 1 keeps its condition.
    mixed = model(x, t, dataclasses.replace(a, drop_text=torch.tensor([True, False])))
    torch.testing.assert_close(mixed[1], model(x, t, a)[1])
    assert not torch.allclose(mixed[0], model(x, t, a)[0])


def test_unconditional_in_one_batch_equals_separate_passes(model):
    x, t = torch.randn(1, 4, 2, 8, 8), torch.rand(1)
    cond = _cond(1, length=5)
    both = model(
        x.repeat(2, 1, 1, 1, 1), t.repeat(2), SVTCondition.cat([cond, cond.unconditional()])
    )
    torch.testing.assert_close(both[:1], model(x, t, cond), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(both[1:], model(x, t, cond.unconditional()), atol=1e-5, rtol=1e-5)


def test_per_frame_time_equals_clip_time_when_uniform(model):
    x, cond = torch.randn(2, 4, 3, 8, 8), _cond()
    t = torch.tensor([0.3, 0.7])
    torch.testing.assert_close(model(x, t, cond), model(x, t[:, None].expand(2, 3), cond))


def test_condition_dropout_is_seeded():
    cond = _cond(batch=64)
    a = cond.with_dropout(p_text=0.5, generator=torch.Generator().manual_seed(3))
    b = cond.with_dropout(p_text=0.5, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a.drop_text, b.drop_text)
    assert 10 < int(a.drop_text.sum()) < 54


def test_backward_reaches_every_parameter(model):
    x = torch.randn(2, 4, 2, 8, 8)
    cond = dataclasses.replace(_cond(frames=2), identity=torch.randn(2, 1, 384))
    model(x, torch.rand(2), cond).square().mean().backward()
    # The null embeddings are only used when a condition is dropped or absent.
    unused = {
        "null_text_token",
        "null_text_pooled",
        "null_camera",
        "null_camera_path",
        "null_identity",
    }
    missing = [n for n, p in model.named_parameters() if p.grad is None and n not in unused]
    assert missing == []


def test_bad_latent_size_is_a_clear_error(model):
    with pytest.raises(ValueError, match="not divisible"):
        model(torch.randn(1, 4, 2, 7, 8), torch.rand(1), _cond(1))


@pytest.mark.parametrize(
    ("name", "millions"), [("tiny", (0.2, 0.5)), ("small", (11, 14)), ("base", (38, 44))]
)
def test_presets_build_the_model_sizes_they_are_named_for(name, millions):
    config = PRESETS[name]
    # The rotary split needs an even head width of at least 6 (see SVTConfig).
    assert config.dim % config.heads == 0
    assert config.head_dim % 2 == 0 and config.head_dim >= 6
    parameters = sum(p.numel() for p in SVT(config).parameters()) / 1e6
    assert millions[0] <= parameters <= millions[1], f"{name}: {parameters:.2f}M parameters"
