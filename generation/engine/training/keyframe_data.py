"""World keyframes for the keyframe and depth models: colour, exact depth and a caption.

    python -m generation.engine.training.keyframe_data --out var/keyframes --shards 0:120 --workers 2

Sample i of seed s is frame 0 of a random world shot (scene, lens, move, aspect) drawn from
(s, i) alone, rendered sharp at its aspect's keyframe size: no depth of field and no motion blur,
because the pipeline's optics stage adds both from the cache's own depth. Shard k holds samples
[k * SHARD, (k + 1) * SHARD), written as one `.pt` file of plain tensors and lists
(`weights_only` loadable), so several processes fill one folder without coordination.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import time
from pathlib import Path

import torch

from generation.engine.native import keyframe_size
from generation.engine.world.captions import caption_for
from generation.engine.world.renderer import RenderConfig, render_clip, subject_mask
from generation.engine.world.scene import sample_scene
from generation.engine.world.specs import random_camera_spec

SHARD = 500
TRAIN_SEED = 1
HELD_OUT_SEED = 9_001
KEYFRAME_RENDER = RenderConfig(
    depth_of_field=False, motion_blur_samples=1, shadow_samples=2, supersample=2
)


def render_keyframe(seed: int, index: int) -> dict:
    """Sample `index` of world seed `seed`: a dict of rgb (H, W, 3) uint8, depth (H, W) float32
    z-depth in metres (inf for sky), subject (H, W) float32 (how much of each pixel shows the
    caption's subject), the caption, the camera spec as a dict and scene labels."""
    g = torch.Generator().manual_seed(seed * 1_000_003 + index)
    spec = random_camera_spec(g)
    scene = sample_scene(g, focal_mm=spec.focal_mm)
    height, width = keyframe_size(spec.aspect)
    clip = render_clip(
        scene, spec, num_frames=1, fps=24.0, height=height, width=width, config=KEYFRAME_RENDER
    )
    return {
        "rgb": clip.video[0],
        "depth": clip.depth[0].float(),
        "subject": subject_mask(scene, spec, num_frames=1, fps=24.0, height=height, width=width),
        "caption": caption_for(scene, spec, g),
        "camera": spec.to_dict(),
        "labels": scene.labels(),
        "index": index,
    }


def write_shard(out_dir: Path, shard: int, seed: int = TRAIN_SEED) -> Path:
    """Render shard `shard` into `out_dir` (skipped when its file exists)."""
    path = out_dir / f"keyframes-{seed}-{shard:05d}.pt"
    if path.exists():
        return path
    out_dir.mkdir(parents=True, exist_ok=True)
    samples = [render_keyframe(seed, i) for i in range(shard * SHARD, (shard + 1) * SHARD)]
    data = {
        "rgb": [s["rgb"] for s in samples],
        "depth": [s["depth"].half() for s in samples],
        "subject": [(s["subject"] * 255).round().to(torch.uint8) for s in samples],
        "caption": [s["caption"] for s in samples],
        "camera": [json.dumps(s["camera"]) for s in samples],
        "labels": [json.dumps(s["labels"]) for s in samples],
        "index": [s["index"] for s in samples],
    }
    tmp = path.with_suffix(".tmp")
    torch.save(data, tmp)
    tmp.rename(path)  # a killed worker never leaves a half shard under the real name
    return path


def read_shard(path: Path) -> list[dict]:
    """The samples of one shard, with `camera` and `labels` decoded."""
    data = torch.load(path, weights_only=True)
    return [
        {
            "rgb": data["rgb"][j],
            "depth": data["depth"][j].float(),
            "subject": data["subject"][j].float() / 255,
            "caption": data["caption"][j],
            "camera": json.loads(data["camera"][j]),
            "labels": json.loads(data["labels"][j]),
            "index": data["index"][j],
        }
        for j in range(len(data["index"]))
    ]


def _work(args: tuple[Path, int, int]) -> str:
    torch.set_num_threads(1)
    started = time.perf_counter()
    path = write_shard(*args)
    return f"{path.name} in {time.perf_counter() - started:.0f}s"


def _parse_range(text: str) -> range:
    lo, hi = (int(x) for x in text.split(":"))
    return range(lo, hi)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--shards", type=_parse_range, required=True, help="first:last (exclusive)")
    parser.add_argument("--seed", type=int, default=TRAIN_SEED)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    jobs = [(args.out, k, args.seed) for k in args.shards]
    with mp.get_context("spawn").Pool(args.workers) as pool:
        for line in pool.imap_unordered(_work, jobs):
            print(line, flush=True)


if __name__ == "__main__":
    main()
