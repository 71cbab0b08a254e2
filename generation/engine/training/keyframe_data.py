"""World keyframes for the keyframe and depth models: colour, exact depth and a caption.

    python -m generation.engine.training.keyframe_data --out var/keyframes --shards 0:120 --workers 2

Sample i of seed s is frame 0 of a random world shot (scene, lens, move, aspect) drawn from
(s, i) alone, rendered sharp at its aspect's keyframe size: no depth of field and no motion blur,
because the pipeline's optics stage adds both from the cache's own depth. Shard k holds samples
[k * SHARD, (k + 1) * SHARD), written as one `.pt` file of plain tensors and lists
(`weights_only` loadable), so several processes fill one folder without coordination.

`--view closeup` renders the same scenes through a longer lens (the shortest one at least
`CLOSEUP_ZOOM` times the shot's own, from the lenses its move leaves room for): the camera
looks at the subject, so this is a centre crop at full resolution with a true focal length and
caption, showing the subject's shape at several times the pixels. Its shards are named
`keyframes-S-closeup-K.pt` and train alongside the wide ones.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import time
from dataclasses import replace
from pathlib import Path

import torch

from generation.engine.native import keyframe_size
from generation.engine.world.captions import caption_for
from generation.engine.world.renderer import RenderConfig, render_clip, subject_mask
from generation.engine.world.scene import sample_scene
from generation.engine.world.specs import focals_with_room, random_camera_spec

SHARD = 500
TRAIN_SEED = 1
HELD_OUT_SEED = 9_001
VIEWS = ("wide", "closeup")
CLOSEUP_ZOOM = 2.5
KEYFRAME_RENDER = RenderConfig(
    depth_of_field=False, motion_blur_samples=1, shadow_samples=2, supersample=2
)


def closeup_focal(focal_mm: float, lenses: tuple[float, ...]) -> float:
    """The shortest of `lenses` at least `CLOSEUP_ZOOM` times `focal_mm`, else the longest."""
    longer = [f for f in lenses if f >= CLOSEUP_ZOOM * focal_mm]
    return min(longer) if longer else max(lenses)


def render_keyframe(seed: int, index: int, view: str = "wide") -> dict:
    """Sample `index` of world seed `seed`: a dict of rgb (H, W, 3) uint8, depth (H, W) float32
    z-depth in metres (inf for sky), subject (H, W) float32 (how much of each pixel shows the
    caption's subject), the caption, the camera spec as a dict and scene labels. The "closeup"
    view is the same scene and pose through a longer lens."""
    g = torch.Generator().manual_seed(seed * 1_000_003 + index)
    spec = random_camera_spec(g)
    scene = sample_scene(g, focal_mm=spec.focal_mm)
    if view == "closeup":
        spec = replace(spec, focal_mm=closeup_focal(spec.focal_mm, focals_with_room(spec.moves)))
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


def write_shard(out_dir: Path, shard: int, seed: int = TRAIN_SEED, view: str = "wide") -> Path:
    """Render shard `shard` of `view` into `out_dir` (skipped when its file exists)."""
    name = f"{seed}-{shard:05d}" if view == "wide" else f"{seed}-{view}-{shard:05d}"
    path = out_dir / f"keyframes-{name}.pt"
    if path.exists():
        return path
    out_dir.mkdir(parents=True, exist_ok=True)
    samples = [render_keyframe(seed, i, view) for i in range(shard * SHARD, (shard + 1) * SHARD)]
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


def _work(args: tuple[Path, int, int, str]) -> str:
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
    parser.add_argument("--view", choices=VIEWS, default="wide")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    jobs = [(args.out, k, args.seed, args.view) for k in args.shards]
    with mp.get_context("spawn").Pool(args.workers) as pool:
        for line in pool.imap_unordered(_work, jobs):
            print(line, flush=True)


if __name__ == "__main__":
    main()
