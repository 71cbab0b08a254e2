"""Render throughput of the synthetic world on this CPU (one thread, as a data worker runs).

    .venv/bin/python bench/world_throughput.py    # prints a table, writes bench/results/world_throughput.*

Frames per second at 64x64 and 256x144, with and without depth of field and motion blur, the
time of one 16-frame 64x64 clip with every effect, and dataset samples per second.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

from generation.engine.camera import CameraMove, CameraSpec
from generation.engine.world.dataset import WorldDatasetConfig, render_sample
from generation.engine.world.renderer import RenderConfig, render_clip
from generation.engine.world.scene import sample_scene
from generation.engine.world.shards import ShardDataset, write_shards

RESULTS = Path(__file__).parent / "results"
# Soft shadows average 2 light directions per frame without motion blur; with 3 blur sub-frames
# each sub-frame casts 1 ray to its own point of the light's disk (3 directions per frame).
CONFIGS = {
    "plain": RenderConfig(depth_of_field=False, motion_blur_samples=1, shadow_samples=2),
    "dof": RenderConfig(depth_of_field=True, motion_blur_samples=1, shadow_samples=2),
    "motion blur x3": RenderConfig(depth_of_field=False, motion_blur_samples=3, shadow_samples=1),
    "all effects": RenderConfig(depth_of_field=True, motion_blur_samples=3, shadow_samples=1),
}


def _time(fn, repeats: int) -> float:
    fn()  # warm-up
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    torch.set_num_threads(1)
    torch.set_flush_denormal(True)
    spec = CameraSpec(focal_mm=50, aperture=2.0, moves=(CameraMove("dolly", "in"),))
    scenes = [
        sample_scene(torch.Generator().manual_seed(s), subject_kind="character") for s in (1, 2)
    ]
    rows = []
    for size in ((64, 64), (144, 256)):
        frames = 16 if size[0] == 64 else 8
        for name, cfg in CONFIGS.items():
            secs = [
                _time(
                    lambda sc=sc, cfg=cfg, frames=frames, size=size: render_clip(
                        sc,
                        spec,
                        num_frames=frames,
                        fps=24,
                        height=size[0],
                        width=size[1],
                        config=cfg,
                    ),
                    2,
                )
                for sc in scenes
            ]
            fps = frames / (sum(secs) / len(secs))
            rows.append(
                {"size": f"{size[1]}x{size[0]}", "effects": name, "frames_per_s": round(fps, 1)}
            )
            print(f"{size[1]}x{size[0]:<4} {name:15s} {fps:7.1f} frames/s")
    clip_s = _time(
        lambda: render_clip(
            scenes[0],
            spec,
            num_frames=16,
            fps=24,
            height=64,
            width=64,
            config=CONFIGS["all effects"],
        ),
        3,
    )
    print(f"one 16-frame 64x64 clip, all effects: {clip_s:.3f} s")
    cfg = WorldDatasetConfig(seed=0, num_frames=16, long_side=64)
    t0 = time.perf_counter()
    n = 12
    for i in range(n):
        render_sample(cfg, i)
    per_sample = (time.perf_counter() - t0) / n
    print(
        f"dataset (random scenes, 16 frames, long side 64, all effects): {1 / per_sample:.2f} samples/s/core"
    )
    with tempfile.TemporaryDirectory() as tmp:
        write_shards(cfg, Path(tmp), count=n, shard_size=n)
        t0 = time.perf_counter()
        reads = 0
        for _ in range(20):
            reads += sum(1 for _ in ShardDataset(Path(tmp)))
        shard_rate = reads / (time.perf_counter() - t0)
    print(f"cached shards: {shard_rate:.0f} samples/s read")
    load = os.getloadavg()[0]
    result = {
        "machine": f"{platform.processor() or platform.machine()}, torch {torch.__version__}, 1 thread",
        "load_average_1min_at_end": round(load, 2),
        "rows": rows,
        "clip_16x64x64_all_effects_s": round(clip_s, 3),
        "dataset_samples_per_s_per_core": round(1 / per_sample, 2),
        "shard_read_samples_per_s": round(shard_rate, 1),
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "world_throughput.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = [
        "# World render throughput",
        "",
        f"{result['machine']}. Best of 2 runs, two character scenes, dolly-in at 50 mm f/2. "
        f"The 2-core machine was shared (1-minute load average {load:.1f} at the end), so "
        "absolute numbers vary run to run.",
        "",
        "| size | effects | frames/s |",
        "|---|---|---|",
        *[f"| {r['size']} | {r['effects']} | {r['frames_per_s']} |" for r in rows],
        "",
        f"- One 16-frame 64x64 clip with depth of field, 3-sample motion blur and soft shadows: "
        f"**{clip_s:.3f} s**.",
        f"- Dataset (random scenes and cameras, 16 frames, long side 64, all effects): "
        f"**{1 / per_sample:.2f} samples/s per core**.",
        f"- Cached shards (`world/shards.py`, rendered once): **{shard_rate:.0f} samples/s** read "
        "on one core, which is what keeps a training loop fed on 2 cores.",
        "",
    ]
    (RESULTS / "world_throughput.md").write_text("\n".join(lines))


if __name__ == "__main__":
    main()
