"""Rendered clips for the camera-move classifier: labelled ground truth from the world.

    python -m generation.engine.training.motion_data --out var/motion --chunks 0:60:2,1:20:2 --workers 2

Chunk c holds `CHUNK` clips of one frame size (64x64 for even c, 128x72 for odd c), every move
kind in turn (or only the `--kinds` given, to render more of the moves the classifier finds
hardest), with random scenes, lenses, apertures, shutters and aspects — the distribution the
conformance benchmark draws from, on seeds of its own (`SEED_BASE`), so the benchmark's tuning
and held-out clips are never trained on.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
from pathlib import Path

import numpy as np
import torch

from generation.engine.camera import MOVE_KINDS
from generation.engine.move_classifier import LABELS

SEED_BASE = 2_000_000
CHUNK = 100
NUM_FRAMES = 16
FPS = 24.0
SIZES = ((64, 64), (72, 128))  # (height, width)


def render_move_clip(seed: int, kind: str, height: int, width: int):
    """One clip of a `kind` move in a random scene, as both this data and the conformance
    benchmark draw them: (spec, scene, rendered clip)."""
    from generation.engine.world.renderer import render_clip
    from generation.engine.world.scene import sample_scene
    from generation.engine.world.specs import random_camera_spec

    g = torch.Generator().manual_seed(seed)
    spec = random_camera_spec(g, move=kind, compose_probability=0.0)
    scene = sample_scene(g, focal_mm=spec.focal_mm)
    clip = render_clip(scene, spec, num_frames=NUM_FRAMES, fps=FPS, height=height, width=width)
    return spec, scene, clip


def render_chunk(out: Path, chunk: int, kinds: tuple[str, ...] = MOVE_KINDS) -> Path:
    path = out / f"chunk-{chunk:04d}.npz"
    if path.exists():
        return path
    torch.set_num_threads(1)
    h, w = SIZES[chunk % 2]
    videos, labels = [], []
    for i in range(chunk * CHUNK, (chunk + 1) * CHUNK):
        spec, _, clip = render_move_clip(SEED_BASE + i, kinds[i % len(kinds)], h, w)
        move = spec.primary_move
        videos.append(clip.video.numpy())
        labels.append(LABELS.index((move.kind, move.direction)))
    tmp = path.with_suffix(".tmp.npz")
    np.savez_compressed(tmp, video=np.stack(videos), label=np.array(labels))
    tmp.rename(path)
    return path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("var/motion"))
    parser.add_argument(
        "--chunks", default="0:20", help="comma-separated first:last[:step] chunk ranges"
    )
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--kinds", default=",".join(MOVE_KINDS), help="comma-separated move kinds, in turn"
    )
    args = parser.parse_args(argv)
    kinds = tuple(args.kinds.split(","))
    if unknown := set(kinds) - set(MOVE_KINDS):
        parser.error(f"unknown move kinds {sorted(unknown)}; choose from {', '.join(MOVE_KINDS)}")
    args.out.mkdir(parents=True, exist_ok=True)
    chunks = [c for part in args.chunks.split(",") for c in range(*map(int, part.split(":")))]
    with mp.get_context("spawn").Pool(args.workers) as pool:
        for path in pool.imap_unordered(_render_one, [(args.out, c, kinds) for c in chunks]):
            print(path, flush=True)


def _render_one(job: tuple[Path, int, tuple[str, ...]]) -> Path:
    return render_chunk(*job)


if __name__ == "__main__":
    main()
