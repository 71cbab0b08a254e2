"""SVT vs diffusers' WanTransformer3DModel at the same width, depth and token count, on this CPU.

Prints and writes (bench/results/engine_speed.md) throughput *ratios* taken in one run,
interleaving the two models so load from other processes hits both alike: inference forward
and training forward+backward, in float32 and under bf16 autocast. Ratio > 1 means the SVT is
faster. Absolute times depend on the machine and are shown for context only.

    .venv/bin/python bench/engine_speed.py [--presets tiny small] [--reps 5] [--threads 1]

diffusers is optional (``pip install diffusers==0.42.1``); without it only the SVT is timed.
"""

from __future__ import annotations

import argparse
import contextlib
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from generation.engine.transformer import PRESETS, SVT, SVTCondition  # noqa: E402

TEXT_LEN = 16
# (latent T, H, W) per preset: 320 tokens for tiny, 512 for small with 1x2x2 patches.
LATENTS = {"tiny": (5, 16, 16), "small": (8, 16, 16), "base": (8, 16, 16)}


def _wan(cfg):
    from diffusers import WanTransformer3DModel

    return WanTransformer3DModel(
        patch_size=cfg.patch_size,
        num_attention_heads=cfg.heads,
        attention_head_dim=cfg.head_dim,
        in_channels=cfg.in_channels,
        out_channels=cfg.in_channels,
        text_dim=cfg.text_dim,
        ffn_dim=int(cfg.dim * cfg.mlp_ratio),
        num_layers=cfg.depth,
    )


def _flops(cfg, tokens: int, text: int) -> float:
    """Forward matmul FLOPs of one sample: projections, MLP, self- and cross-attention."""
    d, f = cfg.dim, int(cfg.dim * cfg.mlp_ratio)
    per_block = 2 * tokens * (4 * d * d + 2 * d * d + 2 * d * f)  # self qkvo, cross q/o, MLP
    per_block += 2 * text * 2 * d * d  # cross k/v over text tokens
    per_block += 4 * tokens * tokens * d + 4 * tokens * text * d  # attention scores and mixing
    return cfg.depth * per_block


def _timed(fn, reps: int) -> float:
    fn()  # warm-up (allocations, oneDNN kernel selection)
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def bench(preset: str, reps: int, batch: int) -> list[dict]:
    cfg = PRESETS[preset]
    gen = torch.Generator().manual_seed(0)
    lt, lh, lw = LATENTS[preset]
    x = torch.randn(batch, cfg.in_channels, lt, lh, lw, generator=gen)
    t = torch.rand(batch, generator=gen)
    text = torch.randn(batch, TEXT_LEN, cfg.text_dim, generator=gen)
    cond = SVTCondition(text, torch.ones(batch, TEXT_LEN, dtype=torch.bool), text[:, 0])
    tokens = lt * (lh // cfg.patch_size[1]) * (lw // cfg.patch_size[2])

    torch.manual_seed(0)
    ours = SVT(cfg)
    models = {"svt": (ours, lambda m: m(x, t, cond))}
    try:
        wan = _wan(cfg)
        models["wan"] = (
            wan,
            lambda m: m(x, (t * 1000).long(), text, return_dict=False)[0],
        )
    except ImportError:
        pass

    rows = []
    for amp in (False, True):
        ctx = (
            (lambda: torch.autocast("cpu", dtype=torch.bfloat16)) if amp else contextlib.nullcontext
        )
        for phase in ("forward", "train"):
            result = {"preset": preset, "amp": "bf16" if amp else "fp32", "phase": phase}
            for name, (model, call) in models.items():

                def step(model=model, call=call, phase=phase, ctx=ctx):
                    with ctx():
                        if phase == "forward":
                            with torch.inference_mode():
                                call(model)
                        else:
                            model.zero_grad(set_to_none=True)
                            call(model).float().square().mean().backward()

                result[name] = _timed(step, reps)
            flops = _flops(cfg, tokens, TEXT_LEN) * batch * (1 if phase == "forward" else 3)
            result["svt_gflops"] = flops / result["svt"] / 1e9
            result["params_svt"] = sum(p.numel() for p in ours.parameters())
            if "wan" in models:
                result["params_wan"] = sum(p.numel() for p in models["wan"][0].parameters())
                result["ratio"] = result["wan"] / result["svt"]
            result["tokens"] = tokens
            rows.append(result)
            print(_line(result), flush=True)
    return rows


def _line(r: dict) -> str:
    wan = f"wan {r['wan'] * 1e3:8.1f} ms  ratio {r['ratio']:.2f}x" if "wan" in r else "wan n/a"
    return (
        f"{r['preset']:5s} {r['amp']} {r['phase']:7s} tokens {r['tokens']:4d}  "
        f"svt {r['svt'] * 1e3:8.1f} ms ({r['svt_gflops']:.0f} GFLOP/s)  {wan}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", nargs="+", default=["tiny", "small"])
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results/engine_speed.md")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    try:
        import diffusers

        wan_version = diffusers.__version__
    except ImportError:
        wan_version = None
    rows = [r for preset in args.presets for r in bench(preset, args.reps, args.batch)]

    lines = [
        "# Engine speed: SVT vs diffusers WanTransformer3DModel",
        "",
        f"Run: `python bench/engine_speed.py --presets {' '.join(args.presets)} --reps "
        f"{args.reps} --batch {args.batch} --threads {args.threads}`; torch {torch.__version__}, "
        f"diffusers {wan_version or 'not installed'}, {platform.machine()} CPU, "
        f"{args.threads} thread(s). Both models built with the same width, depth, heads, MLP "
        "width, patch size and text width, fed the same latents (batch "
        f"{args.batch}) and {TEXT_LEN} text tokens; median of {args.reps} after a warm-up, "
        "the two models interleaved in one process. **ratio = Wan time / SVT time** "
        "(> 1: SVT faster). Times are for context only (shared 2-core machine); "
        "GFLOP/s counts the SVT's matmul FLOPs (train = 3x forward).",
        "",
        "| preset | tokens | autocast | phase | SVT ms | SVT GFLOP/s | Wan ms | ratio | "
        "params SVT / Wan |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        wan_ms = f"{r['wan'] * 1e3:.1f}" if "wan" in r else "n/a"
        ratio = f"{r['ratio']:.2f}x" if "ratio" in r else "n/a"
        params = f"{r['params_svt'] / 1e6:.2f}M / " + (
            f"{r['params_wan'] / 1e6:.2f}M" if "params_wan" in r else "n/a"
        )
        lines.append(
            f"| {r['preset']} | {r['tokens']} | {r['amp']} | {r['phase']} | "
            f"{r['svt'] * 1e3:.1f} | {r['svt_gflops']:.0f} | {wan_ms} | {ratio} | {params} |"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
