"""Speed of the built-in model from request to MP4, per quality tier and per stage.

    python bench/speed.py [--weights weights/builtin] [--seconds 5] [--resolution 720] [--repeats 2]

For each tier: a 5 s 16:9 clip at 24 fps from a caption with a camera move, then delivery to
720p (re-timed at the native size, upscaled) and H.264 encoding, as the studio's worker does
it. Prints seconds per stage and the ratios between tiers and stages taken in the same run
(ratios hold across machines; seconds hold for the machine that ran it, stated in the results
with the load it was under).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from generation.engine import precision, video_io
from generation.engine.camera import CameraMove, CameraSpec
from generation.engine.delivery import delivery_size, native_frames_needed, retime_and_size
from generation.engine.modes import Quality
from generation.engine.pipeline.request import GenerationRequest
from generation.engine.pipeline.video import build_pipeline

ROOT = Path(__file__).resolve().parents[1]
PROMPT = "Slow push-in on a red sphere on a lawn at golden hour, 50mm, f/2.8"


def one_clip(pipe, quality: Quality, seconds: float, resolution: int, fps: int) -> dict:
    spec = CameraSpec(focal_mm=50.0, aperture=2.8, moves=(CameraMove("dolly", "in", speed=0.5),))
    started = time.perf_counter()
    result = pipe(
        GenerationRequest(
            prompt=PROMPT,
            quality=quality,
            camera=spec,
            num_frames=native_frames_needed(seconds, fps),
            fps=float(fps),
            seed=1,
        )
    )
    render_s = time.perf_counter() - started
    t0 = time.perf_counter()
    size = delivery_size(resolution, "16:9")
    frames = retime_and_size(result.frames, result.fps, fps, round(seconds * fps), size, whole=True)
    deliver_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        video_io.encode_mp4(frames, Path(tmp) / "clip.mp4", fps=fps)
    encode_s = time.perf_counter() - t0
    stages = result.metadata["stage_seconds"]
    return {
        "total_s": time.perf_counter() - started,
        "render_s": render_s,
        "deliver_s": deliver_s,
        "encode_s": encode_s,
        **{f"{k}": v for k, v in stages.items()},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--weights", default="weights/builtin")
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--resolution", type=int, default=720)
    ap.add_argument("--fps", type=int, default=24)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default="bench/results/speed")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    weights = ROOT / args.weights
    trained = (weights / "keyframe.safetensors").is_file()
    pipe = build_pipeline(weights if trained else None, preset="base")
    one_clip(pipe, Quality.FLASH, 1.0, args.resolution, args.fps)  # warm up: first calls allocate
    results: dict[str, dict] = {}
    for quality in Quality:
        runs = [
            one_clip(pipe, quality, args.seconds, args.resolution, args.fps)
            for _ in range(args.repeats)
        ]
        best = min(runs, key=lambda r: r["total_s"])
        results[quality.value] = best
        print(quality.value, {k: round(v, 2) for k, v in best.items()}, flush=True)
    load = os.getloadavg()[0]
    doc = {
        "weights": args.weights if trained else "untrained (same networks, random weights)",
        "clip": f"{args.seconds:g} s 16:9 at {args.fps} fps, delivered at {args.resolution}p",
        "threads": args.threads,
        "cpu_count": os.cpu_count(),
        "cpu_bf16": precision.cpu_has_bf16(),
        "load_average_1min": round(load, 2),
        "results": results,
        "ratios": {
            "standard_over_flash": results["standard"]["total_s"] / results["flash"]["total_s"],
            "pro_over_standard": results["pro"]["total_s"] / results["standard"]["total_s"],
        },
    }
    out = ROOT / args.out
    out.with_suffix(".json").write_text(json.dumps(doc, indent=2) + "\n")
    stage_keys = [
        "keyframe_s",
        "cache_s",
        "refine_s",
        "optics_s",
        "deliver_s",
        "encode_s",
        "total_s",
    ]
    lines = [
        "# Built-in model speed (bench/speed.py)",
        "",
        f"{doc['clip']}, request to MP4 (render, delivery, H.264), best of {args.repeats}, "
        f"{args.threads} threads on a {os.cpu_count()}-core CPU "
        f"({'bf16 units: bf16 autocast' if precision.cpu_has_bf16() else 'no bf16 units: fp32'}) "
        f"with a 1-minute load average of {load:.1f} at the end of the run. "
        f"Weights: {doc['weights']}.",
        "",
        "| tier | target | " + " | ".join(k.removesuffix("_s") for k in stage_keys) + " |",
        "|---|---|" + "---|" * len(stage_keys),
    ]
    targets = {"flash": "≤ 10 s", "standard": "≤ 30 s", "pro": ""}
    for tier, r in results.items():
        lines.append(
            f"| {tier} | {targets[tier]} | "
            + " | ".join(f"{r.get(k, 0):.2f}" for k in stage_keys)
            + " |"
        )
    lines += [
        "",
        f"Standard / Flash: {doc['ratios']['standard_over_flash']:.2f}x; "
        f"Pro / Standard: {doc['ratios']['pro_over_standard']:.2f}x (same run).",
    ]
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
