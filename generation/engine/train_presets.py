"""Training presets: an :class:`EnginePreset` plus the optimisation knobs a run needs.

``train`` is sized for two shared CPU cores: a 4x-space / 2x-time VAE with 8 latent channels
(16/32/32 wide: bf16 fwd+bwd of 4 clips took 2.1 s against 16.5 s for 32/48/64, on a loaded
machine) and a 128-wide, 4-block SVT (1.8M parameters) on a 64x64 x 17-frame clip
(16 x 16 x 9 latent, 2 x 2 patches: 576 tokens); a 192-wide 6-block SVT took 9-28 s per
batch-16 step there, too few steps for a CPU session. 64 x 64 is the smallest
size the camera-conformance metric was validated at (bench/results/camera_conformance.md).
``tiny`` reuses the engine's tiny preset so unit tests train in milliseconds.

The ``train`` engine preset itself lives in ``presets.PRESETS`` beside the others, so
``build_pipeline("train", "weights/builtin/train")`` loads the shipped weights.
"""

from __future__ import annotations

from dataclasses import dataclass

from generation.engine import presets as engine_presets


@dataclass(frozen=True)
class TrainPreset:
    """What a training run builds and how it optimises.

    Args:
        engine: the VAE + SVT pairing and the native clip (fps, area, frames).
        batch: clips per transformer step.
        lr: AdamW learning rate of the transformer (after a linear warm-up).
        warmup_steps: warm-up length.
        vae_batch: clips per VAE step.
        vae_lr: AdamW learning rate of the VAE.
        kl_weight: weight of the VAE's KL term (small: the latent is a compression, not a prior).
        p_text, p_camera: condition dropout rates (classifier-free guidance).
        p_known: probability that a training clip has its first latent frame(s) given clean
            (image-to-video, extension).
        ema_decay: EMA decay of the exported transformer weights.
        aspects: aspect ratios drawn per batch (one aspect per batch: a batch shares its grid).
    """

    engine: engine_presets.EnginePreset
    batch: int = 16
    lr: float = 3e-4
    warmup_steps: int = 200
    vae_batch: int = 8
    vae_lr: float = 1e-3
    kl_weight: float = 1e-6
    p_text: float = 0.1
    p_camera: float = 0.1
    p_known: float = 0.3
    ema_decay: float = 0.998
    aspects: tuple[str, ...] = tuple(engine_presets.ASPECTS)

    @property
    def name(self) -> str:
        return self.engine.name


TRAIN_ENGINE = engine_presets.PRESETS["train"]

TRAIN_PRESETS: dict[str, TrainPreset] = {
    "tiny": TrainPreset(engine_presets.PRESETS["tiny"], batch=4, vae_batch=2, warmup_steps=0),
    # Short CPU runs: a higher rate and a short warm-up (a few hundred steps in total).
    "train": TrainPreset(TRAIN_ENGINE, batch=8, lr=5e-4, warmup_steps=50, vae_batch=4),
    "small": TrainPreset(engine_presets.PRESETS["small"], batch=8, vae_batch=4),
}
