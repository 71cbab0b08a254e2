"""Train the built-in model on the synthetic world: a VAE stage, then the SVT (rectified flow).

python -m generation.engine.training.svt --preset train --minutes 60 --device cpu --out var/train/train

* Data: world clips rendered on the fly by DataLoader worker processes (one thread each;
  RUNTIME.md measured two 1-thread render processes beating one 2-thread process), one aspect
  per batch so every batch shares a token grid (aspect buckets). Batch ``i`` is a pure function
  of (seed, i), and so is every random draw of step ``i`` (time, noise, dropout), so a resumed
  run repeats exactly what an uninterrupted one would have done without saving RNG streams.
* VAE stage: reconstruction MSE + a small KL, until its share of the time is spent; then the
  latent scale is measured on data and written into the saved config.
* SVT stage: ``x_t = (1 - t) z + t n`` with logit-normal ``t``, loss ``|v(x_t) - (n - z)|^2``;
  text and camera dropped independently (classifier-free guidance); with probability
  ``p_known`` the first one or two latent frames are given clean at ``t = 0`` and left out of
  the loss (image-to-video and extension); bf16 autocast; EMA of the weights.
* Checkpoints (``--out``): ``transformer.*``/``vae.*`` in the ``weights.py`` layout,
  ``transformer_ema.*``, and ``trainer.pt`` (optimizer, step, loss history). ``export_weights``
  writes the directory ``build_pipeline`` reads (EMA transformer + VAE).
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import dataclasses
import json
import math
import os
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from generation.engine import weights as engine_weights
from generation.engine.camera_features import camera_features, to_latent_frames
from generation.engine.presets import EnginePreset
from generation.engine.schedules import logit_normal_t, noise_to, velocity_target
from generation.engine.train_presets import TRAIN_PRESETS, TrainPreset
from generation.engine.transformer import SVT, SVTCondition, SVTConfig
from generation.engine.vae import CausalVAE, VAEConfig
from generation.engine.world.dataset import WorldDatasetConfig, render_sample
from generation.engine.world.renderer import RenderConfig

TRAIN_SEED = 1
"""World seed of training clips. Evaluation uses other seeds (bench/quality.py: 9_001)."""

# Motion blur with 2 sub-frames keeps the shutter visible at a third less render time than 3.
TRAIN_RENDER = RenderConfig(motion_blur_samples=2)


# -- data ------------------------------------------------------------------------------------


@dataclass
class ClipBatch:
    """One batch of world clips of one aspect.

    Args:
        video: uint8 (B, T, H, W, 3).
        captions: B prompts.
        camera: (B, CAMERA_DIM) per-clip camera features.
        camera_path: (B, T', CAMERA_PATH_DIM) per latent frame.
        index: batch index (the data position a resumed run continues from).
    """

    video: Tensor
    captions: list[str]
    camera: Tensor
    camera_path: Tensor
    index: int


def render_batch(
    engine: EnginePreset,
    index: int,
    batch: int,
    *,
    seed: int = TRAIN_SEED,
    aspects: tuple[str, ...] = ("1:1",),
    render: RenderConfig = TRAIN_RENDER,
) -> ClipBatch:
    """Batch ``index`` of the world at the preset's native clip: a pure function of its inputs.

    Args:
        engine: gives fps, frame count and the native size of the drawn aspect.
        index: batch number; clip ``j`` is world sample ``index * batch + j`` of ``seed``.
        aspects: the aspect is drawn per batch from these.
    """
    g = torch.Generator().manual_seed(seed * 7_919 + index)
    aspect = aspects[int(torch.randint(0, len(aspects), (), generator=g))]
    size = engine.native_size(aspect)
    cfg = WorldDatasetConfig(
        seed=seed,
        num_frames=engine.frames,
        fps=engine.fps,
        size=size,
        aspect=aspect,
        render=render,
    )
    videos, captions, clips, paths = [], [], [], []
    for j in range(batch):
        sample = render_sample(cfg, index * batch + j)
        feats = camera_features(sample["spec"], engine.frames, engine.fps)
        videos.append(sample["video"])
        captions.append(sample["caption"])
        clips.append(feats.clip)
        paths.append(to_latent_frames(feats.path, engine.vae.temporal_factor))
    return ClipBatch(
        video=torch.stack(videos),  # (B, T, H, W, 3)
        captions=captions,
        camera=torch.stack(clips),  # (B, 16)
        camera_path=torch.stack(paths),  # (B, T', 13)
        index=index,
    )


class WorldBatches(IterableDataset):
    """Batches ``start, start + 1, ...``; worker ``k`` of ``n`` renders every n-th one.

    A DataLoader over several workers yields them round-robin, i.e. in index order.
    """

    def __init__(
        self, engine: EnginePreset, batch: int, *, start: int, seed: int, aspects: tuple[str, ...]
    ) -> None:
        self.engine, self.batch, self.start, self.seed, self.aspects = (
            engine,
            batch,
            start,
            seed,
            aspects,
        )

    def __iter__(self) -> Iterator[ClipBatch]:
        info = get_worker_info()
        k, n = (0, 1) if info is None else (info.id, info.num_workers)
        index = self.start + k
        while True:
            yield render_batch(self.engine, index, self.batch, seed=self.seed, aspects=self.aspects)
            index += n


def _worker_init(_: int) -> None:
    torch.set_num_threads(1)
    # The renderer is 10-30x slower on fp32 denormals (RUNTIME.md).
    torch.set_flush_denormal(True)


def world_batches(
    engine: EnginePreset,
    batch: int,
    *,
    start: int = 0,
    seed: int = TRAIN_SEED,
    aspects: tuple[str, ...] = ("1:1",),
    workers: int = 2,
) -> Iterator[ClipBatch]:
    """Endless batches from ``start``, rendered by ``workers`` processes (0: in this process)."""
    data = WorldBatches(engine, batch, start=start, seed=seed, aspects=aspects)
    if workers == 0:
        return iter(data)
    loader = DataLoader(
        data,
        batch_size=None,
        num_workers=workers,
        worker_init_fn=_worker_init,
        prefetch_factor=2,
        collate_fn=lambda b: b,
    )
    return iter(loader)


def to_model_pixels(video: Tensor) -> Tensor:
    """uint8 (B, T, H, W, 3) -> float32 (B, 3, T, H, W) in [-1, 1]."""
    return video.permute(0, 4, 1, 2, 3).float().div(127.5).sub(1.0)


# -- conditioning ----------------------------------------------------------------------------


class HashTextEncoder:
    """A deterministic stand-in for MiniLM (tests): each word maps to a fixed random vector.

    Args:
        dim: state width (the SVT's ``text_dim``).
    """

    def __init__(self, dim: int = 384) -> None:
        self.dim = dim

    def _vec(self, word: str) -> Tensor:
        seed = int.from_bytes(word.encode()[:8].ljust(8, b"\0"), "little") % (2**31)
        return torch.randn(self.dim, generator=torch.Generator().manual_seed(seed + len(word)))

    def encode(self, prompts: list[str]) -> Any:
        from generation.engine.text import TextBatch

        words = [p.lower().split() or [""] for p in prompts]
        length = max(len(w) for w in words)
        tokens = torch.zeros(len(prompts), length, self.dim)  # (B, L, D)
        mask = torch.zeros(len(prompts), length, dtype=torch.bool)  # (B, L)
        for i, ws in enumerate(words):
            for j, w in enumerate(ws):
                tokens[i, j] = self._vec(w)
            mask[i, : len(ws)] = True
        pooled = F.normalize(tokens.sum(1), dim=-1)  # (B, D)
        return TextBatch(tokens=tokens, mask=mask, pooled=pooled)


def batch_condition(batch: ClipBatch, text_encoder: Any, device: torch.device) -> SVTCondition:
    """The SVT condition of a batch (no dropout yet)."""
    text = text_encoder.encode(batch.captions)
    return SVTCondition(
        text_tokens=text.tokens.to(device),
        text_mask=text.mask.to(device),
        text_pooled=text.pooled.to(device),
        camera=batch.camera.to(device),
        camera_path=batch.camera_path.to(device),
    )


def condition_dropout(
    cond: SVTCondition, *, p_text: float, p_camera: float, generator: torch.Generator
) -> SVTCondition:
    """Training dropout of text and camera (identity is not trained here: always dropped)."""
    return cond.with_dropout(p_text=p_text, p_camera=p_camera, p_identity=1.0, generator=generator)


# -- losses ----------------------------------------------------------------------------------


def _autocast(device: torch.device, enabled: bool) -> contextlib.AbstractContextManager:
    if enabled:
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def flow_loss(
    model: SVT,
    z: Tensor,
    cond: SVTCondition,
    *,
    generator: torch.Generator,
    p_known: float = 0.0,
    autocast: bool = False,
) -> Tensor:
    """Rectified-flow loss on clean latents ``z`` (B, C, T', H', W').

    Times are logit-normal per clip; with probability ``p_known`` a clip's first one or two latent
    frames are given clean (time 0) and excluded from the loss, as image-to-video and extension
    present them at sampling time. All randomness comes from ``generator`` (CPU).

    Returns:
        scalar float32 loss (mean squared velocity error over the frames being denoised).
    """
    b, _, f = z.shape[:3]
    t = logit_normal_t(b, generator=generator).to(z.device)  # (B,)
    noise = torch.randn(z.shape, generator=generator).to(z.device)  # (B, C, T', H', W')
    known_n = torch.where(
        torch.rand(b, generator=generator) < p_known,
        torch.randint(1, 3, (b,), generator=generator),
        torch.zeros(b, dtype=torch.long),
    ).to(z.device)  # (B,) leading clean frames
    known_n = known_n.clamp(max=f - 1)
    known = torch.arange(f, device=z.device)[None] < known_n[:, None]  # (B, T')
    x_t = noise_to(z, noise, t)
    x_t = torch.where(known[:, None, :, None, None], z, x_t)
    t_frames = torch.where(known, 0.0, t[:, None].expand(b, f))  # (B, T')
    with _autocast(z.device, autocast):
        v = model(x_t, t_frames, cond).float()
    err = (v - velocity_target(z, noise)).pow(2).mean(dim=(1, 3, 4))  # (B, T')
    weight = (~known).float()
    return (err * weight).sum() / weight.sum().clamp(min=1.0)


def vae_loss(
    vae: CausalVAE, x: Tensor, *, kl_weight: float, generator: torch.Generator, autocast: bool
) -> tuple[Tensor, Tensor]:
    """(loss, reconstruction MSE) of pixels ``x`` (B, 3, T, H, W) in [-1, 1]."""
    with _autocast(x.device, autocast):
        mean, logvar = vae.encode_dist(x)
        eps = torch.randn(mean.shape, generator=generator).to(x.device)
        z = mean + (0.5 * logvar).exp() * eps
        rec = vae.decoder(z).float()
    mse = F.mse_loss(rec, x)
    kl = 0.5 * (mean.float().pow(2) + logvar.float().exp() - 1.0 - logvar.float()).mean()
    return mse + kl_weight * kl, mse


def psnr(a: Tensor, b: Tensor) -> float:
    """PSNR in dB of images in [-1, 1] (peak-to-peak 2)."""
    mse = F.mse_loss(a.float().clamp(-1, 1), b.float().clamp(-1, 1)).item()
    return 10 * math.log10(4.0 / max(mse, 1e-12))


# -- the trainer -----------------------------------------------------------------------------


@dataclass(frozen=True)
class RunConfig:
    """Args:
    preset: a :data:`TRAIN_PRESETS` name.
    out: checkpoint directory.
    minutes: wall time of this invocation (both stages).
    vae_minutes: VAE stage budget when the VAE is not trained yet.
    device: "cpu" or "cuda". threads: intra-op threads of the main process.
    workers: render processes. batch: overrides the preset's batch.
    autocast: bf16 autocast (4x faster matmuls on this CPU).
    seed: training world seed; also seeds the per-step random draws.
    checkpoint_minutes: save interval. sample_minutes: contact strip interval (0 = never).
    max_steps: stop after this many SVT steps in total (tests; None = time only).
    """

    preset: str = "train"
    out: str = "var/train/train"
    minutes: float = 10.0
    vae_minutes: float = 8.0
    device: str = "cpu"
    threads: int = 1
    workers: int = 2
    batch: int | None = None
    autocast: bool = True
    seed: int = TRAIN_SEED
    checkpoint_minutes: float = 5.0
    sample_minutes: float = 10.0
    max_steps: int | None = None


class Trainer:
    """The SVT stage: model, EMA, optimizer and step, resumable from ``out``.

    Args:
        preset: what to build and the optimisation knobs.
        vae: a trained, frozen VAE (its config's scale normalises latents).
        device: where everything runs.
        seed: seeds initialisation and every per-step draw.
        autocast: bf16 autocast.
    """

    def __init__(
        self,
        preset: TrainPreset,
        vae: CausalVAE,
        *,
        device: torch.device | str = "cpu",
        seed: int = TRAIN_SEED,
        autocast: bool = False,
    ) -> None:
        self.preset = preset
        self.device = torch.device(device)
        self.seed = seed
        self.autocast = autocast
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.model = SVT(preset.engine.svt).to(self.device)
        self.ema = copy.deepcopy(self.model).requires_grad_(False)
        self.vae = vae.to(self.device).eval().requires_grad_(False)
        self.optimizer = torch.optim.AdamW(
            self.model.parameters(), lr=preset.lr, betas=(0.9, 0.99), weight_decay=0.0
        )
        self.step = 0
        self.history: list[dict[str, float]] = []

    def step_generator(self) -> torch.Generator:
        """The generator of every random draw of the current step."""
        return torch.Generator().manual_seed(self.seed * 1_000_003 + self.step)

    @torch.no_grad()
    def encode(self, video: Tensor) -> Tensor:
        """uint8 (B, T, H, W, 3) -> normalised latents (B, C, T', H', W') float32."""
        x = to_model_pixels(video).to(self.device)
        with _autocast(self.device, self.autocast):
            return self.vae.encode(x).float()

    def train_step(self, z: Tensor, cond: SVTCondition) -> float:
        """One optimisation step on latents ``z`` with condition ``cond``; returns the loss."""
        p = self.preset
        g = self.step_generator()
        lr = p.lr * min(1.0, (self.step + 1) / max(p.warmup_steps, 1))
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        cond = condition_dropout(cond, p_text=p.p_text, p_camera=p.p_camera, generator=g)
        self.model.train()
        loss = flow_loss(
            self.model, z, cond, generator=g, p_known=p.p_known, autocast=self.autocast
        )
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
        self.optimizer.step()
        # EMA warm-up (decay grows with the step) so a short run's EMA is not mostly the init.
        decay = min(p.ema_decay, (1 + self.step) / (10 + self.step))
        with torch.no_grad():
            for e, m in zip(self.ema.parameters(), self.model.parameters(), strict=True):
                e.lerp_(m, 1.0 - decay)
        self.step += 1
        return loss.item()

    def save(self, out: str | Path, *, metadata: dict[str, Any] | None = None) -> None:
        """Write model, EMA and optimizer state under ``out`` (atomically per file)."""
        out = Path(out)
        cfg = self.preset.engine.svt
        meta = {"step": self.step, **(metadata or {})}
        engine_weights.save_weights(self.model, cfg, out, "transformer", metadata=meta)
        engine_weights.save_weights(self.ema, cfg, out, "transformer_ema", metadata=meta)
        state = {
            "optimizer": self.optimizer.state_dict(),
            "step": self.step,
            "history": self.history,
        }
        tmp = out / "trainer.pt.tmp"
        torch.save(state, tmp)
        os.replace(tmp, out / "trainer.pt")

    def load(self, out: str | Path) -> None:
        """Resume from a directory written by :meth:`save`."""
        out = Path(out)
        engine_weights.load_weights(self.model, out, "transformer")
        engine_weights.load_weights(self.ema, out, "transformer_ema")
        state = torch.load(out / "trainer.pt", map_location=self.device, weights_only=False)
        self.optimizer.load_state_dict(state["optimizer"])
        self.step = int(state["step"])
        self.history = list(state["history"])

    def load_weights_only(self, weights_dir: str | Path) -> None:
        """Start from exported weights (``transformer.*``): model and EMA both take them."""
        _, meta = engine_weights.read_config(weights_dir, "transformer", SVTConfig)
        engine_weights.load_weights(self.model, weights_dir, "transformer")
        self.ema.load_state_dict(self.model.state_dict())
        self.step = int(meta.get("step", 0))


def has_checkpoint(out: str | Path) -> bool:
    return (Path(out) / "trainer.pt").is_file()


def train_vae(
    preset: TrainPreset,
    batches: Iterator[ClipBatch],
    *,
    seconds: float,
    device: torch.device,
    autocast: bool,
    seed: int = TRAIN_SEED,
    log: Callable[[dict[str, Any]], None] = print,
    max_steps: int | None = None,
) -> tuple[CausalVAE, dict[str, Any]]:
    """Train the VAE for ``seconds``, then measure its latent scale; returns (vae, report)."""
    cfg = preset.engine.vae
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        vae = CausalVAE(cfg).to(device)
    opt = torch.optim.AdamW(vae.parameters(), lr=preset.vae_lr, betas=(0.9, 0.99))
    started, step, mses = time.monotonic(), 0, []
    while time.monotonic() - started < seconds and (max_steps is None or step < max_steps):
        batch = next(batches)
        x = to_model_pixels(batch.video[: preset.vae_batch]).to(device)
        g = torch.Generator().manual_seed(seed * 1_000_003 + 500_000_000 + step)
        loss, mse = vae_loss(vae, x, kl_weight=preset.kl_weight, generator=g, autocast=autocast)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(vae.parameters(), 1.0)
        opt.step()
        step += 1
        mses.append(mse.item())
        if step % 25 == 0:
            elapsed = time.monotonic() - started
            log(
                {
                    "stage": "vae",
                    "step": step,
                    "mse": float(np.mean(mses[-25:])),
                    "psnr_train": 10 * math.log10(4.0 / max(np.mean(mses[-25:]), 1e-12)),
                    "steps_per_s": step / elapsed,
                }
            )
    vae.eval()
    # Latent normalisation: the transformer's noise is unit variance, so the data should be too.
    with torch.no_grad():
        zs = []
        for _ in range(3):
            x = to_model_pixels(next(batches).video[: preset.vae_batch]).to(device)
            with _autocast(device, autocast):
                zs.append(vae.encode_dist(x)[0].float())
        z = torch.cat([zz.flatten() for zz in zs])
        shift, std = float(z.mean()), float(z.std())
    scaled = dataclasses.replace(cfg, scale=1.0 / max(std, 1e-6), shift=shift)
    vae.cfg = scaled
    report = {
        "vae_steps": step,
        "vae_seconds": time.monotonic() - started,
        "vae_train_mse_last": float(np.mean(mses[-25:])) if mses else None,
        "latent_std": std,
        "latent_shift": shift,
    }
    return vae, report


@torch.no_grad()
def vae_psnr(vae: CausalVAE, batches: list[ClipBatch], *, autocast: bool) -> float:
    """Mean reconstruction PSNR (dB) of the VAE over ``batches`` (held-out clips)."""
    device = next(vae.parameters()).device
    values = []
    for b in batches:
        x = to_model_pixels(b.video).to(device)
        with _autocast(device, autocast):
            rec = vae(x).float()
        values.append(psnr(rec, x))
    return float(np.mean(values))


def export_weights(out: str | Path, dest: str | Path, *, dtype: torch.dtype | None = None) -> Path:
    """Copy a run's EMA transformer and VAE to ``dest`` as ``transformer.*`` and ``vae.*``.

    Args:
        out: the run directory. dest: the weights directory to write.
        dtype: store floats in this dtype (bf16 halves the files; loading casts back).
    """
    out, dest = Path(out), Path(dest)
    svt_cfg, meta = engine_weights.read_config(out, "transformer_ema", SVTConfig)
    vae_cfg, vae_meta = engine_weights.read_config(out, "vae", VAEConfig)
    svt = engine_weights.load_weights(SVT(svt_cfg), out, "transformer_ema")
    vae = engine_weights.load_weights(CausalVAE(vae_cfg), out, "vae")
    engine_weights.save_weights(svt, svt_cfg, dest, "transformer", metadata=meta, dtype=dtype)
    engine_weights.save_weights(vae, vae_cfg, dest, "vae", metadata=vae_meta, dtype=dtype)
    return dest


def build_trained_pipeline(
    weights_dir: str | Path,
    preset: str = "train",
    *,
    device: torch.device | str = "cpu",
    text_encoder: Any = None,
    autocast: bool = True,
) -> Any:
    """``build_pipeline`` for a training preset's weights, with bf16 autocast on by default
    (how the trainer samples)."""
    from generation.engine.svt_pipeline import build_pipeline

    return build_pipeline(
        TRAIN_PRESETS[preset].engine.name,
        weights_dir,
        device=device,
        text_encoder=text_encoder,
        autocast=autocast,
    )


def sample_strip(trainer: Trainer, text_encoder: Any, path: Path, *, steps: int = 12) -> None:
    """Contact strip of the EMA model on two held-out world clips: ground truth above each."""
    from PIL import Image

    from generation.engine.svt_pipeline import GenerationRequest, VideoPipeline

    engine = dataclasses.replace(trainer.preset.engine, vae=trainer.vae.cfg)
    pipe = VideoPipeline(
        engine, copy.deepcopy(trainer.ema), trainer.vae, text_encoder, autocast=trainer.autocast
    )
    rows = []
    gt = render_batch(engine, 0, 2, seed=9_001, aspects=("1:1",))
    for i in range(2):
        spec = gt.captions[i]
        res = pipe(
            GenerationRequest(
                prompt=spec,
                seed=i,
                steps=steps,
                aspect="1:1",
                camera=render_sample(
                    WorldDatasetConfig(
                        seed=9_001,
                        num_frames=engine.frames,
                        fps=engine.fps,
                        size=engine.native_size("1:1"),
                        aspect="1:1",
                        render=TRAIN_RENDER,
                    ),
                    i,
                )["spec"],
                guidance_scale=3.0,
                guidance_drop=("text", "camera"),
            )
        )
        picks = np.linspace(0, engine.frames - 1, 6).round().astype(int)
        rows.append(np.concatenate([gt.video[i][j].numpy() for j in picks], axis=1))
        rows.append(np.concatenate([res.frames[j].numpy() for j in picks], axis=1))
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.concatenate(rows, axis=0)).save(path)


def run(config: RunConfig, *, text_encoder: Any = None, log_path: Path | None = None) -> Trainer:
    """Train (or resume) for ``config.minutes``; checkpoints and logs under ``config.out``."""
    preset = TRAIN_PRESETS[config.preset]
    if config.batch:
        preset = dataclasses.replace(preset, batch=config.batch)
    device = torch.device(config.device)
    torch.set_num_threads(config.threads)
    torch.set_flush_denormal(True)
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    log_path = log_path or out / "log.jsonl"
    deadline = time.monotonic() + 60 * config.minutes

    def log(row: dict[str, Any]) -> None:
        row = {"time": round(time.time(), 1), **row}
        with log_path.open("a") as fh:
            fh.write(json.dumps(row) + "\n")
        print(json.dumps(row), flush=True)

    stop = {"flag": False}

    def on_signal(signum: int, _frame: Any) -> None:
        stop["flag"] = True

    with contextlib.suppress(ValueError):  # only the main thread may set handlers
        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)

    if text_encoder is None:
        from generation.engine.text import load_text_encoder

        text_encoder = load_text_encoder(str(device))

    # VAE stage.
    if not engine_weights.has_weights(out, "vae"):
        vae_batches = world_batches(
            preset.engine,
            preset.vae_batch,
            start=10_000_000,  # a separate index range from the SVT stage's batches
            seed=config.seed,
            aspects=preset.aspects,
            workers=config.workers,
        )
        seconds = min(60 * config.vae_minutes, max(deadline - time.monotonic(), 0))
        vae, report = train_vae(
            preset,
            vae_batches,
            seconds=seconds,
            device=device,
            autocast=config.autocast,
            seed=config.seed,
            log=log,
            max_steps=None if config.max_steps is None else 2 * config.max_steps,
        )
        held = [render_batch(preset.engine, i, 4, seed=9_001, aspects=("1:1",)) for i in range(2)]
        report["vae_psnr_heldout"] = vae_psnr(vae, held, autocast=config.autocast)
        log({"stage": "vae", "done": True, **report})
        engine_weights.save_weights(vae, vae.cfg, out, "vae", metadata=report)
        del vae_batches
    vae_cfg, _ = engine_weights.read_config(out, "vae", VAEConfig)
    vae = engine_weights.load_weights(CausalVAE(vae_cfg), out, "vae")

    trainer = Trainer(preset, vae, device=device, seed=config.seed, autocast=config.autocast)
    if has_checkpoint(out):
        trainer.load(out)
        log({"stage": "svt", "resumed_at": trainer.step})
    elif engine_weights.has_weights(out, "transformer"):
        # Exported weights (no optimizer state): continue from them with a fresh optimizer.
        trainer.load_weights_only(out)
        log({"stage": "svt", "resumed_from_weights_at": trainer.step})
    batches = world_batches(
        preset.engine,
        preset.batch,
        start=trainer.step,
        seed=config.seed,
        aspects=preset.aspects,
        workers=config.workers,
    )
    started = time.monotonic()
    last_ckpt = last_sample = started
    first_step, window, window_t = trainer.step, [], time.monotonic()
    data_wait = 0.0

    def checkpoint() -> None:
        trainer.save(out, metadata={"preset": preset.name, "device": config.device})

    while time.monotonic() < deadline and not stop["flag"]:
        if config.max_steps is not None and trainer.step >= config.max_steps:
            break
        t0 = time.monotonic()
        batch = next(batches)
        data_wait += time.monotonic() - t0
        if batch.index != trainer.step:
            raise RuntimeError(f"data out of order: batch {batch.index} at step {trainer.step}")
        z = trainer.encode(batch.video)
        cond = batch_condition(batch, text_encoder, device)
        window.append(trainer.train_step(z, cond))
        if len(window) == 25:
            now = time.monotonic()
            row = {
                "stage": "svt",
                "step": trainer.step,
                "loss": float(np.mean(window)),
                "steps_per_s": 25 / (now - window_t),
                "clips_per_s": 25 * preset.batch / (now - window_t),
                "data_wait_frac": data_wait / (now - window_t),
                "elapsed_min": (now - started) / 60,
            }
            trainer.history.append({"step": trainer.step, "loss": row["loss"]})
            log(row)
            window, window_t, data_wait = [], now, 0.0
        now = time.monotonic()
        if now - last_ckpt > 60 * config.checkpoint_minutes:
            checkpoint()
            last_ckpt = now
        if config.sample_minutes and now - last_sample > 60 * config.sample_minutes:
            sample_strip(trainer, text_encoder, out / "samples" / f"step{trainer.step:06d}.png")
            last_sample = now
    checkpoint()
    log(
        {
            "stage": "svt",
            "done": True,
            "step": trainer.step,
            "steps_this_run": trainer.step - first_step,
            "minutes_this_run": (time.monotonic() - started) / 60,
        }
    )
    return trainer


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--preset", default="train", choices=sorted(TRAIN_PRESETS))
    ap.add_argument("--minutes", type=float, required=True)
    ap.add_argument("--vae-minutes", type=float, default=8.0)
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--out", default=None, help="run directory (default var/train/<preset>)")
    ap.add_argument("--resume", default=None, help="copy this run directory into --out first")
    ap.add_argument("--batch", type=int, default=None)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--no-autocast", action="store_true")
    ap.add_argument("--sample-minutes", type=float, default=10.0)
    ap.add_argument("--max-steps", type=int, default=None)
    ap.add_argument("--export", default=None, help="after training, export weights here")
    args = ap.parse_args(argv)
    out = Path(args.out or f"var/train/{args.preset}")
    if args.resume and Path(args.resume).resolve() != out.resolve():
        import shutil

        # Resuming from the shipped weights (or another run) without touching the source.
        shutil.copytree(args.resume, out, dirs_exist_ok=True)
    config = RunConfig(
        preset=args.preset,
        out=str(out),
        minutes=args.minutes,
        vae_minutes=args.vae_minutes,
        device=args.device,
        threads=args.threads,
        workers=args.workers,
        batch=args.batch,
        autocast=not args.no_autocast,
        sample_minutes=args.sample_minutes,
        max_steps=args.max_steps,
    )
    run(config)
    if args.export:
        export_weights(out, args.export)


if __name__ == "__main__":
    main()
