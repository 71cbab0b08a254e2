"""Tiny random-weight configurations of the real diffusers and transformers classes, saved as
model folders under the names the catalog expects. Used by the backend tests, the studio's
job-path tests and ``bench/backends.py --tiny``; nothing is downloaded: tokenizers are built in
memory and every model from a config.
"""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"

import dataclasses
from pathlib import Path

import diffusers
import torch
from diffusers import (
    AutoencoderKLLTXVideo,
    AutoencoderKLWan,
    FlowMatchEulerDiscreteScheduler,
    LTXConditionPipeline,
    UniPCMultistepScheduler,
    WanImageToVideoPipeline,
    WanPipeline,
    WanTransformer3DModel,
    WanVACEPipeline,
    WanVACETransformer3DModel,
)
from transformers import (
    CLIPImageProcessor,
    CLIPVisionConfig,
    CLIPVisionModelWithProjection,
    DepthAnythingConfig,
    DepthAnythingForDepthEstimation,
    Dinov2Config,
    DPTImageProcessor,
    T5Config,
    T5EncoderModel,
    T5Tokenizer,
    UMT5Config,
    UMT5EncoderModel,
)

from generation.backends.catalog import BACKENDS, BackendSpec

DEPTH_FOLDER = "Depth-Anything-V2-Small-hf"

_WAN_BLOCKS = {
    "patch_size": (1, 2, 2),
    "num_attention_heads": 2,
    "attention_head_dim": 12,
    "out_channels": 16,
    "text_dim": 32,
    "freq_dim": 256,
    "ffn_dim": 32,
    "num_layers": 2,
    "cross_attn_norm": True,
    "qk_norm": "rms_norm_across_heads",
    "rope_max_seq_len": 32,
}


def tokenizer() -> T5Tokenizer:
    """A T5 (unigram) tokenizer over letters, built in memory."""
    pieces = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("▁", -1.0)]
    pieces += [(chr(c), -2.0) for c in range(ord("a"), ord("z") + 1)]
    pieces += [(c, -3.0) for c in "0123456789,.:/°-"]
    return T5Tokenizer(vocab=pieces)


def _text_config(vocab: int) -> dict:
    return {
        "vocab_size": vocab,
        "d_model": 32,
        "d_kv": 8,
        "d_ff": 32,
        "num_layers": 1,
        "num_heads": 4,
        "relative_attention_num_buckets": 8,
    }


def wan_shared(seed: int = 0) -> dict:
    """Text encoder, tokenizer, VAE and scheduler shared by every Wan folder, as in the real
    releases."""
    tok = tokenizer()
    torch.manual_seed(seed)
    text_encoder = UMT5EncoderModel(UMT5Config(**_text_config(len(tok)))).eval()
    vae = AutoencoderKLWan(
        base_dim=3,
        z_dim=16,
        dim_mult=[1, 1, 1, 1],
        num_res_blocks=1,
        temperal_downsample=[False, True, True],
    ).eval()
    return {
        "tokenizer": tok,
        "text_encoder": text_encoder,
        "vae": vae,
        "scheduler": FlowMatchEulerDiscreteScheduler(shift=3.0),
    }


def wan_t2v(shared: dict, seed: int = 1) -> WanPipeline:
    torch.manual_seed(seed)
    transformer = WanTransformer3DModel(in_channels=16, **_WAN_BLOCKS).eval()
    return WanPipeline(transformer=transformer, **shared)


def wan_vace(shared: dict, seed: int = 2) -> WanVACEPipeline:
    torch.manual_seed(seed)
    transformer = WanVACETransformer3DModel(
        in_channels=16, vace_layers=[0, 1], vace_in_channels=96, **_WAN_BLOCKS
    ).eval()
    return WanVACEPipeline(transformer=transformer, **shared)


def wan_i2v(shared: dict, *, first_last: bool, seed: int = 3) -> WanImageToVideoPipeline:
    """Image to video; `first_last` gives the transformer the position embedding of the
    first-and-last-frame release (two images' tokens, 2 x 17 here)."""
    torch.manual_seed(seed)
    transformer = WanTransformer3DModel(
        in_channels=36,
        image_dim=4,
        pos_embed_seq_len=34 if first_last else None,
        **_WAN_BLOCKS,
    ).eval()
    image_encoder = CLIPVisionModelWithProjection(
        CLIPVisionConfig(
            hidden_size=4,
            projection_dim=4,
            num_hidden_layers=2,
            num_attention_heads=2,
            image_size=16,
            intermediate_size=16,
            patch_size=4,
        )
    ).eval()
    return WanImageToVideoPipeline(
        transformer=transformer,
        image_encoder=image_encoder,
        image_processor=CLIPImageProcessor(crop_size=16, size=16),
        **shared,
    )


def wan22_ti2v(seed: int = 6) -> WanPipeline:
    """The Wan 2.2 TI2V layout: a 48-channel patchified VAE, per-token timesteps
    (``expand_timesteps``), one folder for text and image to video, the UniPC scheduler."""
    tok = tokenizer()
    torch.manual_seed(seed)
    vae = AutoencoderKLWan(
        base_dim=3,
        z_dim=48,
        in_channels=12,
        out_channels=12,
        is_residual=True,
        patch_size=2,
        latents_mean=[0.0] * 48,
        latents_std=[1.0] * 48,
        dim_mult=[1, 1, 1, 1],
        num_res_blocks=1,
        scale_factor_spatial=16,
        scale_factor_temporal=4,
        temperal_downsample=[False, True, True],
    ).eval()
    text_encoder = UMT5EncoderModel(UMT5Config(**_text_config(len(tok)))).eval()
    transformer = WanTransformer3DModel(
        **{**_WAN_BLOCKS, "out_channels": 48}, in_channels=48
    ).eval()
    return WanPipeline(
        transformer=transformer,
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tok,
        scheduler=UniPCMultistepScheduler(
            prediction_type="flow_prediction", use_flow_sigmas=True, flow_shift=3.0
        ),
        expand_timesteps=True,
    )


