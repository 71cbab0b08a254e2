"""Training identities on the tiny preset: learning, exact resume, loadable export, dropout."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from generation.engine import weights as engine_weights
from generation.engine.svt_pipeline import build_pipeline
from generation.engine.train_presets import TRAIN_PRESETS
from generation.engine.training.svt import (
    HashTextEncoder,
    Trainer,
    condition_dropout,
    export_weights,
    flow_loss,
    render_batch,
)
from generation.engine.transformer import SVTCondition
from generation.engine.vae import CausalVAE

TINY = TRAIN_PRESETS["tiny"]


def _vae() -> CausalVAE:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return CausalVAE(TINY.engine.vae)


def _fixed_batch(b: int = 4) -> tuple[torch.Tensor, SVTCondition]:
    """Structured latents (smooth ramps, a learnable signal) and their text + camera condition."""
    g = torch.Generator().manual_seed(3)
    grid = torch.linspace(-1, 1, 8)
    ramp = grid[None, :, None] + grid[None, None, :]  # (1, 8, 8)
    z = torch.randn(b, 4, 1, 1, 1, generator=g) * ramp[None, None]  # (B, 4, 1, 8, 8)
    z = z.expand(b, 4, 5, 8, 8).contiguous()  # (B, 4, 5, 8, 8)
    text = HashTextEncoder().encode([f"a red ball number {i}" for i in range(b)])
    cond = SVTCondition(
        text_tokens=text.tokens,
        text_mask=text.mask,
        text_pooled=text.pooled,
        camera=torch.randn(b, 16, generator=g),
        camera_path=torch.randn(b, 5, 13, generator=g),
    )
    return z, cond


def _eval_loss(trainer: Trainer, z: torch.Tensor, cond: SVTCondition) -> float:
    trainer.model.eval()
    with torch.no_grad():
        return float(flow_loss(trainer.model, z, cond, generator=torch.Generator().manual_seed(9)))


def test_training_steps_reduce_the_loss_on_a_fixed_batch() -> None:
    preset = dataclasses.replace(TINY, lr=3e-3)
    trainer = Trainer(preset, _vae(), seed=0)
    z, cond = _fixed_batch()
    before = _eval_loss(trainer, z, cond)
    for _ in range(25):
        trainer.train_step(z, cond)
    after = _eval_loss(trainer, z, cond)
    assert trainer.step == 25
    assert after < 0.7 * before


def test_resume_continues_from_the_same_step_with_the_same_next_loss(tmp_path) -> None:
    z, cond = _fixed_batch()
    a = Trainer(TINY, _vae(), seed=5)
    for _ in range(3):
        a.train_step(z, cond)
    a.save(tmp_path)
    expected = a.train_step(z, cond)

    b = Trainer(TINY, _vae(), seed=5)
    b.load(tmp_path)
    assert b.step == 3
    assert b.train_step(z, cond) == expected
    for pa, pb in zip(a.model.parameters(), b.model.parameters(), strict=True):
        assert torch.equal(pa, pb)
    for ea, eb in zip(a.ema.parameters(), b.ema.parameters(), strict=True):
        assert torch.equal(ea, eb)


def test_exported_checkpoint_loads_with_build_pipeline(tmp_path) -> None:
    z, cond = _fixed_batch()
    vae = _vae()
    trainer = Trainer(TINY, vae, seed=1)
    for _ in range(2):
        trainer.train_step(z, cond)
    run_dir, dest = tmp_path / "run", tmp_path / "weights"
    trainer.save(run_dir)
    engine_weights.save_weights(vae, vae.cfg, run_dir, "vae")
    export_weights(run_dir, dest)

    pipe = build_pipeline("tiny", dest, text_encoder=HashTextEncoder())
    for loaded, ema in zip(pipe.transformer.parameters(), trainer.ema.parameters(), strict=True):
        assert torch.equal(loaded, ema)
    # The EMA is not the raw model after a step with a non-zero rate: the export took the EMA.
    raw = dict(trainer.model.named_parameters())["proj_out.weight"]
    assert not torch.equal(dict(pipe.transformer.named_parameters())["proj_out.weight"], raw)


def test_condition_dropout_nulls_at_the_configured_rates() -> None:
    b = 4000
    cond = SVTCondition(
        text_tokens=torch.zeros(b, 2, 384),
        text_mask=torch.ones(b, 2, dtype=torch.bool),
        text_pooled=torch.zeros(b, 384),
    )
    dropped = condition_dropout(
        cond, p_text=0.1, p_camera=0.3, generator=torch.Generator().manual_seed(0)
    )
    assert dropped.drop_text.float().mean().item() == pytest.approx(0.1, abs=0.02)
    assert dropped.drop_camera.float().mean().item() == pytest.approx(0.3, abs=0.03)
    assert bool(dropped.drop_identity.all())  # identity is not trained by this loop
    # Text and camera are dropped independently.
    both = (dropped.drop_text & dropped.drop_camera).float().mean().item()
    assert both == pytest.approx(0.03, abs=0.012)


def test_dropped_rows_see_exactly_the_null_condition() -> None:
    trainer = Trainer(TINY, _vae(), seed=0)
    model = trainer.model.eval()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(2)
        for p in model.parameters():  # zero-initialised outputs would make any check vacuous
            torch.nn.init.normal_(p, std=0.05)
    z, cond = _fixed_batch()
    dropped = condition_dropout(
        cond, p_text=0.5, p_camera=0.5, generator=torch.Generator().manual_seed(1)
    )
    null = cond.unconditional(drop=("text", "camera", "identity"))
    t = torch.full((z.shape[0],), 0.5)
    with torch.no_grad():
        v_drop = model(z, t, dropped)
        v_null = model(z, t, null)
        v_cond = model(z, t, dataclasses.replace(dropped, drop_text=None, drop_camera=None))
    both = dropped.drop_text & dropped.drop_camera
    none = ~dropped.drop_text & ~dropped.drop_camera
    assert bool(both.any()) and bool(none.any())
    torch.testing.assert_close(v_drop[both], v_null[both])
    assert not torch.allclose(v_drop[both], v_cond[both])
    torch.testing.assert_close(v_drop[none], v_cond[none])


def test_world_batches_are_a_pure_function_of_their_index() -> None:
    engine = TINY.engine
    a = render_batch(engine, 7, 1, aspects=("1:1", "16:9"))
    b = render_batch(engine, 7, 1, aspects=("1:1", "16:9"))
    assert torch.equal(a.video, b.video) and a.captions == b.captions
    t = engine.frames
    assert a.video.shape[1] == t and a.video.dtype == torch.uint8
    assert a.camera_path.shape == (1, engine.vae.latent_shape(t, 8, 8)[0], 13)
