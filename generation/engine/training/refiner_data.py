"""World shots for the refiner: the cache render of a shot's true keyframe, and the true frames.

    python -m generation.engine.training.refiner_data --out var/refiner --shards 0:40 --workers 2

Sample i of seed s draws a world shot (scene, lens, move, aspect) and a length of 1–5 s at
24 fps from (s, i) alone; renders its frame 0 at the keyframe size with exact depth (sharp, as
the keyframe stage makes them) and `FRAMES` frames of the shot at the render size: frame 0 and
random later ones. The world is held still at t = 0, because the cache holds no motion of its
own: the refiner learns to paint holes and sharpen, not to guess where an object went. Half the
keyframes are degraded as a generated keyframe is (blur, depth off by a smooth 0–15 %), then
lifted and rendered along the shot to give the refiner's input. Shard k holds `SHARD` samples.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from generation.engine.cache import render_along
from generation.engine.native import keyframe_size, render_size
from generation.engine.optics import gaussian_blur
from generation.engine.training.keyframe_data import KEYFRAME_RENDER
from generation.engine.world.captions import caption_for
from generation.engine.world.renderer import RenderConfig, render_clip
from generation.engine.world.scene import sample_scene
from generation.engine.world.specs import random_camera_spec

SHARD = 200
FRAMES = 4
FPS = 24.0
TRAIN_SEED = 11
HELD_OUT_SEED = 9_011
TARGET_RENDER = RenderConfig(
    depth_of_field=False, motion_blur_samples=1, shadow_samples=2, supersample=2
)


def degrade_keyframe(
    rgb: torch.Tensor, depth: torch.Tensor, g: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Blur (sigma 0–1 px) and a smooth multiplicative depth error (up to ±15 %)."""
    x = rgb.permute(2, 0, 1)[None].float()
    x = gaussian_blur(x, float(torch.rand((), generator=g)))
    rgb = x[0].permute(1, 2, 0).round().clamp(0, 255).to(torch.uint8)
    h, w = depth.shape
    field = torch.randn(1, 1, 4, 4, generator=g) * 0.15 * float(torch.rand((), generator=g))
    field = F.interpolate(field, size=(h, w), mode="bicubic", align_corners=False)[0, 0]
    return rgb, depth * (1 + field.clamp(-0.3, 0.3))


def render_refiner_sample(seed: int, index: int) -> dict:
    g = torch.Generator().manual_seed(seed * 1_000_003 + index)
    spec = random_camera_spec(g)
    scene = sample_scene(g, focal_mm=spec.focal_mm)
    num_frames = int(FPS * (1 + 4 * float(torch.rand((), generator=g))))
    later = torch.randperm(num_frames - 1, generator=g)[: FRAMES - 1] + 1
    frames = [0, *sorted(later.tolist())]
    kh, kw = keyframe_size(spec.aspect)
    rh, rw = render_size(spec.aspect)
    key = render_clip(
        scene,
        spec,
        num_frames=num_frames,
        fps=FPS,
        height=kh,
        width=kw,
        config=KEYFRAME_RENDER,
        frames=[0],
        scene_time=0.0,
    )
    target = render_clip(
        scene,
        spec,
        num_frames=num_frames,
        fps=FPS,
        height=rh,
        width=rw,
        config=TARGET_RENDER,
        frames=frames,
        scene_time=0.0,
    )
    rgb, depth = key.video[0], key.depth[0]
    degraded = bool(torch.rand((), generator=g) < 0.5)
    if degraded:
        rgb, depth = degrade_keyframe(rgb, depth, g)
    shot = render_along(
        spec,
        rgb,
        depth,
        num_frames=num_frames,
        fps=FPS,
        size=(rh, rw),
        base=scene.camera,
        frames=frames,
    )
    return {
        "cache": shot.render.frames_u8(),  # (F, H, W, 3)
        "mask": shot.render.mask,  # (F, H, W)
        "cache_depth": shot.render.depth.half(),  # (F, H, W)
        "target": target.video,  # (F, H, W, 3)
        "caption": caption_for(scene, spec, g),
        "aspect": spec.aspect,
        "degraded": degraded,
    }


def write_shard(out_dir: Path, shard: int, seed: int = TRAIN_SEED) -> Path:
    path = out_dir / f"refiner-{seed}-{shard:05d}.pt"
    if path.exists():
        return path
    out_dir.mkdir(parents=True, exist_ok=True)
    samples = [render_refiner_sample(seed, i) for i in range(shard * SHARD, (shard + 1) * SHARD)]
    data = {key: [s[key] for s in samples] for key in samples[0]}
    tmp = path.with_suffix(".tmp")
    torch.save(data, tmp)
    tmp.rename(path)
    return path


def read_shard(path: Path) -> dict:
    return torch.load(path, weights_only=True)


def _work(args: tuple[Path, int, int]) -> str:
    torch.set_num_threads(1)
    torch.set_flush_denormal(True)
    started = time.perf_counter()
    path = write_shard(*args)
    return f"{path.name} in {time.perf_counter() - started:.0f}s"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--shards", required=True, help="first:last (exclusive)")
    parser.add_argument("--seed", type=int, default=TRAIN_SEED)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    lo, hi = (int(x) for x in args.shards.split(":"))
    jobs = [(args.out, k, args.seed) for k in range(lo, hi)]
    with mp.get_context("spawn").Pool(args.workers) as pool:
        for line in pool.imap_unordered(_work, jobs):
            print(line, flush=True)


if __name__ == "__main__":
    main()
