"""Seconds per delivered 5 s 720p clip (Flash / Standard / Pro) with the trained built-in model,
and its training and sampling throughput with a model-FLOP-utilisation estimate.

python bench/speed.py --weights weights/builtin/train [--train-log var/train/train/log.jsonl]

End to end per quality: generate at the preset's native 16:9 size and frame rate covering 5 s,
``runtime.deliver`` to 24 fps at 1280x720, then ``video_io.encode_mp4``. Throughput: timed
forward (sampling) and forward+backward (training) passes at the training batch and token
count; MFU counts the transformer's matmul FLOPs against the measured bf16 matmul peak (docs/runtime.md)
of this CPU (~795 GFLOP/s on 2 cores). Writes bench/results/speed.{md,json}.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from generation import runtime
from generation.delivery import delivery_size, native_frames_needed
from generation.engine import video_io
from generation.engine.svt_pipeline import QUALITY_MODES, GenerationRequest, Quality
from generation.engine.training.svt import build_trained_pipeline
from generation.engine.transformer import SVTCondition

PEAK_BF16_GFLOPS = 795.0  # docs/runtime.md: 1024^2 bf16 matmuls on this 2-core CPU


def svt_flops(cfg, tokens: int, text_tokens: int = 40) -> float:
    """Matmul FLOPs of one SVT forward on one sample (projections, attention, MLP)."""
    d, n, m = cfg.dim, tokens, text_tokens
    hidden = int(d * cfg.mlp_ratio)
    per_block = (
        2 * n * d * d * 4  # self-attention q, k, v, out
        + 2 * 2 * n * n * d  # scores and weighted values
        + 2 * n * d * d * 2  # cross-attention q, out
        + 2 * m * d * d * 2  # cross-attention k, v
        + 2 * 2 * n * m * d  # cross scores and values
        + 2 * 2 * n * d * hidden  # MLP
    )
    io = 2 * n * cfg.patch_volume * d * 2
    return cfg.depth * per_block + io


def _timed(fn, reps: int) -> float:
    fn()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def throughput(pipe, batch: int, reps: int) -> dict:
    cfg = pipe.transformer.cfg
    engine = pipe.preset
    lat = engine.vae.latent_shape(engine.frames, *engine.native_size("1:1"))
    x = torch.randn(batch, cfg.in_channels, *lat)
    grid = pipe.transformer.grid_for(x.shape)
    tokens = grid[0] * grid[1] * grid[2]
    cond = SVTCondition(
        text_tokens=torch.randn(batch, 40, 384),
        text_mask=torch.ones(batch, 40, dtype=torch.bool),
        text_pooled=torch.randn(batch, 384),
        camera=torch.randn(batch, 16),
        camera_path=torch.randn(batch, lat[0], 13),
    )
    model = pipe.transformer
    t = torch.rand(batch)

    def fwd() -> None:
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
            model(x, t, cond)

    def train() -> None:
        model.train()
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = model(x, t, cond).float()
        out.pow(2).mean().backward()
        model.zero_grad(set_to_none=True)
        model.eval()

    f = svt_flops(cfg, tokens) * batch
    s_fwd, s_train = _timed(fwd, reps), _timed(train, reps)
    return {
        "batch": batch,
        "tokens": tokens,
        "forward_s": s_fwd,
        "train_step_s": s_train,
        "sampling_forwards_per_s": 1 / s_fwd,
        "train_steps_per_s_model_only": 1 / s_train,
        "forward_gflops": f / s_fwd / 1e9,
        "train_gflops": 3 * f / s_train / 1e9,
        "mfu_forward": f / s_fwd / 1e9 / PEAK_BF16_GFLOPS,
        "mfu_train": 3 * f / s_train / 1e9 / PEAK_BF16_GFLOPS,
    }


def delivered_clip(pipe, quality: Quality, seconds: float = 5.0) -> dict:
    engine = pipe.preset
    frames = native_frames_needed(seconds, engine.fps)
    size = delivery_size(720, "16:9")
    t0 = time.perf_counter()
    res = pipe(
        GenerationRequest(
            prompt="Slow push-in on a red sphere on a checkered floor, 35mm, at golden hour",
            quality=quality,
            aspect="16:9",
            num_frames=frames,
            guidance_scale=3.0,
        )
    )
    t1 = time.perf_counter()
    out, _ = runtime.deliver(
        runtime.Clip(res.frames, engine.fps),
        duration_s=seconds,
        fps=24,
        resolution=720,
        aspect="16:9",
    )
    t2 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        video_io.encode_mp4(out, os.path.join(tmp, "clip.mp4"), fps=24)
    t3 = time.perf_counter()
    return {
        "quality": quality.value,
        "steps": res.metadata["steps"],
        "sampler": res.metadata["sampler"],
        "model_evaluations": res.metadata["model_evaluations"],
        "native": f"{res.frames.shape[2]}x{res.frames.shape[1]}x{res.frames.shape[0]}"
        f" @ {engine.fps:g} fps",
        "delivered": f"{size[1]}x{size[0]}x{out.shape[0]} @ 24 fps",
        "generate_s": t1 - t0,
        "deliver_s": t2 - t1,
        "encode_s": t3 - t2,
        "total_s": t3 - t0,
    }


def train_log_summary(path: Path) -> dict | None:
    if not path.is_file():
        return None
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    svt = [r for r in rows if r.get("stage") == "svt" and "loss" in r]
    vae = [r for r in rows if r.get("stage") == "vae" and "steps_per_s" in r]
    if not svt:
        return None
    return {
        "svt_steps_per_s_median": float(np.median([r["steps_per_s"] for r in svt])),
        "svt_clips_per_s_median": float(np.median([r["clips_per_s"] for r in svt])),
        "data_wait_frac_median": float(np.median([r["data_wait_frac"] for r in svt])),
        "vae_steps_per_s_median": float(np.median([r["steps_per_s"] for r in vae]))
        if vae
        else None,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--weights", default="weights/builtin/train")
    ap.add_argument("--preset", default="train")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--train-log", default="var/train/train/log.jsonl")
    ap.add_argument("--out", default="bench/results/speed")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)
    pipe = build_trained_pipeline(args.weights, args.preset)
    clips = [delivered_clip(pipe, q) for q in (Quality.FLASH, Quality.STANDARD, Quality.PRO)]
    tp = throughput(pipe, args.batch, args.reps)
    logged = train_log_summary(Path(args.train_log))
    load = os.getloadavg()
    doc = {
        "preset": args.preset,
        "threads": args.threads,
        "torch": torch.__version__,
        "load_average": load,
        "clips": clips,
        "throughput": tp,
        "training_log": logged,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(doc, indent=2) + "\n")
    lines = [
        "# Built-in model speed (bench/speed.py)",
        "",
        f"Preset `{args.preset}` (trained weights), torch {torch.__version__}, {args.threads} "
        f"threads, bf16 autocast, CFG 3 (two forwards per evaluation, one batch). Load average "
        f"during the run {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} on 2 shared cores: "
        "other sessions' tests ran at the same time, so these are upper bounds.",
        "",
        "## Seconds per 5 s clip delivered at 720p (24 fps, libx264 veryfast)",
        "",
        "| quality | solver | native | generate s | deliver s | encode s | total s | target |",
        "|---|---|---|---|---|---|---|---|",
    ]
    targets = {"flash": "≤ 20", "standard": "≤ 60", "pro": ""}
    for c in clips:
        lines.append(
            f"| {c['quality']} | {c['sampler']} x{c['steps']} ({c['model_evaluations']} evals) | "
            f"{c['native']} | {c['generate_s']:.1f} | {c['deliver_s']:.1f} | "
            f"{c['encode_s']:.1f} | **{c['total_s']:.1f}** | {targets[c['quality']]} |"
        )
    q = QUALITY_MODES
    lines += [
        "",
        f"Flash / Standard evaluations: {q[Quality.FLASH].evaluations} / "
        f"{q[Quality.STANDARD].evaluations}; measured Standard / Flash time "
        f"{clips[1]['generate_s'] / clips[0]['generate_s']:.2f}x.",
        "",
        "## Transformer throughput at the training shape",
        "",
        f"Batch {tp['batch']}, {tp['tokens']} tokens per clip (1:1 native clip), median of "
        f"{args.reps}. MFU against {PEAK_BF16_GFLOPS:g} GFLOP/s bf16 peak.",
        "",
        "| phase | s | per s | GFLOP/s | MFU |",
        "|---|---|---|---|---|",
        f"| sampling forward | {tp['forward_s']:.2f} | {tp['sampling_forwards_per_s']:.2f} "
        f"forwards | {tp['forward_gflops']:.0f} | {100 * tp['mfu_forward']:.1f} % |",
        f"| training fwd+bwd | {tp['train_step_s']:.2f} | {tp['train_steps_per_s_model_only']:.2f}"
        f" steps | {tp['train_gflops']:.0f} | {100 * tp['mfu_train']:.1f} % |",
    ]
    if logged:
        lines += [
            "",
            "Measured in the training run itself (render workers, VAE encode, text encode and "
            f"optimizer included): {logged['svt_steps_per_s_median']:.3f} steps/s, "
            f"{logged['svt_clips_per_s_median']:.2f} clips/s, data wait "
            f"{100 * logged['data_wait_frac_median']:.0f} % of the time"
            + (
                f"; VAE stage {logged['vae_steps_per_s_median']:.3f} steps/s."
                if logged["vae_steps_per_s_median"]
                else "."
            ),
        ]
    lines += [
        "",
        "SVT vs diffusers `WanTransformer3DModel` at equal width/depth/tokens: see "
        "`bench/results/engine_speed.md` (bench/engine_speed.py).",
    ]
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
