"""Character lock on diffusers backends: a peft LoRA on the transformer's attention projections,
trained on a character's reference frames, saved as a folder, loaded and unloaded per job (a
shot's two characters as two named peft adapters, their updates summed at their own weights).

Training uses the pipelines' own objective: rectified flow, where the transformer predicts
``noise - x0`` at ``x_t = (1 - s) x0 + s noise`` and timestep ``1000 s``, with ``s`` drawn through
the scheduler's shift. Each reference frame is a one-frame clip, encoded by the pipeline's VAE
and normalised as the pipeline normalises latents. The adapter starts at zero (``B = 0``), so an
untrained adapter changes nothing, and unloading leaves the base weights bit for bit as before.

An adapter folder holds ``pytorch_lora_weights.safetensors`` (diffusers' LoRA format, loadable
with ``pipe.load_lora_weights``) and ``adapter.json`` (what it was trained on and how).
"""

from __future__ import annotations

import contextlib
import json
import time
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import torch
from peft import LoraConfig
from peft.utils import get_peft_model_state_dict
from torch import Tensor

from generation.backends.base import ADAPTER_META, Adapter, CancelFn, TrainingProgressFn
from generation.backends.pipelines import LTXConditionPipeline, VideoPipeline
from generation.backends.stages import as_uint8
from generation.engine.sampling import SamplingCancelled

TARGET_MODULES = ("to_q", "to_k", "to_v", "to_out.0")
"""Attention projections of Wan's and LTX's transformer blocks (self and cross attention)."""
ADAPTER_NAME = "character"
WEIGHTS_FILE = "pytorch_lora_weights.safetensors"
META_FILE = ADAPTER_META


def _scheduler_shift(pipe: VideoPipeline) -> float:
    config = pipe.scheduler.config
    return float(config.get("shift") or config.get("flow_shift") or 1.0)


def _sigmas(n: int, shift: float, generator: torch.Generator) -> Tensor:
    u = torch.rand(n, generator=generator)
    return shift * u / (1 + (shift - 1) * u)  # (n,) in (0, 1), the scheduler's shifted times


def _encode_wan(pipe: VideoPipeline, pixels: Tensor) -> Tensor:
    """(N, 3, 1, H, W) in [-1, 1] -> (N, C, 1, h, w) normalised latents."""
    vae = pipe.vae
    latents = vae.encode(pixels.to(vae.dtype)).latent_dist.mode().float()
    c = latents.shape[1]
    mean = torch.tensor(vae.config.latents_mean, dtype=torch.float32).view(1, c, 1, 1, 1)
    std = torch.tensor(vae.config.latents_std, dtype=torch.float32).view(1, c, 1, 1, 1)
    return (latents - mean.to(latents.device)) / std.to(latents.device)


def _encode_ltx(pipe: LTXConditionPipeline, pixels: Tensor) -> Tensor:
    vae = pipe.vae
    latents = vae.encode(pixels.to(vae.dtype)).latent_dist.mode().float()
    return pipe._normalize_latents(
        latents, vae.latents_mean, vae.latents_std, vae.config.scaling_factor
    )  # (N, C, 1, h, w)