def ltx_condition(seed: int = 4) -> LTXConditionPipeline:
    tok = tokenizer()
    torch.manual_seed(seed)
    from diffusers import LTXVideoTransformer3DModel

    transformer = LTXVideoTransformer3DModel(
        in_channels=8,
        out_channels=8,
        patch_size=1,
        patch_size_t=1,
        num_attention_heads=4,
        attention_head_dim=8,
        cross_attention_dim=32,
        num_layers=1,
        caption_channels=32,
    ).eval()
    vae = AutoencoderKLLTXVideo(
        in_channels=3,
        out_channels=3,
        latent_channels=8,
        block_out_channels=(8, 8, 8, 8),
        decoder_block_out_channels=(8, 8, 8, 8),
        layers_per_block=(1, 1, 1, 1, 1),
        decoder_layers_per_block=(1, 1, 1, 1, 1),
        spatio_temporal_scaling=(True, True, False, False),
        decoder_spatio_temporal_scaling=(True, True, False, False),
        decoder_inject_noise=(False, False, False, False, False),
        upsample_residual=(False, False, False, False),
        upsample_factor=(1, 1, 1, 1),
        timestep_conditioning=False,
        patch_size=1,
        patch_size_t=1,
        encoder_causal=True,
        decoder_causal=False,
    ).eval()
    text_encoder = T5EncoderModel(T5Config(**_text_config(len(tok)))).eval()
    return LTXConditionPipeline(
        transformer=transformer,
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tok,
        scheduler=FlowMatchEulerDiscreteScheduler(),
    )


def depth_anything(seed: int = 5) -> tuple[DepthAnythingForDepthEstimation, DPTImageProcessor]:
    torch.manual_seed(seed)
    config = DepthAnythingConfig(
        backbone_config=Dinov2Config(
            hidden_size=16,
            num_hidden_layers=4,
            num_attention_heads=2,
            intermediate_size=32,
            image_size=32,
            patch_size=8,
            out_features=["stage1", "stage2", "stage3", "stage4"],
            reshape_hidden_states=False,
        ),
        reassemble_hidden_size=16,
        neck_hidden_sizes=[8, 8, 8, 8],
        fusion_hidden_size=8,
        head_hidden_size=8,
        patch_size=8,
    )
    model = DepthAnythingForDepthEstimation(config).eval()
    processor = DPTImageProcessor(
        size={"height": 32, "width": 32},
        keep_aspect_ratio=True,
        ensure_multiple_of=8,
        do_rescale=True,
        do_normalize=True,
    )
    return model, processor


def folder(backend: str, role: str) -> str:
    return BACKENDS[backend].folders[role].folder


def write_models(models_dir: Path) -> Path:
    """Every tiny model folder the tests use, under the catalog's folder names."""
    diffusers.utils.logging.disable_progress_bar()
    shared = wan_shared()
    wan_t2v(shared).save_pretrained(models_dir / folder("wan2.1-1.3b", "t2v"))
    wan_vace(shared).save_pretrained(models_dir / folder("wan2.1-1.3b", "vace"))
    wan_i2v(shared, first_last=False).save_pretrained(models_dir / folder("wan2.1-14b", "i2v"))
    wan_i2v(shared, first_last=True).save_pretrained(models_dir / folder("wan2.1-14b", "flf2v"))
    wan22_ti2v().save_pretrained(models_dir / folder("wan2.2-5b", "t2v"))
    ltx_condition().save_pretrained(models_dir / folder("ltx-video", "condition"))
    model, processor = depth_anything()
    model.save_pretrained(models_dir / DEPTH_FOLDER)
    processor.save_pretrained(models_dir / DEPTH_FOLDER)
    return models_dir


JOB_SIZES = {"wan": (32, 48), "ltx": (32, 64)}
"""(height, width) of a 16:9 job clip per family: multiples of each family's size step."""


def job_spec(name: str, *, fps: float = 8.0, frames: int = 9, scale: int = 1) -> BackendSpec:
    """Backend `name` over the tiny folders, with clips a CPU renders in about a second: its
    own folders, pipelines and modes, at 16:9 `JOB_SIZES` times `scale` and `frames` frames at
    `fps` (one second at 8 fps). Named ``tiny-<name>`` (``-<frames>f``, ``-x<scale>`` appended
    for others); the studio's job path drives it as it drives the real configuration."""
    real = BACKENDS[name]
    h, w = JOB_SIZES[real.family]
    size = (h * scale, w * scale)
    caps = dataclasses.replace(
        real.capabilities, max_frames=frames, fps=fps, default_size=size, max_size=size
    )
    suffix = ("" if frames == 9 else f"-{frames}f") + ("" if scale == 1 else f"-x{scale}")
    return dataclasses.replace(
        real, name=f"tiny-{name}{suffix}", title=f"{real.title}, tiny", capabilities=caps
    )
