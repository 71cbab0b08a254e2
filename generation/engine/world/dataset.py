"""A training dataset rendered on the fly: deterministic per (seed, index), sharded over workers.

Each sample is a dict with video (T, H, W, 3) uint8, caption, camera spec (as a dict and object),
scene labels, per-frame poses and the character identity (None when the subject is no figure).
Two single-thread DataLoader workers keep a 2-core machine busy (measured in bench/).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch.utils.data import IterableDataset, get_worker_info

from generation.engine.camera import ASPECT_RATIOS
from generation.engine.world.captions import caption_for
from generation.engine.world.renderer import RenderConfig, render_clip
from generation.engine.world.scene import sample_scene
from generation.engine.world.specs import random_camera_spec


def frame_size(aspect: str, long_side: int, multiple: int = 8) -> tuple[int, int]:
    """(height, width) of an `aspect` frame with the given long side, rounded to `multiple`."""
    ratio = ASPECT_RATIOS[aspect]
    if ratio >= 1:
        w, h = long_side, long_side / ratio
    else:
        h, w = long_side, long_side * ratio
    return max(multiple, round(h / multiple) * multiple), max(
        multiple, round(w / multiple) * multiple
    )


@dataclass(frozen=True)
class WorldDatasetConfig:
    """Args:
    seed: base seed; sample i is drawn from (seed, i) only.
    num_frames, fps: clip length. long_side: pixels of the frame's long side.
    size: fixed (height, width) for every aspect instead (the FOV still follows W / H).
    aspect: fix the aspect ratio (None = random per sample).
    length: samples per epoch (None = endless).
    """

    seed: int = 0
    num_frames: int = 16
    fps: float = 24.0
    long_side: int = 64
    size: tuple[int, int] | None = None
    aspect: str | None = None
    move: str | None = None
    length: int | None = None
    render: RenderConfig = RenderConfig()  # noqa: RUF009 - frozen, a shared default is safe


def render_sample(config: WorldDatasetConfig, index: int) -> dict:
    """Sample `index` of the dataset (pure function of config and index)."""
    g = torch.Generator().manual_seed(config.seed * 1_000_003 + index)
    spec = random_camera_spec(g, move=config.move, aspect=config.aspect)
    scene = sample_scene(g, focal_mm=spec.focal_mm)
    height, width = config.size or frame_size(spec.aspect, config.long_side)
    clip = render_clip(
        scene,
        spec,
        num_frames=config.num_frames,
        fps=config.fps,
        height=height,
        width=width,
        config=config.render,
    )
    character = scene.characters[0].identity.to_dict() if scene.characters else None
    return {
        "video": clip.video,
        "caption": caption_for(scene, spec, g),
        "camera": spec.to_dict(),
        "spec": spec,
        "labels": scene.labels(),
        "poses": clip.poses,
        "character": character,
        "index": index,
    }


class WorldDataset(IterableDataset):
    """Iterable over rendered samples; each DataLoader worker renders every n-th index."""

    def __init__(self, config: WorldDatasetConfig = WorldDatasetConfig()) -> None:  # noqa: B008
        self.config = config

    def __iter__(self) -> Iterator[dict]:
        info = get_worker_info()
        start, step = (0, 1) if info is None else (info.id, info.num_workers)
        index = start
        while self.config.length is None or index < self.config.length:
            yield render_sample(self.config, index)
            index += step