def _velocity(
    pipe: VideoPipeline, x_t: Tensor, sigma: Tensor, text: tuple[Tensor, Tensor | None]
) -> Tensor:
    """The transformer's prediction at `x_t` (N, C, 1, h, w), shaped like `x_t`."""
    transformer = pipe.transformer
    embeds, mask = text
    embeds = embeds.expand(x_t.shape[0], -1, -1)
    timestep = sigma * 1000.0  # (N,)
    dtype = transformer.dtype
    if isinstance(pipe, LTXConditionPipeline):
        if mask is None:
            raise ValueError("LTX conditions on the prompt's attention mask")
        n, _, f, h, w = x_t.shape
        p, pt = pipe.transformer_spatial_patch_size, pipe.transformer_temporal_patch_size
        packed = pipe._pack_latents(x_t, p, pt)  # (N, f*h*w, C)
        out = transformer(
            hidden_states=packed.to(dtype),
            encoder_hidden_states=embeds.to(dtype),
            timestep=timestep[:, None],
            encoder_attention_mask=mask.expand(n, -1),
            num_frames=f // pt,
            height=h // p,
            width=w // p,
            return_dict=False,
        )[0]
        return pipe._unpack_latents(out.float(), f // pt, h // p, w // p, p, pt)
    return transformer(
        hidden_states=x_t.to(dtype),
        timestep=timestep,
        encoder_hidden_states=embeds.to(dtype),
        return_dict=False,
    )[0].float()


def _text(pipe: VideoPipeline, prompt: str) -> tuple[Tensor, Tensor | None]:
    out = pipe.encode_prompt(prompt=prompt, do_classifier_free_guidance=False)
    if isinstance(pipe, LTXConditionPipeline):
        return out[0].detach(), out[1].detach()
    return out[0].detach(), None


def _running(losses: Sequence[float], window: int = 10) -> float:
    """The mean of the last `window` losses: what progress reports and ``loss_last`` records."""
    recent = losses[-window:]
    return sum(recent) / len(recent)


def train(
    pipe: VideoPipeline,
    images: Sequence[Tensor] | Tensor,
    prompt: str,
    out_dir: str | Path,
    *,
    steps: int = 300,
    rank: int = 16,
    learning_rate: float = 1e-4,
    batch_size: int = 1,
    size: tuple[int, int] | None = None,
    seed: int = 0,
    progress: TrainingProgressFn | None = None,
    is_cancelled: CancelFn | None = None,
    metadata: dict[str, Any] | None = None,
) -> Path:
    """Train a character adapter on `images` and save it to `out_dir`.

    Args:
        pipe: a Wan (text or image to video, VACE) or LTX condition pipeline.
        images: reference frames, uint8 (H, W, 3) each (or (N, H, W, 3)).
        prompt: the caption the character is trained under, e.g. "Mara, a red-haired pilot".
        out_dir: the adapter folder to write.
        steps, rank, learning_rate, batch_size: the optimisation.
        size: (height, width) frames are resized to; default: the first image's size, rounded
            down to the pipeline's spatial multiple.
        progress: ``progress(step, total, loss)`` after every step, ``loss`` the running mean
            of the last ten steps' losses.
        is_cancelled: polled after every step; cancelling leaves nothing written.
        metadata: extra fields for ``adapter.json`` (the backend it was trained for).

    Returns:
        `out_dir`. The pipeline's transformer is left without the adapter, as it was.
    """
    from generation.backends.stages import fit

    started = time.perf_counter()
    frames = [as_uint8(img, 3, "reference image") for img in images]
    if not frames:
        raise ValueError("a character adapter needs at least one reference image")
    transformer = pipe.transformer
    device = transformer.device
    multiple = 32 if isinstance(pipe, LTXConditionPipeline) else 16
    if size is None:
        h0, w0 = frames[0].shape[:2]
        size = (max(multiple, h0 // multiple * multiple), max(multiple, w0 // multiple * multiple))
    pixels = torch.stack([fit(f, size) for f in frames])  # (N, H, W, 3)
    pixels = pixels.permute(0, 3, 1, 2)[:, :, None].float().div(127.5).sub(1)  # (N, 3, 1, H, W)
    generator = torch.Generator().manual_seed(seed)

    with torch.no_grad():
        pixels = pixels.to(device)
        if isinstance(pipe, LTXConditionPipeline):
            latents = _encode_ltx(pipe, pixels)  # (N, C, 1, h, w)
        else:
            latents = _encode_wan(pipe, pixels)
        text = _text(pipe, prompt)

    config = LoraConfig(
        r=rank,
        lora_alpha=rank,
        init_lora_weights=True,
        target_modules=list(TARGET_MODULES),
    )
    was_training = transformer.training
    grads = {name: p.requires_grad for name, p in transformer.named_parameters()}
    transformer.requires_grad_(False)
    transformer.add_adapter(config, adapter_name=ADAPTER_NAME)
    params = [p for p in transformer.parameters() if p.requires_grad]
    for p in params:  # adapters train in float32 whatever the base dtype
        p.data = p.data.float()
    optimizer = torch.optim.AdamW(params, lr=learning_rate, weight_decay=0.0)
    shift = _scheduler_shift(pipe)
    losses: list[float] = []
    transformer.train()
    try:
        for step in range(1, steps + 1):
            pick = torch.randint(0, latents.shape[0], (batch_size,), generator=generator)
            x0 = latents[pick]
            noise = torch.randn(x0.shape, generator=generator).to(device)
            sigma = _sigmas(batch_size, shift, generator).to(device)
            s = sigma.view(-1, 1, 1, 1, 1)
            x_t = (1 - s) * x0 + s * noise
            with torch.autocast(
                device.type, enabled=transformer.dtype != torch.float32, dtype=transformer.dtype
            ):
                pred = _velocity(pipe, x_t, sigma, text)
            loss = torch.nn.functional.mse_loss(pred.float(), (noise - x0).float())
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
            if progress is not None:
                progress(step, steps, _running(losses))
            if is_cancelled is not None and is_cancelled():
                raise SamplingCancelled
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        state = get_peft_model_state_dict(transformer, adapter_name=ADAPTER_NAME)
        type(pipe).save_lora_weights(
            out, transformer_lora_layers=state, weight_name=WEIGHTS_FILE, safe_serialization=True
        )
        meta = {
            "prompt": prompt,
            "pipeline": type(pipe).__name__,
            "transformer": type(transformer).__name__,
            "rank": rank,
            "target_modules": list(TARGET_MODULES),
            "steps": steps,
            "learning_rate": learning_rate,
            "batch_size": batch_size,
            "size": list(size),
            "references": len(frames),
            "seed": seed,
            "loss_first": round(losses[0], 6),
            "loss_last": round(_running(losses), 6),
            "seconds": round(time.perf_counter() - started, 3),
            **(metadata or {}),
        }
        (out / META_FILE).write_text(json.dumps(meta, indent=2, sort_keys=True))
        return out
    finally:
        transformer.unload_lora()  # removes peft's wrappers too, not only the adapter
        for name, p in transformer.named_parameters():
            p.requires_grad_(grads.get(name, False))
        transformer.train(was_training)


def describe(adapters: Sequence[Adapter]) -> list[dict[str, Any]]:
    """What the recipe records about each adapter applied."""
    described = []
    for adapter in adapters:
        meta_path = adapter.path / META_FILE
        meta = json.loads(meta_path.read_text()) if meta_path.is_file() else {}
        described.append(
            {
                "path": str(adapter.path),
                "scale": adapter.scale,
                "prompt": meta.get("prompt"),
                "rank": meta.get("rank"),
            }
        )
    return described


@contextlib.contextmanager
def applied(pipes: Sequence[VideoPipeline], adapters: Sequence[Adapter]) -> Iterator[None]:
    """Load the adapters into every distinct transformer of `pipes` for the block, each under
    its own peft adapter name and at its own weight (``set_adapters`` sums their updates), and
    remove them all after (also when the block raises). No adapters: nothing happens."""
    if not adapters:
        yield
        return
    for adapter in adapters:
        if not (adapter.path / WEIGHTS_FILE).is_file():
            raise FileNotFoundError(f"character adapter {adapter.path} has no {WEIGHTS_FILE}")
    names = [f"{ADAPTER_NAME}_{i}" for i in range(len(adapters))]
    loaded: list[VideoPipeline] = []
    seen: set[int] = set()
    try:
        for pipe in pipes:
            if id(pipe.transformer) in seen:
                continue
            seen.add(id(pipe.transformer))
            loaded.append(pipe)
            with warnings.catch_warnings():
                # Two characters are two adapters on purpose; peft warns at any second one.
                warnings.filterwarnings("ignore", "Already found a `peft_config`", UserWarning)
                for name, adapter in zip(names, adapters, strict=True):
                    pipe.load_lora_weights(
                        adapter.path, weight_name=WEIGHTS_FILE, adapter_name=name
                    )
            pipe.set_adapters(names, [a.scale for a in adapters])
        yield
    finally:
        for pipe in loaded:
            pipe.unload_lora_weights()  # the base layers come back as they were, unwrapped
