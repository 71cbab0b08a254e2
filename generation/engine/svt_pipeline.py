"""Text/image/video -> video: owns seeding, conditioning, classifier-free guidance, the sampler
and decoding. Models come in built; ``build_pipeline`` builds them from a preset (random weights
for ``tiny``, used by the studio's tests) or from a local weights directory.

Every mode is one flow-matching solve over a latent clip in which some latent frames may be
*known* (clean, held at ``t = 0``): image-to-video knows frame 0, keyframes know the first and
last, extension knows the leading frames taken from the end of the source clip. The velocity of
known frames is zeroed, so a solver leaves them exactly as injected. Restyle instead noises the
whole source latent to ``strength`` and solves from there.

Progress contract: ``progress(step, total)`` is called after each solver step with ``step`` in
``1..total``; it may raise :class:`~generation.engine.sampling.SamplingCancelled`, and
``is_cancelled()`` returning True raises it, stopping the solve before the next model call.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from torch import Tensor

from generation.engine import presets as engine_presets
from generation.engine import weights as engine_weights
from generation.engine.camera_features import CameraFeatures, camera_features, to_latent_frames
from generation.engine.modes import Mode, Quality
from generation.engine.sampling import EVALS_PER_STEP, SAMPLERS, SamplingCancelled
from generation.engine.schedules import noise_to, resolution_shift, shifted_timesteps
from generation.engine.transformer import SVT, SVTCondition, SVTConfig
from generation.engine.vae import CausalVAE, VAEConfig
from generation.engine.video_io import upscale

__all__ = [
    "QUALITY_MODES",
    "GenerationRequest",
    "GenerationResult",
    "Mode",
    "Quality",
    "QualityMode",
    "SamplingCancelled",
    "VideoPipeline",
    "build_pipeline",
]


@dataclass(frozen=True)
class QualityMode:
    """Solver budget of a quality tier: ``steps * EVALS_PER_STEP[sampler]`` model evaluations."""

    steps: int
    sampler: str

    @property
    def evaluations(self) -> int:
        return self.steps * EVALS_PER_STEP[self.sampler]


QUALITY_MODES: dict[Quality, QualityMode] = {
    # Flash: a third of Standard's evaluations (the seeds' "about 3x faster").
    Quality.FLASH: QualityMode(steps=8, sampler="euler"),
    Quality.STANDARD: QualityMode(steps=24, sampler="euler"),
    # Pro: twice Standard's evaluations, spent on a second-order solver (the seeds' "2x cost").
    Quality.PRO: QualityMode(steps=24, sampler="heun"),
}


class TextEncoderLike(Protocol):
    def encode(self, prompts: list[str]) -> Any: ...  # -> TextBatch (tokens, mask, pooled)


@dataclass(frozen=True)
class GenerationRequest:
    """One clip to generate. Images and videos are uint8 RGB, any size (resized to native).

    Args:
        prompt: what the clip shows.
        mode: see :class:`Mode`.
        quality: Flash / Standard / Pro (steps and sampler; ``steps``/``sampler`` override).
        seed: noise seed; the same request and seed give the same clip bit for bit on a CPU.
        aspect: "16:9", "2.39:1", "1:1", "9:16" or "4:3": picks the native size.
        num_frames: frames to produce (rounded up to ``1 + r k``; for extend, the new frames,
            rounded up to a multiple of ``r``). Default: the preset's clip length.
        height, width: native size override (multiples of the preset's pixel multiple).
        guidance_scale: classifier-free guidance weight (1 = no guidance, one pass per step).
        guidance_drop: conditions the unconditional branch drops: "text", "camera", "identity".
        negative_prompt: when set, the unconditional branch uses this prompt instead of the
            learned null text.
        image: (H, W, 3) first frame (image-to-video) or start keyframe.
        end_image: (H, W, 3) end keyframe.
        video: (T, H, W, 3) source clip (restyle, extend).
        strength: restyle noise level in [0, 1]: 0 returns the source, 1 ignores it.
        context_frames: extend: source frames to condition on (``1 + r m``; default ``1 + r``).
        camera: a CameraSpec, its dict form, or ready :class:`CameraFeatures`; None = free camera.
        identity: (N, identity_dim) identity embeddings of a locked character.
    """

    prompt: str
    mode: Mode = Mode.TEXT
    quality: Quality = Quality.STANDARD
    seed: int = 0
    aspect: str = "16:9"
    num_frames: int | None = None
    height: int | None = None
    width: int | None = None
    steps: int | None = None
    sampler: str | None = None
    shift: float | None = None
    guidance_scale: float = 5.0
    guidance_drop: tuple[str, ...] = ("text",)
    negative_prompt: str | None = None
    image: Tensor | np.ndarray | None = None
    end_image: Tensor | np.ndarray | None = None
    video: Tensor | np.ndarray | None = None
    strength: float = 0.6
    context_frames: int | None = None
    camera: Any = None
    identity: Tensor | None = None


@dataclass
class GenerationResult:
    """A generated clip at native resolution.

    Args:
        frames: uint8 (T, H, W, 3).
        fps: native frame rate.
        latents: (C, T', H', W') float32 final latents (extension chains and checks use them).
        metadata: the recipe facts: seed, preset, mode, quality, sampler, steps, evaluations,
            guidance, shift, native size and frames, context frames, seconds taken.
    """

    frames: Tensor
    fps: float
    latents: Tensor
    metadata: dict[str, Any] = field(default_factory=dict)


def _as_uint8_tensor(frames: Tensor | np.ndarray, ndim: int, name: str) -> Tensor:
    t = torch.from_numpy(np.ascontiguousarray(frames)) if isinstance(frames, np.ndarray) else frames
    if t.dtype != torch.uint8 or t.ndim != ndim or t.shape[-1] != 3:
        shape = "(H, W, 3)" if ndim == 3 else "(T, H, W, 3)"
        raise ValueError(f"{name} must be uint8 {shape}, got {t.dtype} {tuple(t.shape)}")
    return t.cpu()


class VideoPipeline:
    """Generation with a built SVT, VAE and text encoder.

    Args:
        preset: the engine preset the models were built for.
        transformer, vae: the models (eval mode is set here).
        text_encoder: anything with ``encode(list[str]) -> TextBatch``.
        device: where models and latents live.
        dtype: model dtype (float32 default; bfloat16 halves memory on a GPU).
        autocast: run the transformer and VAE under bf16 autocast (faster on CPUs with bf16
            matmul units; results then differ from float32 in the last bits).
    """

    def __init__(
        self,
        preset: engine_presets.EnginePreset,
        transformer: SVT,
        vae: CausalVAE,
        text_encoder: TextEncoderLike,
        *,
        device: torch.device | str = "cpu",
        dtype: torch.dtype = torch.float32,
        autocast: bool = False,
    ) -> None:
        self.preset = preset
        self.device = torch.device(device)
        self.dtype = dtype
        self.autocast = autocast
        self.transformer = transformer.to(self.device, dtype).eval()
        self.vae = vae.to(self.device, dtype).eval()
        self.text_encoder = text_encoder

    # -- helpers -------------------------------------------------------------------------

    def _amp(self) -> contextlib.AbstractContextManager:
        if self.autocast:
            return torch.autocast(self.device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def _to_pixels(self, frames: Tensor, size: tuple[int, int]) -> Tensor:
        """uint8 (T, H, W, 3) -> model input (1, 3, T, h, w) in [-1, 1] at the native size."""
        frames = upscale(frames, size)  # resizes up or down, uint8 bicubic
        x = frames.permute(3, 0, 1, 2).float().div(127.5).sub(1.0)  # (3, T, h, w)
        return x.unsqueeze(0).to(self.device, self.dtype)  # (1, 3, T, h, w)

    def _encode(self, frames: Tensor, size: tuple[int, int]) -> Tensor:
        with self._amp():
            return self.vae.encode(self._to_pixels(frames, size)).float()  # (1, C, T', h', w')

    def _text(self, prompt: str) -> tuple[Tensor, Tensor, Tensor]:
        batch = self.text_encoder.encode([prompt])
        return (
            batch.tokens.to(self.device, self.dtype),
            batch.mask.to(self.device),
            batch.pooled.to(self.device, self.dtype),
        )

    def _camera(self, camera: Any, frames: int, latent_frames: int) -> tuple[Tensor, Tensor] | None:
        if camera is None:
            return None
        feats = camera if isinstance(camera, CameraFeatures) else None
        if feats is None:
            feats = camera_features(camera, frames, self.preset.fps)
        path = feats.path
        if path.shape[0] != latent_frames:
            path = to_latent_frames(path, self.preset.vae.temporal_factor)
        if path.shape[0] != latent_frames:
            raise ValueError(f"camera path has {path.shape[0]} frames, the clip {latent_frames}")
        clip = feats.clip.to(self.device, self.dtype)[None]  # (1, CAMERA_DIM)
        return clip, path.to(self.device, self.dtype)[None]  # (1, T', CAMERA_PATH_DIM)

    # -- generation ----------------------------------------------------------------------

    @torch.inference_mode()
    def __call__(
        self,
        request: GenerationRequest,
        *,
        progress: Callable[[int, int], None] | None = None,
        is_cancelled: Callable[[], bool] | None = None,
    ) -> GenerationResult:
        """Generate one clip.

        Args:
            request: see :class:`GenerationRequest`.
            progress: ``progress(step, total)`` after each solver step; may raise
                :class:`SamplingCancelled` to stop.
            is_cancelled: polled before every step and after the last; True stops with
                :class:`SamplingCancelled`.

        Returns:
            a :class:`GenerationResult` at native resolution.
        """
        started = time.perf_counter()
        req = request
        mode = Mode(req.mode)
        p = self.preset
        vcfg = p.vae
        r = vcfg.temporal_factor
        quality = QUALITY_MODES[Quality(req.quality)]
        sampler_name = req.sampler or quality.sampler
        if sampler_name not in SAMPLERS:
            raise ValueError(f"sampler must be one of {', '.join(SAMPLERS)}, got {sampler_name!r}")
        steps = req.steps or quality.steps
        if not req.guidance_scale >= 1.0:
            raise ValueError(f"guidance_scale must be >= 1, got {req.guidance_scale}")

        # Native size and length.
        if (req.height is None) != (req.width is None):
            raise ValueError("give both height and width, or neither")
        size = (req.height, req.width) if req.height else p.native_size(req.aspect)
        m = p.pixel_multiple
        if size[0] % m or size[1] % m:
            raise ValueError(f"height and width must be multiples of {m}, got {size}")
        source = None
        if mode in (Mode.RESTYLE, Mode.EXTEND):
            if req.video is None:
                raise ValueError(f"{mode.value} needs a source video")
            source = _as_uint8_tensor(req.video, 4, "video")
        context = 0
        if mode is Mode.RESTYLE:
            assert source is not None
            # The source's own length, trimmed to the VAE's 1 + r k grid.
            frames = 1 + r * ((source.shape[0] - 1) // r)
            if req.num_frames is not None:
                frames = min(frames, p.fit_frames(req.num_frames))
            source = source[:frames]
        elif mode is Mode.EXTEND:
            assert source is not None
            context = req.context_frames or (1 + r)
            if (context - 1) % r or context > source.shape[0]:
                raise ValueError(
                    f"context_frames must be 1 + {r}m and at most the source's {source.shape[0]}"
                )
            new = req.num_frames or (p.frames - 1)
            new = r * -(-new // r)
            frames = context + new
        else:
            frames = p.fit_frames(req.num_frames or p.frames)
        latent_t, latent_h, latent_w = vcfg.latent_shape(frames, *size)
        shape = (1, vcfg.latent_channels, latent_t, latent_h, latent_w)

        # Conditions.
        tokens, mask, pooled = self._text(req.prompt)
        camera = self._camera(req.camera, frames, latent_t)
        identity = None
        if req.identity is not None:
            identity = req.identity.to(self.device, self.dtype)
            identity = identity[None] if identity.ndim == 2 else identity  # (1, N, D)
        cond = SVTCondition(
            text_tokens=tokens,
            text_mask=mask,
            text_pooled=pooled,
            camera=None if camera is None else camera[0],
            camera_path=None if camera is None else camera[1],
            identity=identity,
        )
        guided = req.guidance_scale > 1.0
        if guided:
            uncond = cond.unconditional(drop=tuple(req.guidance_drop))
            if req.negative_prompt is not None:
                n_tokens, n_mask, n_pooled = self._text(req.negative_prompt)
                uncond = SVTCondition(
                    text_tokens=n_tokens,
                    text_mask=n_mask,
                    text_pooled=n_pooled,
                    camera=uncond.camera,
                    camera_path=uncond.camera_path,
                    identity=uncond.identity,
                    drop_camera=uncond.drop_camera,
                    drop_identity=uncond.drop_identity,
                )
            cond_both = SVTCondition.cat([cond, uncond])

        # Noise: drawn on the CPU from the request's seed, so the clip does not depend on device.
        gen = torch.Generator(device="cpu").manual_seed(req.seed)
        noise = torch.randn(shape, generator=gen, dtype=torch.float32).to(self.device)

        known = torch.zeros(shape, device=self.device)  # (1, C, T', h', w') clean latents
        known_frames = torch.zeros(latent_t, dtype=torch.bool, device=self.device)  # (T',)
        start = 1.0
        if mode in (Mode.IMAGE, Mode.KEYFRAMES):
            if req.image is None:
                raise ValueError(f"{mode.value} needs an image (the first frame)")
            first = _as_uint8_tensor(req.image, 3, "image")[None]  # (1, H, W, 3)
            known[:, :, :1] = self._encode(first, size)  # frame 0 alone: a one-frame video
            known_frames[0] = True
        if mode is Mode.KEYFRAMES:
            if req.end_image is None:
                raise ValueError("keyframes needs an end_image")
            if latent_t < 2:
                raise ValueError("keyframes needs at least two latent frames")
            end = _as_uint8_tensor(req.end_image, 3, "end_image")[None]
            # The last latent frame covers r pixel frames; encode the end image held for them.
            held = self._encode(end.expand(1 + r, -1, -1, -1), size)  # (1, C, 2, h', w')
            known[:, :, -1:] = held[:, :, 1:]
            known_frames[-1] = True
        if mode is Mode.EXTEND:
            assert source is not None
            ctx_latent = self._encode(source[-context:], size)  # (1, C, 1 + m, h', w')
            known[:, :, : ctx_latent.shape[2]] = ctx_latent
            known_frames[: ctx_latent.shape[2]] = True

        if mode is Mode.RESTYLE:
            assert source is not None
            if not 0.0 <= req.strength <= 1.0:
                raise ValueError(f"strength must be in [0, 1], got {req.strength}")
            z0 = self._encode(source, size)
            start = req.strength
            x = noise_to(z0, noise, start) if start > 0 else z0
        else:
            frame_mask = known_frames.view(1, 1, -1, 1, 1)
            x = torch.where(frame_mask, known, noise)

        num_tokens = (
            latent_t
            * latent_h
            * latent_w
            // (
                self.transformer.cfg.patch_size[0]
                * self.transformer.cfg.patch_size[1]
                * self.transformer.cfg.patch_size[2]
            )
        )
        shift = req.shift if req.shift is not None else resolution_shift(num_tokens)
        ts = shifted_timesteps(steps, shift, start=start) if start > 0 else None

        frame_mask = known_frames.view(1, 1, -1, 1, 1)
        any_known = bool(known_frames.any())

        def velocity(x_t: Tensor, t: Tensor) -> Tensor:
            if is_cancelled is not None and is_cancelled():
                raise SamplingCancelled
            t_frames = t[:, None].expand(1, latent_t)  # (1, T')
            t_frames = torch.where(known_frames[None], 0.0, t_frames)  # known frames: clean
            x_in = torch.where(frame_mask, known, x_t) if any_known else x_t
            with self._amp():
                if guided:
                    v = self.transformer(
                        x_in.to(self.dtype).repeat(2, 1, 1, 1, 1),
                        t_frames.repeat(2, 1),
                        cond_both,
                    ).float()  # (2, C, T', h', w')
                    v_c, v_u = v[:1], v[1:]
                    v = v_u + req.guidance_scale * (v_c - v_u)
                else:
                    v = self.transformer(x_in.to(self.dtype), t_frames, cond).float()
            return torch.where(frame_mask, 0.0, v) if any_known else v

        def callback(step: int, total: int, x_t: Tensor, t: Tensor) -> None:
            if progress is not None:
                progress(step, total)
            if is_cancelled is not None and is_cancelled():
                raise SamplingCancelled

        if ts is not None:
            x = SAMPLERS[sampler_name](velocity, x, ts, callback=callback)
        with self._amp():
            video = self.vae.decode(x.to(self.dtype)).float()  # (1, 3, T, H, W)
        frames_u8 = (
            video[0].clamp(-1, 1).add(1).mul(127.5).round().to(torch.uint8).permute(1, 2, 3, 0)
        )  # (T, H, W, 3)
        if mode is Mode.EXTEND:
            frames_u8 = frames_u8[context:]
        taken = 0 if ts is None else len(ts) - 1
        evals = taken * EVALS_PER_STEP[sampler_name]
        metadata = {
            "preset": p.name,
            "mode": mode.value,
            "quality": Quality(req.quality).value,
            "seed": req.seed,
            "sampler": sampler_name,
            "steps": taken,
            "model_evaluations": evals,
            "forward_batch": 2 if guided else 1,
            "guidance_scale": req.guidance_scale,
            "shift": shift,
            "native_height": size[0],
            "native_width": size[1],
            "native_frames": int(frames_u8.shape[0]),
            "fps": p.fps,
            "context_frames": context,
            "strength": req.strength if mode is Mode.RESTYLE else None,
            "seconds": time.perf_counter() - started,
        }
        return GenerationResult(
            frames=frames_u8.cpu().contiguous(),
            fps=p.fps,
            latents=x[0].float().cpu(),
            metadata=metadata,
        )


def build_pipeline(
    preset: str = "tiny",
    weights_dir: str | Path | None = None,
    *,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
    text_encoder: TextEncoderLike | None = None,
    init_seed: int = 0,
    autocast: bool = False,
) -> VideoPipeline:
    """Build a :class:`VideoPipeline` from a preset and (optionally) local weights.

    Args:
        preset: "tiny", "small" or "base".
        weights_dir: directory with ``transformer.{safetensors,json}`` and
            ``vae.{safetensors,json}``; their configs override the preset's. None builds
            randomly initialised models, allowed only for ``tiny`` (tests, studio development).
        device, dtype: where and in which dtype the models run.
        text_encoder: defaults to the packaged MiniLM, loaded once per process.
        init_seed: seed of the random initialisation (``weights_dir`` None), so two builds of the
            tiny pipeline are identical.
        autocast: bf16 autocast for the models (see :class:`VideoPipeline`).

    Raises:
        WeightsNotInstalled: ``weights_dir`` lacks a file (the message names the path).
    """
    if preset not in engine_presets.PRESETS:
        raise ValueError(f"preset must be one of {', '.join(engine_presets.PRESETS)}")
    base = engine_presets.PRESETS[preset]
    if weights_dir is None:
        if preset != "tiny":
            raise engine_weights.WeightsNotInstalled(
                f"weights not installed for preset {preset!r}: pass weights_dir "
                "(random initialisation is only offered for 'tiny')"
            )
        # A private RNG stream: building a pipeline must not move the caller's global seed.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(init_seed)
            svt, vae_model = SVT(base.svt), CausalVAE(base.vae)
        spec = base
    else:
        svt_cfg, _ = engine_weights.read_config(weights_dir, "transformer", SVTConfig)
        vae_cfg, _ = engine_weights.read_config(weights_dir, "vae", VAEConfig)
        spec = engine_presets.EnginePreset(
            base.name, vae_cfg, svt_cfg, fps=base.fps, area=base.area, frames=base.frames
        )
        svt = engine_weights.load_weights(SVT(svt_cfg), weights_dir, "transformer")
        vae_model = engine_weights.load_weights(CausalVAE(vae_cfg), weights_dir, "vae")
    if text_encoder is None:
        from generation.engine.text import load_text_encoder

        text_encoder = load_text_encoder(str(torch.device(device)))
    return VideoPipeline(
        spec, svt, vae_model, text_encoder, device=device, dtype=dtype, autocast=autocast
    )
